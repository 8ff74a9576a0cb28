// All-reduce bandwidth of tleg's MPI backend (Communicator::all_reduce, float32 CPU tensors,
// Sum) next to a plain in-place MPI_Allreduce on a raw buffer, size by size, in one program
// under mpirun. bench/run_allreduce.sh turns the times into nccl-tests' algbw and busbw and the
// backend's overhead.
//
// Benchmarks are named allreduce/<mpi|tleg>/bytes:<n>; for each size the plain MPI loop runs
// first, then tleg's, so drift of this noisy VM hits both alike. Own flags (after Google
// Benchmark's): --min_bytes=N (default 1 KiB), --max_bytes=N (default 256 MiB), --factor=N
// (default 4: 1 KiB, 4 KiB, ..., 256 MiB), --bytes_per_case=N (default 1 GiB: the iterations of
// a size are this over the size, within [10, 20000]).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_flags.h"
#include "bench/mpi_bench.h"
#include "dist/communicator.h"
#include "dist/world.h"

namespace {

using tleg::bench::parse_flag;

constexpr int kWarmupCalls = 3;  // the first calls fault the buffers' pages in

struct Options {
  std::int64_t min_bytes = 1024;
  std::int64_t max_bytes = std::int64_t{256} << 20;
  std::int64_t factor = 4;
  std::int64_t bytes_per_case = std::int64_t{1} << 30;
};

void set_counters(benchmark::State& state, std::int64_t bytes, int ranks) {
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["ranks"] = ranks;
}

void bench_plain_mpi(benchmark::State& state, std::int64_t bytes) {
  const auto count = static_cast<int>(bytes / static_cast<std::int64_t>(sizeof(float)));
  std::vector<float> buffer(static_cast<std::size_t>(count), 0.0f);
  auto all_reduce = [&] {
    MPI_Allreduce(MPI_IN_PLACE, buffer.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  };
  for (int i = 0; i < kWarmupCalls; ++i) all_reduce();
  MPI_Barrier(MPI_COMM_WORLD);  // the timed loop starts together on every rank
  for (auto _ : state) all_reduce();
  int ranks = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  set_counters(state, bytes, ranks);
}

void bench_tleg(benchmark::State& state, tleg::dist::Communicator& comm, std::int64_t bytes) {
  at::Tensor buffer = at::zeros({bytes / static_cast<std::int64_t>(sizeof(float))}, at::kFloat);
  for (int i = 0; i < kWarmupCalls; ++i) comm.all_reduce(buffer, tleg::dist::ReduceOp::Sum);
  comm.barrier();
  for (auto _ : state) comm.all_reduce(buffer, tleg::dist::ReduceOp::Sum);
  set_counters(state, bytes, comm.size());
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!parse_flag(arg, "min_bytes", options.min_bytes) &&
        !parse_flag(arg, "max_bytes", options.max_bytes) &&
        !parse_flag(arg, "factor", options.factor) &&
        !parse_flag(arg, "bytes_per_case", options.bytes_per_case)) {
      std::cerr << "allreduce_bench: unknown argument " << arg << "\n";
      std::exit(2);
    }
  }
  if (options.min_bytes < 4 || options.max_bytes < options.min_bytes || options.factor < 2 ||
      options.bytes_per_case < 1) {
    std::cerr << "allreduce_bench: need 4 <= --min_bytes <= --max_bytes, --factor >= 2 and "
                 "--bytes_per_case >= 1\n";
    std::exit(2);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  tleg::dist::World world(&argc, &argv);
  tleg::bench::initialize_benchmark(world.rank(), &argc, argv);
  const Options options = parse_options(argc, argv);
  auto comm = tleg::dist::make_communicator(world, c10::kCPU);

  for (std::int64_t bytes = options.min_bytes; bytes <= options.max_bytes;
       bytes *= options.factor) {
    // Enough calls that a case takes a quarter of a second or more at this VM's ~4 GB/s, and
    // at least 10 so that one slow call (a page fault storm, a neighbour's burst) does not
    // decide the mean.
    const auto iterations = std::clamp<std::int64_t>(options.bytes_per_case / bytes, 10, 20000);
    const std::string size = "/bytes:" + std::to_string(bytes);
    benchmark::RegisterBenchmark(
        ("allreduce/mpi" + size).c_str(),
        [bytes](benchmark::State& state) { bench_plain_mpi(state, bytes); })
        ->Iterations(iterations)
        ->UseRealTime()  // a collective's time is wall time: waiting for the peer costs no CPU
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(
        ("allreduce/tleg" + size).c_str(),
        [bytes, &comm](benchmark::State& state) { bench_tleg(state, *comm, bytes); })
        ->Iterations(iterations)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  tleg::bench::run_benchmarks(world.rank());
  return 0;
}

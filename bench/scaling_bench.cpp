// Data-parallel scaling of the AuxViT training step on random data, under mpirun: Trainer::step,
// the step train_model runs (forward, cross-entropy on one-hot targets, backward with the
// GradientReducer all-reduce, AdamW, the loss all-reduce). bench/run_scaling.sh runs it
// on 1 and on 2 ranks of one thread each, with the same batch per rank, and prints the speed-up
// in images/s. Each rank also measures the share of its step spent inside
// GradientReducer::finish(), i.e. waiting for the gradients' all-reduce, with the buckets
// launched during backward (overlap:1, as training runs) and all launched by finish()
// (overlap:0).
//
// Benchmarks are named scaling/aux/overlap:<0|1>; items/s are images/s of all ranks together.
// Own flags (after Google Benchmark's): --steps=N timed steps (default 8), --warmup=N (default
// 2), --batch=N per rank (default 64), --dim=N (192), --heads=N (3), --patch=N (7), --depth=N
// (12), --bucket_bytes=N (the reducer's default, 25 MiB).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "bench/bench_flags.h"
#include "bench/mpi_bench.h"
#include "common/timing.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "dist/world.h"
#include "model/vit.h"
#include "train/trainer.h"

namespace {

using tleg::Clock;
using tleg::seconds_since;
using tleg::bench::parse_flag;

struct Options {
  std::int64_t steps = 8;
  std::int64_t warmup = 2;
  std::int64_t batch = 64;
  // Fashion-MNIST shaped: 28x28 grey images, 10 classes; patch 7 gives 16 tokens, dim 192 and
  // depth 12 the DeiT-Ti blocks.
  tleg::VitConfig vit{.image_size = 28,
                      .patch_size = 7,
                      .channels = 1,
                      .classes = 10,
                      .dim = 192,
                      .heads = 3,
                      .depth = 12};
  std::int64_t bucket_bytes = tleg::dist::GradientReducerOptions{}.bucket_bytes;
};

void bench_step(benchmark::State& state, const tleg::dist::World& world,
                tleg::dist::Communicator& comm, const Options& options, bool overlap) {
  tleg::AuxViT model(options.vit);
  tleg::initialise(model, 0);
  // Plain cross-entropy: no Mixup, CutMix or label smoothing, no distillation.
  tleg::TrainSettings settings;
  settings.batch = options.batch;
  settings.mixup = {.mixup_alpha = 0, .cutmix_alpha = 0, .label_smoothing = 0};
  const std::int64_t steps = options.warmup + options.steps;
  tleg::Trainer trainer(model, {comm, c10::kCPU, world}, settings, steps, nullptr,
                        {.bucket_bytes = options.bucket_bytes, .overlap = overlap});
  // Each rank its own images, as data parallelism gives it.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1000 + comm.rank());
  const auto& vit = options.vit;
  tleg::Batch batch;
  batch.images = at::randn({options.batch, vit.channels, vit.image_size, vit.image_size}, generator,
                           at::TensorOptions(at::kFloat));
  batch.labels = at::randint(0, vit.classes, {options.batch}, generator, at::kLong);

  double reduce_seconds = 0;
  std::int64_t next_step = 0;
  auto step = [&] { reduce_seconds += trainer.step(batch, next_step++).reduce_seconds; };
  // Warm-up: the first steps allocate the optimizer state and grow the heap.
  for (std::int64_t i = 0; i < options.warmup; ++i) step();
  comm.barrier();
  reduce_seconds = 0;
  const Clock::time_point start = Clock::now();
  for (auto _ : state) step();
  const double loop_seconds = seconds_since(start);

  // The wait share of every rank, averaged: a rank that computes faster waits longer.
  at::Tensor wait_fraction = at::tensor({reduce_seconds / loop_seconds}, at::kDouble);
  comm.all_reduce(wait_fraction, tleg::dist::ReduceOp::Average);
  state.SetItemsProcessed(state.iterations() * options.batch * comm.size());
  state.counters["ranks"] = comm.size();
  state.counters["batch_per_rank"] = static_cast<double>(options.batch);
  state.counters["comm_wait_fraction"] = wait_fraction.item<double>();
  state.counters["bytes_reduced"] = static_cast<double>(trainer.bytes_reduced_last_step());
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!parse_flag(arg, "steps", options.steps) && !parse_flag(arg, "warmup", options.warmup) &&
        !parse_flag(arg, "batch", options.batch) && !parse_flag(arg, "dim", options.vit.dim) &&
        !parse_flag(arg, "heads", options.vit.heads) &&
        !parse_flag(arg, "patch", options.vit.patch_size) &&
        !parse_flag(arg, "depth", options.vit.depth) &&
        !parse_flag(arg, "bucket_bytes", options.bucket_bytes)) {
      std::cerr << "scaling_bench: unknown argument " << arg << "\n";
      std::exit(2);
    }
  }
  if (options.steps < 1 || options.warmup < 0 || options.batch < 1) {
    std::cerr << "scaling_bench: --steps and --batch must be >= 1, --warmup >= 0\n";
    std::exit(2);
  }
  options.vit.validate();
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  tleg::dist::World world(&argc, &argv);
  tleg::bench::initialize_benchmark(world.rank(), &argc, argv);
  const Options options = parse_options(argc, argv);
  // As the launcher does: without a top pad glibc trims and re-faults the heap every step
  // (launcher/main.cpp).
  mallopt(M_TOP_PAD, 1 << 30);
  // One compute thread per rank: the comparison is 2 ranks x 1 thread against 1 x 1.
  at::set_num_threads(1);
  auto comm = tleg::dist::make_communicator(world, c10::kCPU);

  for (const bool overlap : {true, false}) {
    const std::string name = std::string("scaling/aux/overlap:") + (overlap ? "1" : "0");
    benchmark::RegisterBenchmark(name.c_str(),
                                 [&world, &comm, &options, overlap](benchmark::State& state) {
                                   bench_step(state, world, *comm, options, overlap);
                                 })
        ->Iterations(options.steps)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  tleg::bench::run_benchmarks(world.rank());
  return 0;
}

// What the multi-rank benchmarks (run under mpirun) share: every rank runs every benchmark,
// because each iteration holds collectives that all ranks must enter, and only rank 0 reports.
#pragma once

#include <benchmark/benchmark.h>

#include <string_view>
#include <vector>

namespace tleg::bench {

// Discards what it is given: the display reporter of ranks other than 0.
class SilentReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context& /*context*/) override { return true; }
  void ReportRuns(const std::vector<Run>& /*report*/) override {}
};

// benchmark::Initialize for this rank: ranks other than 0 drop --benchmark_out*, so that only
// rank 0 writes the result file (every rank is started with the same arguments).
inline void initialize_benchmark(int rank, int* argc, char** argv) {
  if (rank != 0) {
    int kept = 1;
    for (int i = 1; i < *argc; ++i)
      if (!std::string_view(argv[i]).starts_with("--benchmark_out")) argv[kept++] = argv[i];
    *argc = kept;
  }
  benchmark::Initialize(argc, argv);
}

// Runs the registered benchmarks on every rank. Each benchmark must fix its iteration count:
// Google Benchmark would otherwise pick it from each rank's own timing, the counts would differ,
// and a rank would wait forever in a collective the others never enter.
inline void run_benchmarks(int rank) {
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
}

}  // namespace tleg::bench

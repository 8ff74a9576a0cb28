// One training step (forward, cross-entropy, backward, AdamW step) of tleg::ViT and tleg::AuxViT
// of the same depth, on random images and labels. items/s are images/s. bench/step_bench.py
// times the same step in eager PyTorch (timm's VisionTransformer and a Python auxiliary net);
// bench/run_step.sh runs both and prints the ratio.
//
// Benchmarks are named step/<config>/<model>/threads:<n>, e.g. step/64px/aux/threads:2.
// Own flags (after Google Benchmark's): --steps=N timed steps (default 5), --warmup=N untimed
// steps first (default 2), --top_pad=BYTES for mallopt(M_TOP_PAD) (default 1 GiB; 0 keeps
// glibc's default, to measure what the pad is worth), --device=cuda (bf16 autocast, as
// training runs there; default cpu), --batch=N (overrides the configurations' batch sizes).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "bench/bench_flags.h"
#include "model/vit.h"
#include "train/autocast_scope.h"

namespace {

using tleg::bench::parse_flag;

struct BenchConfig {
  std::string name;
  tleg::VitConfig vit;
  std::int64_t batch;
};

// The two configurations of issue "Speed": DeiT-Ti blocks on 64x64 RGB images with 100
// classes, and on 28x28 grey images with 10 classes (Fashion-MNIST shaped).
BenchConfig config_64px() {
  return {"64px",
          {.image_size = 64,
           .patch_size = 8,
           .channels = 3,
           .classes = 100,
           .dim = 192,
           .heads = 3,
           .depth = 12},
          64};
}
BenchConfig config_28px() {
  return {"28px",
          {.image_size = 28,
           .patch_size = 4,
           .channels = 1,
           .classes = 10,
           .dim = 192,
           .heads = 3,
           .depth = 12},
          128};
}

struct Options {
  std::int64_t steps = 5;
  std::int64_t warmup = 2;
  std::int64_t top_pad = std::int64_t{1} << 30;
  c10::Device device = c10::kCPU;
  std::int64_t batch = 0;  // 0: the configuration's own
};

void training_step(tleg::VitBase& model, torch::optim::AdamW& optimizer, const at::Tensor& images,
                   const at::Tensor& labels, c10::Device device) {
  optimizer.zero_grad();  // sets the gradients to none, as Python's zero_grad() does
  at::Tensor loss;
  {
    tleg::AutocastScope autocast(device);
    loss = at::cross_entropy_loss(model.forward(images).to(at::kFloat), labels);
  }
  loss.backward();
  optimizer.step();
  // A step is timed to its end on the GPU too (kernels run asynchronously).
  if (device.is_cuda()) torch::cuda::synchronize();
}

template <class Model>
void bench_step(benchmark::State& state, const BenchConfig& config, int threads,
                std::int64_t warmup, c10::Device device) {
  // LibTorch's default is 1 thread on this VM (cpuinfo sees one core per socket), so the
  // count is always set, and set here because benchmarks of different counts share a process.
  at::set_num_threads(threads);
  auto model = std::make_shared<Model>(config.vit);
  tleg::initialise(*model, 0);
  model->to(device);
  model->train();
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(5e-4).weight_decay(0.05));
  at::manual_seed(0);
  const auto& vit = config.vit;
  const at::Tensor images =
      at::randn({config.batch, vit.channels, vit.image_size, vit.image_size}).to(device);
  const at::Tensor labels = at::randint(vit.classes, {config.batch}, at::kLong).to(device);
  // Warm-up: the first steps allocate the optimizer state and grow the heap.
  for (std::int64_t i = 0; i < warmup; ++i)
    training_step(*model, optimizer, images, labels, device);

  for (auto _ : state) training_step(*model, optimizer, images, labels, device);
  state.SetItemsProcessed(state.iterations() * config.batch);
  state.counters["threads"] = threads;
  state.counters["batch"] = static_cast<double>(config.batch);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::int64_t value = 0;
    const std::string_view arg = argv[i];
    if (parse_flag(arg, "steps", value)) {
      options.steps = value;
    } else if (parse_flag(arg, "warmup", value)) {
      options.warmup = value;
    } else if (parse_flag(arg, "top_pad", value)) {
      options.top_pad = value;
    } else if (parse_flag(arg, "batch", value)) {
      options.batch = value;
    } else if (arg == "--device=cuda" || arg == "--device=cpu") {
      options.device = arg == "--device=cuda" ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
      if (options.device.is_cuda() && !torch::cuda::is_available()) {
        std::cerr << "step_bench: --device=cuda but no GPU is visible\n";
        std::exit(2);
      }
    } else {
      std::cerr << "step_bench: unknown argument " << arg << "\n";
      std::exit(2);
    }
  }
  if (options.steps < 1 || options.warmup < 0) {
    std::cerr << "step_bench: --steps must be >= 1 and --warmup >= 0\n";
    std::exit(2);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  // Google Benchmark removes the flags it knows; the rest are ours. Parse before mallopt so a
  // run can measure glibc's default.
  benchmark::Initialize(&argc, argv);
  const Options options = parse_options(argc, argv);
  // Without a top pad glibc trims the heap top after every step (autograd frees the step's
  // activations, tens of MB, at once) and page-faults it back in the next step; the fault
  // handling cost 2-2.5x in step time here (shared/research/stack-notes.md §4). The training
  // launcher does the same, so this measures what `tleg` runs.
  if (options.top_pad > 0) mallopt(M_TOP_PAD, static_cast<int>(options.top_pad));

  for (BenchConfig config : {config_64px(), config_28px()}) {
    if (options.batch > 0) config.batch = options.batch;
    for (const std::string model : {"vit", "aux"}) {
      for (const int threads : {1, 2}) {
        const std::string name =
            "step/" + config.name + "/" + model + "/threads:" + std::to_string(threads);
        auto run = [config, model, threads, warmup = options.warmup,
                    device = options.device](benchmark::State& state) {
          if (model == "vit") {
            bench_step<tleg::ViT>(state, config, threads, warmup, device);
          } else {
            bench_step<tleg::AuxViT>(state, config, threads, warmup, device);
          }
        };
        benchmark::RegisterBenchmark(name.c_str(), run)
            ->Iterations(options.steps)  // a step is ~1 s: a fixed count keeps a run short
            ->UseRealTime()              // CPU time of the main thread undercounts 2 threads
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

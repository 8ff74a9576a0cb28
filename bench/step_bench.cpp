// One training step of tleg::ViT and tleg::AuxViT of the same depth through Trainer::step, the
// step training runs (forward, loss, backward, the gradient all-reduce of a one-rank world, the
// fused AdamW at the schedule's rate), on random images and hard labels (no Mixup, CutMix or
// smoothing), in both precisions (fp32, and bf16 over float32 master weights). items/s are
// images/s. Beside them, the machine's matrix-product peak in both dtypes (a 1024^3 at::mm),
// so that a step's FLOP rate can be read as a fraction of it. bench/step_bench.py times the
// same step in eager PyTorch (timm's VisionTransformer and a Python auxiliary net, fp32 and CPU
// autocast bf16); bench/run_step.sh runs both and prints the ratios.
//
// Benchmarks: step/<config>/<model>/<precision>/threads:<n>, e.g. step/64px/aux/bf16/threads:2
// (counters flops_per_image: training FLOPs of one image, 3x the forward; cpu_ms_per_step: the
// process's CPU time per step), and
// peak/matmul/<dtype>/threads:<n> (items/s are FLOP/s; counter cpu_flops_per_second: per second
// of the process's CPU time), and two of the step's levers on their own, 1 thread, items/s
// images/s of the piece:
//   lever/attention/<config>/<precision>/<sdpa|products|products-softmax-in-dtype>: one
//   block's attention core, forward and backward (SDPA's fused CPU kernel; the model's batched
//   products and softmax, float32 softmax under 32 tokens in bf16; the same with the softmax
//   always in the compute dtype);
//   lever/adamw/<config>/<model>/<fused|loop>: the optimizer step alone on the model's
//   parameters (FusedAdamW, at::_fused_adamw_; LibTorch's per-tensor AdamW::step).
// Own flags (after Google Benchmark's): --steps=N timed steps (default 5), --warmup=N untimed
// steps first (default 2), --top_pad=BYTES for mallopt(M_TOP_PAD) (default 1 GiB; 0 keeps
// glibc's default, to measure what the pad is worth), --device=cuda (bf16 autocast, as
// training runs there; default cpu), --batch=N (overrides the configurations' batch sizes).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "bench/bench_flags.h"
#include "model/vit.h"
#include "model/vit_config.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace {

using tleg::bench::parse_flag;

struct BenchConfig {
  std::string name;
  tleg::VitConfig vit;
  std::int64_t batch;
};

// The two benchmark configurations: DeiT-Ti blocks on 64x64 RGB images with 100
// classes, and the Fashion-MNIST demo's student (experiments/fashion-mnist/common.ini: 28x28
// grey images, patch 7, dim 64, 2 heads, batch 64 per rank).
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
           .patch_size = 7,
           .channels = 1,
           .classes = 10,
           .dim = 64,
           .heads = 2,
           .depth = 12},
          64};
}

struct Options {
  std::int64_t steps = 5;
  std::int64_t warmup = 2;
  std::int64_t top_pad = std::int64_t{1} << 30;
  c10::Device device = c10::kCPU;
  std::int64_t batch = 0;  // 0: the configuration's own
};

// One rank's world and communicator, what Trainer::step reduces its gradients over (a
// single-process MPI world here: the reduction of one rank costs a copy-free no-op).
struct Runtime {
  tleg::dist::World& world;
  tleg::dist::Communicator& comm;
};

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

template <class Model>
void bench_step(benchmark::State& state, const BenchConfig& config, tleg::Precision precision,
                int threads, const Options& options, const Runtime& runtime) {
  // LibTorch's default is 1 thread on this VM (cpuinfo sees one core per socket), so the
  // count is always set, and set here because benchmarks of different counts share a process.
  at::set_num_threads(threads);
  const c10::Device device = options.device;
  Model model(config.vit);
  tleg::initialise(model, 0);
  model.set_precision(precision);
  // Plain cross-entropy on hard labels, as the Python side: no Mixup, CutMix or smoothing.
  tleg::TrainSettings settings;
  settings.batch = config.batch;
  settings.lr = 5e-4;
  settings.weight_decay = 0.05;
  settings.mixup = {.mixup_alpha = 0, .cutmix_alpha = 0, .label_smoothing = 0};
  const std::int64_t steps = options.warmup + options.steps;
  tleg::Trainer trainer(model, {runtime.comm, device, runtime.world}, settings, steps);
  at::manual_seed(0);
  const auto& vit = config.vit;
  tleg::Batch batch;
  batch.images = at::randn({config.batch, vit.channels, vit.image_size, vit.image_size});
  batch.labels = at::randint(vit.classes, {config.batch}, at::kLong);
  std::int64_t step = 0;
  auto train_step = [&] {
    trainer.step(batch, step++);
    // A step is timed to its end on the GPU too (kernels run asynchronously).
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  // Warm-up: the first steps allocate the optimizer state and grow the heap.
  for (std::int64_t i = 0; i < options.warmup; ++i) train_step();

  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) train_step();
  // The process's CPU time (all threads) per step: on a machine shared with other work, wall
  // time also counts the time this process waited for a core; for one thread this does not.
  state.counters["cpu_ms_per_step"] =
      1e3 * (process_cpu_seconds() - cpu_start) / static_cast<double>(state.iterations());
  trainer.agree();  // the losses kept on the device since the warm-up, as train_model agrees
  state.SetItemsProcessed(state.iterations() * config.batch);
  state.counters["threads"] = threads;
  state.counters["batch"] = static_cast<double>(config.batch);
  state.counters["flops_per_image"] = static_cast<double>(tleg::training_flops(vit));
}

// The matrix-product peak this machine reaches in `dtype` through LibTorch: a square product
// large enough that its packing and threading overheads vanish.
void bench_matmul_peak(benchmark::State& state, at::ScalarType dtype, int threads) {
  at::set_num_threads(threads);
  constexpr std::int64_t kSize = 1024;
  const at::Tensor a = at::randn({kSize, kSize}).to(dtype);
  const at::Tensor b = at::randn({kSize, kSize}).to(dtype);
  at::Tensor c = at::empty({kSize, kSize}, a.options());
  for (int i = 0; i < 3; ++i) at::mm_out(c, a, b);
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    at::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  const double flops = static_cast<double>(state.iterations()) * 2.0 * kSize * kSize * kSize;
  // FLOPs per second of the process's CPU time (all threads), the peak the steps' CPU-time
  // rates are compared with.
  state.counters["cpu_flops_per_second"] = flops / (process_cpu_seconds() - cpu_start);
  state.SetItemsProcessed(state.iterations() * 2 * kSize * kSize * kSize);
  state.counters["threads"] = threads;
}

enum class AttentionKind { kSdpa, kProducts, kProductsSoftmaxInDtype };

// One block's attention core, softmax(Q K^T / sqrt(d)) V, forward and backward, on the
// configuration's batch, heads and tokens, with leaf Q, K, V in the compute dtype.
void bench_attention(benchmark::State& state, const BenchConfig& config, at::ScalarType dtype,
                     AttentionKind kind) {
  at::set_num_threads(1);
  const auto& vit = config.vit;
  const std::int64_t tokens = vit.patches();  // no class token
  const std::int64_t head_dim = vit.dim / vit.heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  at::manual_seed(0);
  auto leaf = [&] {
    return at::randn({config.batch, vit.heads, tokens, head_dim}).to(dtype).requires_grad_();
  };
  const at::Tensor q = leaf(), k = leaf(), v = leaf();
  const at::Tensor upstream = at::randn({config.batch, vit.heads, tokens, head_dim}).to(dtype);
  auto pass = [&] {
    at::Tensor out;
    if (kind == AttentionKind::kSdpa) {
      out = at::scaled_dot_product_attention(q, k, v);
    } else if (kind == AttentionKind::kProducts) {
      out = tleg::attention(q, k, v);
    } else {  // the model's products with the softmax always in the compute dtype
      out = at::matmul(at::softmax(at::matmul(q * scale, k.transpose(-2, -1)), -1), v);
    }
    out.backward(upstream);
    for (const at::Tensor& t : {q, k, v}) t.mutable_grad().reset();
  };
  for (int i = 0; i < 3; ++i) pass();
  for (auto _ : state) pass();
  state.SetItemsProcessed(state.iterations() * config.batch);
}

// The optimizer step alone: AdamW over the model's parameters (the recipes' groups) with
// random gradients, the fused kernel or LibTorch's per-tensor reference loop.
template <class Model>
void bench_adamw(benchmark::State& state, const BenchConfig& config, bool fused) {
  at::set_num_threads(1);
  Model model(config.vit);
  tleg::initialise(model, 0);
  at::manual_seed(0);
  for (auto& parameter : model.parameters())
    parameter.mutable_grad() = at::randn_like(parameter) * 1e-3;
  const auto optimizer = tleg::make_adamw(model, {});
  auto step = [&] {
    if (fused) {
      optimizer->step();
    } else {
      optimizer->torch::optim::AdamW::step();  // the base class: the per-tensor loop
    }
  };
  for (int i = 0; i < 3; ++i) step();  // allocates the moments
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * config.batch);
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
  // A one-rank world (MPI's singleton start when not under mpirun), for the Trainer.
  tleg::dist::World world(&argc, &argv);
  // Google Benchmark removes the flags it knows; the rest are ours. Parse before mallopt so a
  // run can measure glibc's default.
  benchmark::Initialize(&argc, argv);
  const Options options = parse_options(argc, argv);
  auto comm = tleg::dist::make_communicator(world, options.device);
  const Runtime runtime{world, *comm};
  // Without a top pad glibc trims the heap top after every step (autograd frees the step's
  // activations, tens of MB, at once) and page-faults it back in the next step; the fault
  // handling cost 2-2.5x in step time on 2-core machines. The training
  // launcher does the same, so this measures what `tleg` runs.
  if (options.top_pad > 0) mallopt(M_TOP_PAD, static_cast<int>(options.top_pad));
  // Which kind of machine the peaks come from: bf16 is a speed-up only where it is native.
  const tleg::Bf16Support bf16 = tleg::bf16_support(options.device);
  benchmark::AddCustomContext("bf16_native", bf16.native ? "yes" : "no");
  benchmark::AddCustomContext("bf16_evidence", bf16.evidence);

  for (const int threads : {1, 2}) {
    for (const auto& [name, dtype] : {std::pair{"fp32", at::kFloat}, {"bf16", at::kBFloat16}}) {
      benchmark::RegisterBenchmark(
          ("peak/matmul/" + std::string(name) + "/threads:" + std::to_string(threads)).c_str(),
          [dtype, threads](benchmark::State& state) { bench_matmul_peak(state, dtype, threads); })
          ->MinTime(0.5)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (BenchConfig config : {config_64px(), config_28px()}) {
    if (options.batch > 0) config.batch = options.batch;
    for (const std::string model : {"vit", "aux"}) {
      for (const auto precision : {tleg::Precision::kFloat32, tleg::Precision::kBFloat16}) {
        for (const int threads : {1, 2}) {
          const std::string name = "step/" + config.name + "/" + model + "/" +
                                   tleg::precision_name(precision) +
                                   "/threads:" + std::to_string(threads);
          auto run = [config, model, precision, threads, &options,
                      &runtime](benchmark::State& state) {
            if (model == "vit") {
              bench_step<tleg::ViT>(state, config, precision, threads, options, runtime);
            } else {
              bench_step<tleg::AuxViT>(state, config, precision, threads, options, runtime);
            }
          };
          benchmark::RegisterBenchmark(name.c_str(), run)
              ->Iterations(options.steps)  // a step is up to ~1 s: a fixed count keeps runs short
              ->UseRealTime()              // CPU time of the main thread undercounts 2 threads
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
  for (const BenchConfig& config : {config_64px(), config_28px()}) {
    for (const auto& [precision, dtype] :
         {std::pair{"fp32", at::kFloat}, std::pair{"bf16", at::kBFloat16}}) {
      for (const auto& [kind_name, kind] :
           {std::pair{"sdpa", AttentionKind::kSdpa},
            std::pair{"products", AttentionKind::kProducts},
            std::pair{"products-softmax-in-dtype", AttentionKind::kProductsSoftmaxInDtype}}) {
        const std::string name =
            "lever/attention/" + config.name + "/" + precision + "/" + kind_name;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [config, dtype, kind](benchmark::State& state) {
                                       bench_attention(state, config, dtype, kind);
                                     })
            ->MinTime(0.5)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
    for (const std::string model : {"vit", "aux"}) {
      for (const bool fused : {true, false}) {
        const std::string name =
            "lever/adamw/" + config.name + "/" + model + "/" + (fused ? "fused" : "loop");
        benchmark::RegisterBenchmark(name.c_str(),
                                     [config, model, fused](benchmark::State& state) {
                                       if (model == "vit") {
                                         bench_adamw<tleg::ViT>(state, config, fused);
                                       } else {
                                         bench_adamw<tleg::AuxViT>(state, config, fused);
                                       }
                                     })
            ->MinTime(0.5)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

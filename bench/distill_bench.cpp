// The stage-1 (distillation) training step, under mpirun: the loader on a real dataset store
// (`tleg prepare fashion-mnist`) and Trainer::step, the step train_model runs (the batch mix,
// the teacher's forward pass on a tleg model file from `tleg teacher`, or the stored views and
// logits of a `tleg logits` store as the demo's stage 1 reads them, the AuxViT forward pass and
// distillation loss, backward, GradientReducer::finish, AdamW at the schedule's rate, and the
// loss and stop flag agreed by all ranks). Only logging and checkpoints are left out.
// bench/run_distill.sh makes the store, the teacher and its logits, runs it on 2 ranks and
// prints images/s and the shares of the step.
//
// The benchmark is named distill/aux; items/s are images/s of all ranks together. Counters:
// data_wait_fraction (inside Loader::next, as train_model counts it), teacher_fraction and
// comm_wait_fraction (inside finish()) as Trainer::step reports them, each the mean over ranks.
// Own flags (after Google Benchmark's): --store=PATH, and --teacher=PATH (a live teacher) or
// --teacher_logits=PATH (a teacher-logits store made with seed 0 and this recipe),
// --steps=N timed steps (default 40), --warmup=N (default 5), --batch=N per rank (64),
// --loader_threads=N (1), --dim=N (64), --heads=N (2), --patch=N (7), --depth=N (12): the
// defaults are experiments/fashion-mnist/common.ini and aux.ini; --precision=fp32|bf16|auto (the
// student's and the teacher's, as --run.precision). Counter flops_per_image: the student's
// training FLOPs.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bench/bench_flags.h"
#include "bench/mpi_bench.h"
#include "common/timing.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "model/vit.h"
#include "train/teacher.h"
#include "train/trainer.h"

namespace {

using tleg::Clock;
using tleg::seconds_since;
using tleg::bench::parse_flag;

struct Options {
  std::string store, teacher, teacher_logits;
  std::int64_t steps = 40;
  std::int64_t warmup = 5;
  std::int64_t batch = 64;
  std::int64_t loader_threads = 1;
  std::string precision = "fp32";
  tleg::VitConfig vit{.image_size = 28,
                      .patch_size = 7,
                      .channels = 1,
                      .classes = 10,
                      .dim = 64,
                      .heads = 2,
                      .depth = 12};
};

// common.ini's data and augmentation settings for the training split.
tleg::LoaderOptions loader_options(const Options& options, const tleg::dist::Communicator& comm) {
  tleg::LoaderOptions loader;
  loader.path = options.store;
  loader.split = "train";
  loader.batch_size = options.batch;
  loader.ranks = comm.size();
  loader.rank = comm.rank();
  loader.threads = static_cast<int>(options.loader_threads);
  loader.recipe = tleg::ViewRecipe::basic(static_cast<int>(options.vit.image_size));
  loader.recipe.channels = static_cast<int>(options.vit.channels);
  loader.recipe.scale_min = 0.35;
  loader.recipe.mean = {0.2860f, 0.2860f, 0.2860f};
  loader.recipe.std = {0.3530f, 0.3530f, 0.3530f};
  loader.teacher_logits = options.teacher_logits;  // views and targets from the store
  return loader;
}

struct PieceSeconds {
  double data = 0, teacher = 0, reduce = 0;
};

void bench_distill(benchmark::State& state, const tleg::dist::World& world,
                   tleg::dist::Communicator& comm, const Options& options) {
  tleg::Loader loader(loader_options(options, comm));
  const tleg::Precision precision =
      tleg::choose_precision(tleg::parse_precision(options.precision), c10::kCPU).precision;
  // The teacher computes in the student's precision, as a training run's live teacher does;
  // with a logits store there is none (the batch carries its targets).
  const std::unique_ptr<tleg::Teacher> teacher =
      options.teacher.empty() ? nullptr : tleg::load_teacher(options.teacher, c10::kCPU, precision);
  tleg::AuxViT model(options.vit);
  tleg::initialise(model, 0);
  model.set_precision(precision);
  // aux.ini: soft distillation only (tau 1, alpha 1); common.ini: no Mixup or CutMix.
  tleg::TrainSettings settings;
  settings.distill = true;
  settings.batch = options.batch;
  settings.mixup = {.mixup_alpha = 0, .cutmix_alpha = 0, .label_smoothing = 0.1};
  const auto steps_per_epoch = static_cast<std::int64_t>(loader.steps_per_epoch());
  settings.epochs = (options.warmup + options.steps) / steps_per_epoch + 1;  // a schedule to cover
  tleg::Trainer trainer(model, {comm, c10::kCPU, world}, settings, steps_per_epoch, teacher.get());

  PieceSeconds seconds;
  std::int64_t step = 0;
  auto train_step = [&] {
    // A long run wraps into the next epochs, as training does.
    if (step % steps_per_epoch == 0)
      loader.start_epoch(static_cast<std::uint64_t>(step / steps_per_epoch));
    const Clock::time_point start = Clock::now();
    const std::optional<tleg::Batch> batch = loader.next();
    seconds.data += seconds_since(start);
    const tleg::StepResult result = trainer.step(*batch, step++);
    seconds.teacher += result.teacher_seconds;
    seconds.reduce += result.reduce_seconds;
  };
  // Warm-up: fills the loader's queue and allocates the optimizer state.
  for (std::int64_t i = 0; i < options.warmup; ++i) train_step();
  comm.barrier();
  seconds = {};
  const Clock::time_point start = Clock::now();
  for (auto _ : state) train_step();
  const double loop_seconds = seconds_since(start);

  at::Tensor fractions = at::tensor(
      {seconds.data / loop_seconds, seconds.teacher / loop_seconds, seconds.reduce / loop_seconds},
      at::kDouble);
  comm.all_reduce(fractions, tleg::dist::ReduceOp::Average);
  state.SetItemsProcessed(state.iterations() * options.batch * comm.size());
  state.counters["ranks"] = comm.size();
  state.counters["batch_per_rank"] = static_cast<double>(options.batch);
  state.counters["data_wait_fraction"] = fractions[0].item<double>();
  state.counters["teacher_fraction"] = fractions[1].item<double>();
  state.counters["comm_wait_fraction"] = fractions[2].item<double>();
  state.counters["flops_per_image"] = static_cast<double>(tleg::training_flops(options.vit));
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!parse_flag(arg, "store", options.store) && !parse_flag(arg, "teacher", options.teacher) &&
        !parse_flag(arg, "teacher_logits", options.teacher_logits) &&
        !parse_flag(arg, "steps", options.steps) && !parse_flag(arg, "warmup", options.warmup) &&
        !parse_flag(arg, "batch", options.batch) &&
        !parse_flag(arg, "precision", options.precision) &&
        !parse_flag(arg, "loader_threads", options.loader_threads) &&
        !parse_flag(arg, "dim", options.vit.dim) && !parse_flag(arg, "heads", options.vit.heads) &&
        !parse_flag(arg, "patch", options.vit.patch_size) &&
        !parse_flag(arg, "depth", options.vit.depth)) {
      std::cerr << "distill_bench: unknown argument " << arg << "\n";
      std::exit(2);
    }
  }
  if (options.store.empty() || options.teacher.empty() == options.teacher_logits.empty()) {
    std::cerr << "distill_bench: --store=PATH (tleg prepare fashion-mnist) and one of "
                 "--teacher=PATH (a tleg model file, from tleg teacher) or --teacher_logits=PATH "
                 "(a store from tleg logits) are required\n";
    std::exit(2);
  }
  if (options.steps < 1 || options.warmup < 0 || options.batch < 1 || options.loader_threads < 1) {
    std::cerr
        << "distill_bench: --steps, --batch and --loader_threads must be >= 1, --warmup >= 0\n";
    std::exit(2);
  }
  options.vit.validate();
  tleg::parse_precision(options.precision);  // fails here, before MPI work, on a bad value
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  tleg::dist::World world(&argc, &argv);
  return tleg::dist::run_or_abort(world, [&] {
    tleg::bench::initialize_benchmark(world.rank(), &argc, argv);
    const Options options = parse_options(argc, argv);
    // As the launcher does (launcher/main.cpp: glibc would trim and re-fault the heap every step).
    mallopt(M_TOP_PAD, 1 << 30);
    at::set_num_threads(1);  // common.ini: run.threads = 1
    auto comm = tleg::dist::make_communicator(world, c10::kCPU);
    benchmark::RegisterBenchmark("distill/aux",
                                 [&world, &comm, &options](benchmark::State& state) {
                                   bench_distill(state, world, *comm, options);
                                 })
        ->Iterations(options.steps)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    tleg::bench::run_benchmarks(world.rank());
    return 0;
  });
}

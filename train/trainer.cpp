#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "model/vit.h"
#include "train/autocast_scope.h"
#include "train/checkpoint.h"
#include "train/losses.h"
#include "train/optimizer.h"
#include "train/run_record.h"
#include "train/schedule.h"
#include "train/teacher.h"

namespace tleg {
namespace {

using Clock = std::chrono::steady_clock;

// SIGTERM (Slurm's time limit, scancel, scontrol requeue) or SIGUSR1 asks a run to stop at the
// next step with a checkpoint. A signal handler can only set a flag; the loop shares it with
// every rank through the per-step all-reduce, so all ranks stop at the same step.
std::atomic<int> stop_signal{0};
extern "C" void request_stop(int signal) { stop_signal.store(signal); }

class StopSignals {
 public:
  StopSignals() {
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &previous_term_);
    sigaction(SIGUSR1, &action, &previous_usr1_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &previous_term_, nullptr);
    sigaction(SIGUSR1, &previous_usr1_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction previous_term_ {
  }, previous_usr1_{};
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string scientific(double value) {
  std::ostringstream out;
  out.precision(2);
  out << std::scientific << value;
  return out.str();
}

}  // namespace

Accuracy evaluate(VitBase& model, Loader& val, std::uint64_t split_size, dist::Communicator& comm,
                  c10::Device device) {
  at::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const std::int64_t k = std::min<std::int64_t>(5, model.config().classes);
  double correct1 = 0, correct5 = 0, counted = 0;
  val.start_epoch(0, 0);
  std::uint64_t position_in_rank = 0;
  while (auto batch = val.next()) {
    at::Tensor logits;
    {
      AutocastScope autocast(device);
      logits = model.forward(batch->images.to(device)).to(at::kCPU, at::kFloat);
    }
    const at::Tensor top = std::get<1>(logits.topk(k, 1));
    const at::Tensor hits = top.eq(batch->labels.to(at::kCPU).unsqueeze(1));
    const auto batch_size = logits.size(0);
    for (std::int64_t j = 0; j < batch_size; ++j, ++position_in_rank) {
      // The sampler deals position rank + i * ranks to this rank; positions past the split
      // are the padding that keeps ranks equal.
      const std::uint64_t position = static_cast<std::uint64_t>(comm.rank()) +
                                     position_in_rank * static_cast<std::uint64_t>(comm.size());
      if (position >= split_size) continue;
      counted += 1;
      correct1 += hits[j][0].item<bool>();
      correct5 += hits[j].any().item<bool>();
    }
  }
  at::Tensor totals = at::tensor({correct1, correct5, counted}, at::kDouble).to(device);
  comm.all_reduce(totals);
  totals = totals.cpu();
  model.train(was_training);
  const double n = totals[2].item<double>();
  if (n != static_cast<double>(split_size))
    fail("evaluation counted ", n, " samples of a split of ", split_size,
         " (the evaluation loader must keep padding and its last batch)");
  return {totals[0].item<double>() / n, totals[1].item<double>() / n, static_cast<std::int64_t>(n)};
}

TrainOutcome train_model(VitBase& model, Loader& train, Loader* val, std::uint64_t val_size,
                         dist::Communicator& comm, Teacher* teacher, const TrainSettings& settings,
                         c10::Device device) {
  if (settings.distill && teacher == nullptr && !train.has_teacher_logits())
    fail(
        "distillation needs a teacher (--distill.teacher) or stored teacher logits "
        "(--distill.logits)");
  const Clock::time_point started = Clock::now();
  const bool root = comm.rank() == 0;
  const auto ranks = static_cast<std::uint64_t>(comm.size());
  const auto rank = static_cast<std::uint64_t>(comm.rank());
  std::filesystem::create_directories(settings.run_dir);

  model.to(device);
  model.train();
  std::vector<at::Tensor> parameters = model.parameters();
  dist::GradientReducer reducer(parameters, comm);
  reducer.broadcast_parameters(0);
  auto optimizer = make_adamw(model, {.lr = settings.lr, .weight_decay = settings.weight_decay});

  std::int64_t steps_per_epoch = static_cast<std::int64_t>(train.steps_per_epoch());
  if (settings.max_steps_per_epoch > 0)
    steps_per_epoch = std::min(steps_per_epoch, settings.max_steps_per_epoch);
  if (steps_per_epoch == 0)
    fail("the training split gives no full batch per rank; lower the batch size");
  const std::int64_t total_steps = settings.epochs * steps_per_epoch;
  const std::int64_t global_batch = train.batch_size() * comm.size();
  const CosineSchedule schedule{.base_lr = scaled_lr(settings.lr, global_batch),
                                .min_lr = settings.min_lr,
                                .warmup_lr = settings.warmup_lr,
                                .warmup_epochs = settings.warmup_epochs,
                                .epochs = settings.epochs,
                                .steps_per_epoch = steps_per_epoch,
                                .per_step = settings.lr_per_step,
                                .warmup_prefix = settings.warmup_prefix};

  TrainOutcome outcome;
  // Only rank 0 writes checkpoints (every rank holds the same parameters); every rank reads
  // the newest on resume, so the run directory must be on a filesystem all ranks share.
  CheckpointStore checkpoints(settings.run_dir + "/checkpoints", settings.keep_checkpoints);
  auto save_checkpoint = [&](std::int64_t step) {
    if (!root) return;
    checkpoints.save(step, [&](torch::serialize::OutputArchive& archive) {
      torch::serialize::OutputArchive model_archive, optimizer_archive;
      model.save(model_archive);
      optimizer->save(optimizer_archive);
      archive.write("model", model_archive);
      archive.write("optimizer", optimizer_archive);
      archive.write("step", at::tensor({step}, at::kLong));
      archive.write("best", at::tensor({outcome.best_top1, outcome.best_top5,
                                        static_cast<double>(outcome.best_epoch)},
                                       at::kDouble));
    });
  };
  std::int64_t step = 0;
  if (settings.resume) {
    const auto resumed = checkpoints.load_latest(
        [&](torch::serialize::InputArchive& archive) {
          torch::serialize::InputArchive model_archive, optimizer_archive;
          archive.read("model", model_archive);
          archive.read("optimizer", optimizer_archive);
          model.load(model_archive);
          optimizer->load(optimizer_archive);
          at::Tensor best;
          if (archive.try_read("best", best)) {  // absent in checkpoints of older versions
            outcome.best_top1 = best[0].item<double>();
            outcome.best_top5 = best[1].item<double>();
            outcome.best_epoch = static_cast<std::int64_t>(best[2].item<double>());
          }
        },
        [&](const std::string& warning) {
          if (root) std::cerr << "warning: " << warning << "\n";
        });
    if (resumed) {
      step = *resumed;
      outcome.resumed_from = step;
      model.to(device);
      if (root) std::cerr << "resuming at step " << step << " of " << total_steps << "\n";
    }
  }

  MetricsLog metrics(settings.run_dir + "/metrics.jsonl", root);
  const StopSignals stop_signals;
  ProgressLine progress(root, step);
  MixupOptions mixup = settings.mixup;
  mixup.seed = mix64(settings.seed ^ 0x6d69787570ULL);  // "mixup": its own stream of draws
  const std::int64_t classes = model.config().classes;
  double data_wait = 0, step_time = 0, interval_loss = 0;
  std::int64_t interval_steps = 0, steps_this_run = 0;
  Clock::time_point interval_start = Clock::now();

  while (step < total_steps) {
    const std::int64_t epoch = step / steps_per_epoch;
    const std::int64_t in_epoch = step % steps_per_epoch;
    if (in_epoch == 0 || steps_this_run == 0)
      train.start_epoch(static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(in_epoch));
    const Clock::time_point step_start = Clock::now();
    std::optional<Batch> next = train.next();
    if (!next) fail("internal: the loader ended epoch ", epoch, " before step ", in_epoch);
    data_wait += seconds_since(step_start);

    at::Tensor images = next->images.to(device, /*non_blocking=*/true);
    const MixDecision decision =
        draw_mix(mixup, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(in_epoch),
                 rank, images.size(2), images.size(3));
    mix_images(images, decision);
    const double lr = schedule.at(step);
    set_learning_rate(*optimizer, lr);

    // Drop path draws from a generator keyed by (seed, step, rank): nothing to save for resume.
    std::optional<at::Generator> generator;
    if (!device.is_cuda())
      generator = at::make_generator<at::CPUGeneratorImpl>(
          mix64(settings.seed ^ mix64(static_cast<std::uint64_t>(step) * ranks + rank)));
    at::Tensor loss;
    {
      AutocastScope autocast(device);
      const at::Tensor logits = model.forward(images, generator);
      if (settings.distill) {
        const at::Tensor targets =
            mix_targets(next->labels, classes, mixup.label_smoothing, decision).to(device);
        if (next->teacher_logits.defined()) {
          // Stored logits belong to the unmixed views: mix their soft targets as the images were.
          const at::Tensor soft = at::softmax(next->teacher_logits.to(device) / settings.tau, -1);
          loss = distillation_loss_from_probabilities(
              logits.to(at::kFloat), mix_soft_targets(soft, decision), targets, settings.tau,
              settings.alpha, settings.kl_reduction);
        } else {
          loss = distillation_loss(logits.to(at::kFloat), teacher->logits(images).to(at::kFloat),
                                   targets, settings.tau, settings.alpha, settings.kl_reduction);
        }
      } else {
        const at::Tensor targets =
            mix_targets(next->labels, classes, mixup.label_smoothing, decision).to(device);
        loss = soft_target_cross_entropy(logits.to(at::kFloat), targets);
      }
    }
    optimizer->zero_grad();
    loss.backward();
    reducer.finish();
    if (settings.clip_grad > 0) torch::nn::utils::clip_grad_norm_(parameters, settings.clip_grad);
    optimizer->step();

    // The mean loss over ranks and whether any rank was asked to stop, every step: it is how
    // every rank learns at once that the loss is no longer finite or that a signal came, so
    // they all stop at the same step.
    at::Tensor shared = at::cat({loss.detach().to(at::kDouble).reshape({1}),
                                 at::full({1}, static_cast<double>(stop_signal.load()),
                                          at::TensorOptions().dtype(at::kDouble).device(device))});
    comm.all_reduce(shared, dist::ReduceOp::Sum);
    shared = shared.cpu();
    const double loss_value = shared[0].item<double>() / comm.size();
    const bool stop_requested = shared[1].item<double>() > 0;
    if (!std::isfinite(loss_value)) {
      const auto saved = checkpoints.checkpoints();
      fail(
          "the loss became ", loss_value, " at step ", step, " (epoch ", epoch,
          "); stopped without saving. The last good checkpoint is ",
          saved.empty() ? std::string("none") : saved.back(),
          ". Lower the learning rate or enable gradient clipping (optim.clip-grad), then --resume");
    }
    step_time += seconds_since(step_start);
    interval_loss += loss_value;
    ++interval_steps;
    ++step;
    ++steps_this_run;

    const bool epoch_end = step % steps_per_epoch == 0;
    if (step % settings.log_interval == 0 || epoch_end || step == total_steps) {
      const double seconds = seconds_since(interval_start);
      const double images_per_second =
          static_cast<double>(interval_steps * global_batch) / std::max(seconds, 1e-9);
      metrics.write({{"step", static_cast<double>(step)},
                     {"epoch", static_cast<double>(epoch)},
                     {"loss", interval_loss / interval_steps},
                     {"lr", lr},
                     {"images_per_second", images_per_second},
                     {"data_wait_fraction", step_time > 0 ? data_wait / step_time : 0.0},
                     {"bytes_reduced", static_cast<double>(reducer.bytes_reduced_last_step())}},
                    "train");
      progress.update("step", step, total_steps, images_per_second,
                      "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(settings.epochs) +
                          "  loss " + std::to_string(interval_loss / interval_steps).substr(0, 6) +
                          "  lr " + scientific(lr));
      interval_loss = 0;
      interval_steps = 0;
      interval_start = Clock::now();
    }
    const bool stop_now =
        settings.stop_after_steps > 0 && steps_this_run >= settings.stop_after_steps;
    if (epoch_end && val != nullptr &&
        ((step / steps_per_epoch) % settings.eval_every == 0 || step == total_steps)) {
      const Accuracy accuracy = evaluate(model, *val, val_size, comm, device);
      outcome.top1 = accuracy.top1;
      outcome.top5 = accuracy.top5;
      if (outcome.best_epoch == 0 || accuracy.top1 > outcome.best_top1) {
        outcome.best_top1 = accuracy.top1;
        outcome.best_top5 = accuracy.top5;
        outcome.best_epoch = epoch + 1;
      }
      metrics.write({{"step", static_cast<double>(step)},
                     {"epoch", static_cast<double>(epoch)},
                     {"top1", accuracy.top1},
                     {"top5", accuracy.top5}},
                    "eval");
      if (root)
        std::cerr << "epoch " << epoch + 1 << "/" << settings.epochs << ": top-1 "
                  << accuracy.top1 * 100 << "%, top-5 " << accuracy.top5 * 100 << "% ("
                  << accuracy.samples << " images)\n";
    }
    // After the evaluation, so that the checkpoint carries the best accuracy so far.
    if ((settings.checkpoint_every > 0 && step % settings.checkpoint_every == 0) || epoch_end ||
        stop_now)
      save_checkpoint(step);
    if (stop_now) {
      outcome.finished = step >= total_steps;
      break;
    }
    if (stop_requested && step < total_steps) {
      if (!(settings.checkpoint_every > 0 && step % settings.checkpoint_every == 0) && !epoch_end)
        save_checkpoint(step);
      fail("stopped by a signal (SIGTERM or SIGUSR1) after step ", step, " of ", total_steps,
           "; the checkpoint of step ", step, " is in ", checkpoints.directory(),
           ": rerun the same command with --resume");
    }
  }
  outcome.steps = total_steps;
  outcome.images = total_steps * global_batch;
  outcome.wall_seconds = seconds_since(started);
  outcome.data_wait_fraction = step_time > 0 ? data_wait / step_time : 0.0;
  return outcome;
}

}  // namespace tleg

#include "train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#ifdef TLEG_HAVE_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif
#include <torch/nn/utils/clip_grad.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "common/hash.h"
#include "common/timing.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/stop.h"
#include "model/vit.h"
#include "train/autocast_scope.h"
#include "train/losses.h"
#include "train/optimizer.h"
#include "train/run_record.h"
#include "train/teacher.h"

namespace tleg {
namespace {

// A generator on `device` seeded with `key` (on a GPU, a Philox generator at offset 0): the same
// keying on every device, so that drop path on a GPU is as exactly resumable as on the CPU.
at::Generator drop_path_generator(c10::Device device, std::uint64_t key) {
#ifdef TLEG_HAVE_CUDA
  if (device.is_cuda()) {
    at::Generator generator = at::cuda::detail::createCUDAGenerator(device.index());
    generator.set_current_seed(key);
    return generator;
  }
#endif
  if (device.is_cuda()) fail("internal: a CUDA device in a build without CUDA");
  return at::make_generator<at::CPUGeneratorImpl>(key);
}

// The model on its device in training mode, and its parameters (for the reducer and clipping).
std::vector<at::Tensor> training_parameters(Classifier& model, c10::Device device) {
  model.to(device);
  model.train();
  return model.parameters();
}

// metrics.jsonl and the progress line: the mean loss, rate and data wait of each log interval.
class TrainingLog {
 public:
  TrainingLog(const TrainSettings& settings, bool root, std::int64_t first_step)
      : settings_(settings),
        root_(root),
        // a run that starts at step 0 starts its log afresh
        metrics_(settings.run_dir + "/metrics.jsonl", root, /*append=*/first_step > 0),
        progress_(root, first_step) {}

  // After step `step` (1-based) of `epoch`; `wait` and `seconds` are the step's data wait and
  // time, `agreed` the losses agreed at this step (none between agreements). Writes a line at log
  // intervals, epoch ends and the last step (where train_model always agrees).
  void step(std::int64_t step, std::int64_t epoch, bool epoch_end, const Trainer& trainer,
            const std::optional<Agreement>& agreed, double lr, double wait, double seconds) {
    data_wait_ += wait;
    step_time_ += seconds;
    ++steps_;
    if (agreed) {
      loss_sum_ += agreed->loss * static_cast<double>(agreed->steps);
      loss_steps_ += agreed->steps;
    }
    if (step % settings_.log_interval != 0 && !epoch_end && step != trainer.total_steps()) return;
    const double loss = loss_sum_ / static_cast<double>(std::max<std::int64_t>(loss_steps_, 1));
    const double images_per_second = static_cast<double>(steps_ * trainer.global_batch()) /
                                     std::max(seconds_since(interval_start_), 1e-9);
    // Epochs counted from 1, as the console counts them.
    metrics_.write({{"step", static_cast<double>(step)},
                    {"epoch", static_cast<double>(epoch + 1)},
                    {"loss", loss},
                    {"lr", lr},
                    {"images_per_second", images_per_second},
                    {"data_wait_fraction", data_wait_fraction()},
                    {"bytes_reduced", static_cast<double>(trainer.bytes_reduced_last_step())}},
                   "train");
    progress_.update("step", step, trainer.total_steps(), images_per_second,
                     "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(settings_.epochs) +
                         "  loss " + std::to_string(loss).substr(0, 6) + "  lr " +
                         format_number("%.2e", lr));
    loss_sum_ = 0;
    loss_steps_ = 0;
    steps_ = 0;
    interval_start_ = Clock::now();
  }

  void evaluation(std::int64_t step, std::int64_t epoch, const Accuracy& accuracy) {
    metrics_.write({{"step", static_cast<double>(step)},
                    {"epoch", static_cast<double>(epoch + 1)},
                    {"top1", accuracy.top1},
                    {"top5", accuracy.top5},
                    {"loss", accuracy.loss}},
                   "eval");
    if (root_)
      std::cerr << "epoch " << epoch + 1 << "/" << settings_.epochs << ": top-1 "
                << accuracy.top1 * 100 << "%, top-5 " << accuracy.top5 * 100 << "% ("
                << accuracy.samples << " images)\n";
  }

  double data_wait_fraction() const { return step_time_ > 0 ? data_wait_ / step_time_ : 0.0; }

 private:
  const TrainSettings& settings_;
  bool root_;
  MetricsLog metrics_;
  ProgressLine progress_;
  double data_wait_ = 0, step_time_ = 0, loss_sum_ = 0;
  std::int64_t steps_ = 0, loss_steps_ = 0;
  Clock::time_point interval_start_ = Clock::now();
};

}  // namespace

bool StageContext::root() const { return comm.rank() == 0; }

Trainer::Trainer(Classifier& model, const StageContext& context, const TrainSettings& settings,
                 std::int64_t steps_per_epoch, Teacher* teacher,
                 const dist::GradientReducerOptions& reducer)
    : model_(model),
      comm_(context.comm),
      settings_(settings),
      device_(context.device),
      teacher_(teacher),
      parameters_(training_parameters(model, context.device)),
      reducer_(parameters_, context.comm, reducer),
      global_batch_(settings.batch * context.comm.size()),
      schedule_{.base_lr = scaled_lr(settings.lr, global_batch_),
                .min_lr = settings.min_lr,
                .warmup_lr = settings.warmup_lr,
                .warmup_epochs = settings.warmup_epochs,
                .epochs = settings.epochs,
                .steps_per_epoch = steps_per_epoch,
                .per_step = settings.lr_per_step,
                .warmup_prefix = settings.warmup_prefix},
      mixup_(settings.mixup) {
  if (!settings.run_dir.empty())
    checkpoints_.emplace(settings.run_dir + "/checkpoints", settings.keep_checkpoints);
  reducer_.broadcast_parameters(0);
  optimizer_ = make_adamw(model, {.lr = settings.lr, .weight_decay = settings.weight_decay});
  mixup_.seed = mix64(settings.seed ^ 0x6d69787570ULL);  // "mixup": its own stream of draws
}

Trainer::~Trainer() = default;

StepResult Trainer::step(const Batch& batch, std::int64_t step) {
  const auto epoch = static_cast<std::uint64_t>(step / schedule_.steps_per_epoch);
  const auto in_epoch = static_cast<std::uint64_t>(step % schedule_.steps_per_epoch);
  const auto ranks = static_cast<std::uint64_t>(comm_.size());
  const auto rank = static_cast<std::uint64_t>(comm_.rank());
  StepResult result;
  at::Tensor images = batch.images.to(device_, /*non_blocking=*/true);
  const MixDecision decision =
      draw_mix(mixup_, epoch, in_epoch, rank, images.size(2), images.size(3));
  mix_images(images, decision);
  set_learning_rate(*optimizer_, schedule_.at(step));

  // Drop path draws from a generator keyed by (seed, step, rank): nothing to save for resume.
  const at::Generator generator = drop_path_generator(
      device_, mix64(settings_.seed ^ mix64(static_cast<std::uint64_t>(step) * ranks + rank)));
  at::Tensor loss;
  {
    AutocastScope autocast(device_);
    const at::Tensor logits = model_.forward(images, generator).to(at::kFloat);
    const at::Tensor targets =
        mix_targets(batch.labels, model_.classes(), mixup_.label_smoothing, decision).to(device_);
    if (!settings_.distill) {
      loss = soft_target_cross_entropy(logits, targets);
    } else if (batch.teacher_logits.defined()) {
      // Stored logits belong to the unmixed views: mix their soft targets as the images were.
      const at::Tensor soft = at::softmax(batch.teacher_logits.to(device_) / settings_.tau, -1);
      loss = distillation_loss_from_probabilities(logits, mix_soft_targets(soft, decision), targets,
                                                  settings_.tau, settings_.alpha,
                                                  settings_.kl_reduction);
    } else {
      const Clock::time_point start = Clock::now();
      const at::Tensor teacher_logits = teacher_->logits(images).to(at::kFloat);
      result.teacher_seconds = seconds_since(start);
      loss = distillation_loss(logits, teacher_logits, targets, settings_.tau, settings_.alpha,
                               settings_.kl_reduction);
    }
  }
  optimizer_->zero_grad();
  loss.backward();
  const Clock::time_point reduce_start = Clock::now();
  reducer_.finish();
  result.reduce_seconds = seconds_since(reduce_start);
  if (settings_.clip_grad > 0) torch::nn::utils::clip_grad_norm_(parameters_, settings_.clip_grad);
  optimizer_->step();
  synchronise_buffers();

  // Kept on the device until the next agreement: no host synchronisation per step.
  const at::Tensor step_loss = loss.detach().to(at::kDouble).reshape({1});
  loss_sum_ = loss_sum_.defined() ? loss_sum_ + step_loss : step_loss;
  ++unagreed_steps_;
  return result;
}

Agreement Trainer::agree() {
  if (unagreed_steps_ == 0) fail("internal: Trainer::agree() without a step since the last one");
  at::Tensor shared = loss_sum_;
  comm_.all_reduce(shared, dist::ReduceOp::Sum);
  Agreement agreed{
      .loss = shared.cpu().item<double>() / static_cast<double>(comm_.size() * unagreed_steps_),
      .steps = unagreed_steps_};
  loss_sum_ = at::Tensor();
  unagreed_steps_ = 0;
  return agreed;
}

namespace {

// evaluate_model, stopped early (nothing returned, on every rank alike) when `stop` agrees.
std::optional<Accuracy> evaluate_until_stopped(Classifier& model, Loader& val,
                                               std::uint64_t split_size, dist::Communicator& comm,
                                               c10::Device device, dist::StopRequest* stop,
                                               double progress_seconds) {
  at::NoGradGuard no_grad;
  const auto started = std::chrono::steady_clock::now();
  auto said = started;
  model.eval();
  const std::int64_t k = std::min<std::int64_t>(5, model.classes());
  double correct1 = 0, correct5 = 0, counted = 0, loss_sum = 0;
  val.start_epoch(0, 0);
  std::uint64_t position_in_rank = 0;
  // Every rank has as many batches (the padding keeps them equal), so all poll alike.
  while (auto batch = val.next()) {
    if (stop != nullptr && stop->agreed()) return std::nullopt;
    at::Tensor logits;
    {
      AutocastScope autocast(device);
      logits = model.forward(batch->images.to(device)).to(at::kCPU, at::kFloat);
    }
    const at::Tensor labels = batch->labels.to(at::kCPU);
    const at::Tensor top = std::get<1>(logits.topk(k, 1));
    const at::Tensor hits = top.eq(labels.unsqueeze(1));
    const at::Tensor losses =
        at::cross_entropy_loss(logits, labels, {}, at::Reduction::None).to(at::kDouble);
    const auto batch_size = logits.size(0);
    for (std::int64_t j = 0; j < batch_size; ++j, ++position_in_rank) {
      // The sampler deals position rank + i * ranks to this rank; positions past the split
      // are the padding that keeps ranks equal.
      const std::uint64_t position = static_cast<std::uint64_t>(comm.rank()) +
                                     position_in_rank * static_cast<std::uint64_t>(comm.size());
      if (position >= split_size) continue;
      counted += 1;
      loss_sum += losses[j].item<double>();
      correct1 += hits[j][0].item<bool>();
      correct5 += hits[j].any().item<bool>();
    }
    const auto now = std::chrono::steady_clock::now();
    if (comm.rank() == 0 && std::chrono::duration<double>(now - said).count() >= progress_seconds) {
      said = now;
      // Rank 0's batches stand for every rank's: they all have as many.
      const std::uint64_t done = std::min<std::uint64_t>(
          split_size, position_in_rank * static_cast<std::uint64_t>(comm.size()));
      std::cerr << "evaluating: " << grouped(static_cast<std::int64_t>(done)) << " of "
                << grouped(static_cast<std::int64_t>(split_size)) << " images ("
                << 100 * done / std::max<std::uint64_t>(split_size, 1) << "%), "
                << format_duration(std::chrono::duration<double>(now - started).count())
                << std::endl;
    }
  }
  at::Tensor totals = at::tensor({correct1, correct5, counted, loss_sum}, at::kDouble).to(device);
  comm.all_reduce(totals);
  totals = totals.cpu();
  const double n = totals[2].item<double>();
  if (n != static_cast<double>(split_size))
    fail("evaluation counted ", n, " samples of a split of ", split_size,
         " (the evaluation loader must keep padding and its last batch)");
  return Accuracy{totals[0].item<double>() / n, totals[1].item<double>() / n,
                  static_cast<std::int64_t>(n), totals[3].item<double>() / n};
}

}  // namespace

Accuracy evaluate_model(Classifier& model, Loader& val, std::uint64_t split_size,
                        dist::Communicator& comm, c10::Device device, double progress_seconds) {
  return *evaluate_until_stopped(model, val, split_size, comm, device, nullptr, progress_seconds);
}

void Trainer::synchronise_buffers() {
  if (comm_.size() == 1) return;
  std::vector<at::Tensor> buffers;
  for (const auto& buffer : model_.buffers())
    if (at::isFloatingType(buffer.scalar_type())) buffers.push_back(buffer);
  if (buffers.empty()) return;
  at::NoGradGuard no_grad;
  // One all-reduce for all of them (a few hundred values for the CNN teacher).
  std::vector<at::Tensor> flat;
  for (const auto& buffer : buffers) flat.push_back(buffer.reshape({-1}));
  at::Tensor all = at::cat(flat);
  comm_.all_reduce(all);
  all.div_(comm_.size());
  std::int64_t offset = 0;
  for (auto& buffer : buffers) {
    buffer.copy_(all.slice(0, offset, offset + buffer.numel()).view_as(buffer));
    offset += buffer.numel();
  }
}

std::optional<Accuracy> Trainer::evaluate(Loader& val, std::uint64_t split_size,
                                          dist::StopRequest* stop) {
  const std::optional<Accuracy> accuracy = evaluate_until_stopped(
      model_, val, split_size, comm_, device_, stop, kEvaluationProgressSeconds);
  model_.train();
  return accuracy;
}

void Trainer::save_checkpoint(std::int64_t step, bool evaluation_pending) const {
  if (!checkpoints_) fail("internal: a Trainer without a run folder cannot write checkpoints");
  if (comm_.rank() != 0) return;
  checkpoints_->save(step, [&](torch::serialize::OutputArchive& archive) {
    torch::serialize::OutputArchive model_archive, optimizer_archive;
    model_.save(model_archive);
    optimizer_->save(optimizer_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("step", at::tensor({step}, at::kLong));
    archive.write("elapsed_seconds", at::tensor({elapsed_seconds()}, at::kDouble));
    archive.write("segments", at::tensor({segments_}, at::kLong));
    archive.write("evaluation_pending", at::tensor({std::int64_t{evaluation_pending}}, at::kLong));
    archive.write("settings", c10::IValue(record_text(settings_record())));
    archive.write("best", at::tensor({best_.top1, best_.top5, static_cast<double>(best_.epoch)},
                                     at::kDouble));
  });
}

std::optional<std::int64_t> Trainer::resume() {
  if (!checkpoints_) fail("internal: a Trainer without a run folder cannot resume");
  // Rank 0 picks the checkpoint (a listing on a shared filesystem may lag on another node) and
  // every other rank loads that one.
  const auto read = [&](torch::serialize::InputArchive& archive) { read_checkpoint(archive); };
  std::optional<std::int64_t> step;
  if (comm_.rank() == 0)
    step = checkpoints_->load_latest(
        read, [&](const std::string& warning) { std::cerr << "warning: " << warning << "\n"; });
  at::Tensor chosen =
      at::full({1}, step.value_or(-1), at::TensorOptions(at::kLong).device(device_));
  comm_.broadcast(chosen, 0);
  const std::int64_t agreed = chosen.cpu().item<std::int64_t>();
  if (agreed < 0) return std::nullopt;
  if (comm_.rank() != 0) checkpoints_->load(agreed, read);
  model_.to(device_);
  return agreed;
}

SettingsRecord Trainer::settings_record() const {
  const MixupOptions& m = settings_.mixup;
  SettingsRecord record = settings_.recorded_settings;
  // The resolved values, whoever set them (the launcher's options or a library caller); the
  // names of the record of earlier versions, which compare with these.
  const std::map<std::string, std::string> resolved = {
      {"world_size", concat(comm_.size())},
      {"global_batch", concat(global_batch_)},
      {"steps_per_epoch", concat(schedule_.steps_per_epoch)},
      {"epochs", concat(settings_.epochs)},
      {"lr", concat(settings_.lr)},
      {"min_lr", concat(settings_.min_lr)},
      {"warmup_lr", concat(settings_.warmup_lr)},
      {"warmup_epochs", concat(settings_.warmup_epochs)},
      {"lr_per_step", concat(settings_.lr_per_step)},
      {"weight_decay", concat(settings_.weight_decay)},
      {"clip_grad", concat(settings_.clip_grad)},
      {"distill", concat(settings_.distill)},
      {"tau", concat(settings_.tau)},
      {"alpha", concat(settings_.alpha)},
      {"mixup", concat(m.mixup_alpha)},
      {"cutmix", concat(m.cutmix_alpha)},
      {"mix_probability", concat(m.probability)},
      {"mix_switch", concat(m.switch_probability)},
      {"smoothing", concat(m.label_smoothing)},
      {"seed", concat(settings_.seed)},
      {"warmup_prefix", concat(settings_.warmup_prefix)},
      {"kl_reduction", concat(static_cast<int>(settings_.kl_reduction))},
      // auto picks another precision on another processor: a resume must not switch it
      {"precision", precision_name(model_.precision())},
      {"model", model_.describe()}};
  record.insert(resolved.begin(), resolved.end());
  return record;
}

void Trainer::read_checkpoint(torch::serialize::InputArchive& archive) {
  // The resumed run continues exactly only under the settings the checkpoint was made with.
  c10::IValue recorded;
  SettingsRecord made;
  if (archive.try_read("settings", recorded))
    made = parse_record(recorded.toStringRef());
  else if (archive.try_read("exactness", recorded))  // an earlier version's: fewer keys
    made = parse_record(recorded.toStringRef(), ' ');
  const RecordComparison comparison = compare_records(made, settings_record());
  const auto joined = [](const std::vector<std::string>& items, const char* separator) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : separator) + item;
    return text;
  };
  if (!comparison.differences.empty())
    fail(checkpoints_->directory(),
         ": the checkpoint was made with other settings: ", joined(comparison.differences, "; "),
         ". A resume continues exactly only under the settings it was made with: rerun with "
         "those, or start a new run folder");
  if (!comparison.unrecorded.empty() && comm_.rank() == 0)
    std::cerr << "warning: " << checkpoints_->directory()
              << ": the checkpoint records only part of the settings (it was written by an "
                 "earlier tleg), so these were not compared: "
              << joined(comparison.unrecorded, ", ") << "\n";
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model_.load(model_archive);
  optimizer_->load(optimizer_archive);
  at::Tensor elapsed, segments;
  if (archive.try_read("elapsed_seconds", elapsed)) elapsed_before_ = elapsed.item<double>();
  if (archive.try_read("segments", segments)) segments_ = segments.item<std::int64_t>() + 1;
  at::Tensor pending;  // absent in checkpoints of older versions, which never stopped mid-way
  evaluation_pending_ =
      archive.try_read("evaluation_pending", pending) && pending.item<std::int64_t>() != 0;
  at::Tensor best;
  if (archive.try_read("best", best))  // absent in checkpoints of older versions
    best_ = {best[0].item<double>(), best[1].item<double>(),
             static_cast<std::int64_t>(best[2].item<double>())};
}

double Trainer::elapsed_seconds() const { return elapsed_before_ + segment_seconds(); }

double Trainer::segment_seconds() const { return seconds_since(started_); }

void Trainer::record_evaluation(const Accuracy& accuracy, std::int64_t epoch) {
  if (best_.epoch == 0 || accuracy.top1 > best_.top1)
    best_ = {accuracy.top1, accuracy.top5, epoch + 1};
}

std::string Trainer::last_checkpoint() const {
  const auto saved = checkpoints_ ? checkpoints_->checkpoints() : std::vector<std::string>{};
  return saved.empty() ? std::string("none") : saved.back();
}

TrainOutcome train_model(Classifier& model, const TrainData& data, const TrainSettings& settings,
                         const StageContext& context) {
  if (settings.distill && data.teacher == nullptr && !data.train.has_teacher_logits())
    fail(
        "distillation needs a teacher (--distill.teacher) or stored teacher logits "
        "(--distill.logits)");
  if (data.train.batch_size() != settings.batch)
    fail("internal: the training loader's batch (", data.train.batch_size(),
         ") is not the settings' (", settings.batch, ")");
  const bool root = context.root();
  std::filesystem::create_directories(settings.run_dir);
  std::int64_t steps_per_epoch = static_cast<std::int64_t>(data.train.steps_per_epoch());
  if (settings.max_steps_per_epoch > 0)
    steps_per_epoch = std::min(steps_per_epoch, settings.max_steps_per_epoch);
  if (steps_per_epoch == 0)
    fail("the training split gives no full batch per rank; lower the batch size");
  Trainer trainer(model, context, settings, steps_per_epoch, data.teacher);
  const std::int64_t total_steps = trainer.total_steps();

  TrainOutcome outcome;
  dist::StopRequest stop(context.comm);
  // The stop that every rank agreed on, after the checkpoint of `step` was written.
  const auto stopped = [&](std::int64_t step) {
    return dist::Stopped(
        concat("stopped by ", dist::signal_name(stop.signal()), " after step ", step, " of ",
               total_steps,
               " (a time limit, scancel, requeue or Ctrl-C, or the launcher ending the "
               "job because another rank failed: that rank's error is printed above if "
               "so); the checkpoint of step ",
               step, " is in ", settings.run_dir, "/checkpoints"),
        stop.signal(), root);
  };
  bool evaluated = false;  // the final evaluation done
  // The evaluation at the end of the epoch that `step` ends; false when a stop interrupted it.
  const auto evaluate_epoch = [&](std::int64_t step, TrainingLog& log) {
    const std::int64_t epoch = step / steps_per_epoch - 1;
    const std::optional<Accuracy> accuracy = trainer.evaluate(*data.val, data.val_size, &stop);
    if (!accuracy) return false;
    outcome.top1 = accuracy->top1;
    outcome.top5 = accuracy->top5;
    trainer.record_evaluation(*accuracy, epoch);
    log.evaluation(step, epoch, *accuracy);
    evaluated = step >= total_steps;
    return true;
  };

  std::int64_t step = 0;
  if (settings.resume) {
    if (const auto resumed = trainer.resume()) {
      step = outcome.resumed_from = *resumed;
      if (root) std::cerr << "resuming at step " << step << " of " << total_steps << "\n";
    } else if (root) {
      std::cerr << "--resume: no checkpoint in " << settings.run_dir
                << "/checkpoints yet; starting at step 0\n";
    }
  }
  TrainingLog log(settings, root, step);
  // A stop that came during an epoch-end evaluation: the evaluation is done again here.
  if (trainer.evaluation_pending() && data.val != nullptr && !evaluate_epoch(step, log))
    throw stopped(step);
  std::int64_t steps_this_run = 0;
  while (step < total_steps) {
    const std::int64_t epoch = step / steps_per_epoch, in_epoch = step % steps_per_epoch;
    if (in_epoch == 0 || steps_this_run == 0)
      data.train.start_epoch(static_cast<std::uint64_t>(epoch),
                             static_cast<std::uint64_t>(in_epoch));
    const Clock::time_point step_start = Clock::now();
    const std::optional<Batch> batch = data.train.next();
    if (!batch) fail("internal: the loader ended epoch ", epoch, " before step ", in_epoch);
    const double data_wait = seconds_since(step_start);
    trainer.step(*batch, step);
    const double lr = trainer.learning_rate(step);
    ++step;
    ++steps_this_run;

    const bool epoch_end = step % steps_per_epoch == 0;
    const bool stop_now =
        settings.stop_after_steps > 0 && steps_this_run >= settings.stop_after_steps;
    // Every step (a host-side flag, no wait); the last step's evaluation may still be stopped.
    bool stopping = stop.agreed() && step < total_steps;
    const bool checkpoint_due =
        (settings.checkpoint_every > 0 && step % settings.checkpoint_every == 0) || epoch_end;
    const bool log_due = step % settings.log_interval == 0 || step == total_steps;
    // The ranks agree on the loss at log lines and before checkpoints and evaluations only (each
    // agreement waits for the device): a checkpoint never holds a non-finite model.
    std::optional<Agreement> agreed;
    if (log_due || checkpoint_due || stop_now || stopping) {
      agreed = trainer.agree();
      if (!std::isfinite(agreed->loss))
        fail("the loss became ", agreed->loss, " at step ", step, " or in the ", agreed->steps - 1,
             " step(s) before it (epoch ", epoch,
             "); stopped without saving. The last good checkpoint is ", trainer.last_checkpoint(),
             ". Lower the learning rate or enable gradient clipping (optim.clip-grad), then "
             "--resume");
    }
    log.step(step, epoch, epoch_end, trainer, agreed, lr, data_wait, seconds_since(step_start));
    bool evaluation_pending = false;
    if (epoch_end && data.val != nullptr) {
      evaluation_pending = stopping || !evaluate_epoch(step, log);
      stopping = stopping || evaluation_pending;
    }
    // After the evaluation, so that the checkpoint carries the best accuracy so far.
    if (checkpoint_due || stop_now || stopping) trainer.save_checkpoint(step, evaluation_pending);
    if (stopping) throw stopped(step);
    if (stop_now) {
      outcome.finished = step >= total_steps;
      break;
    }
  }
  // Resumed from the checkpoint of the last step (killed during the final evaluation): the
  // evaluation of that checkpoint is the run's result.
  if (!evaluated && step >= total_steps && data.val != nullptr && outcome.finished &&
      !evaluate_epoch(step, log))
    throw stopped(step);
  stop.finish();
  outcome.best_top1 = trainer.best().top1;
  outcome.best_top5 = trainer.best().top5;
  outcome.best_epoch = trainer.best().epoch;
  outcome.steps = total_steps;
  outcome.images = total_steps * trainer.global_batch();
  outcome.wall_seconds = trainer.elapsed_seconds();
  outcome.segment_seconds = trainer.segment_seconds();
  outcome.segments = trainer.segments();
  outcome.data_wait_fraction = log.data_wait_fraction();
  return outcome;
}

}  // namespace tleg

// The training of both stages, data-parallel through the distributed runtime: stage 1 (the
// auxiliary net, soft distillation from a teacher) and stage 2 (a descendant or a baseline,
// cross-entropy on mixed, smoothed targets). A Trainer holds what one step needs (the model's
// optimiser, the gradient reducer, the schedule, the checkpoints); train_model runs the loop of a
// stage with it. Resumable with nothing lost: every random choice is a function of (seed, step,
// rank), so a resumed run continues exactly.
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/mixup.h"
#include "dist/gradient_reducer.h"
#include "train/checkpoint.h"
#include "train/losses.h"
#include "train/schedule.h"
#include "train/settings_record.h"

namespace torch::optim {
class AdamW;
}
namespace torch::serialize {
class InputArchive;
}

namespace tleg {

struct Batch;
class Loader;
class Teacher;
class Classifier;
namespace dist {
class Communicator;
class World;
class StopRequest;
}  // namespace dist

struct TrainSettings {
  std::int64_t epochs = 1;
  // Caps the steps of an epoch (0: the whole epoch): a quick run over part of the data. The
  // ledger counts the images actually processed.
  std::int64_t max_steps_per_epoch = 0;
  std::int64_t batch = 128;  // per rank
  double lr = 5e-4;          // per 512 images; scaled by the global batch
  double min_lr = 1e-5;
  double warmup_lr = 1e-6;
  std::int64_t warmup_epochs = 0;
  bool warmup_prefix = false;  // timm's: cosine after the warm-up (DeiT: inside it)
  bool lr_per_step = false;
  double weight_decay = 0.05;
  double clip_grad = 0.0;  // max gradient norm; 0: no clipping
  // Stage 1: distillation (tau, alpha; alpha = 1: no label term) from `teacher` run on the mixed
  // batch, or, when the batch carries stored teacher logits, from those (teacher unused).
  bool distill = false;
  double tau = 1.0, alpha = 1.0;
  KlReduction kl_reduction = KlReduction::kMean;
  MixupOptions mixup;
  std::int64_t log_interval = 50;     // steps
  std::int64_t checkpoint_every = 0;  // steps; 0: at epoch ends only
  std::int64_t keep_checkpoints = 3;
  bool resume = false;
  std::uint64_t seed = 0;
  std::string
      run_dir;  // checkpoints, metrics.jsonl, outputs; empty: a Trainer keeps no checkpoints
  // Stops (with a checkpoint written) after this many steps of this process: used by tests
  // and by schedulers that give a job a time slice. 0: run to the end.
  std::int64_t stop_after_steps = 0;
  // What else decides the computation, as key = value: the launcher's resolved options (all but
  // those that cannot change a result), the store's fingerprint. Every checkpoint records them
  // with the Trainer's own (settings_record()), and a resume under other values is refused.
  SettingsRecord recorded_settings;
};

// Where training runs: its communicator (the world, or a sweep group), this rank's device, and
// the world (where every rank runs, for run.json).
struct StageContext {
  dist::Communicator& comm;
  c10::Device device;
  const dist::World& world;
  bool root() const;
};

// What a stage trains on: the training loader, the evaluation loader (may be null; `val_size` is
// its split size) and the live teacher of stage 1 (may be null).
struct TrainData {
  Loader& train;
  Loader* val = nullptr;
  std::uint64_t val_size = 0;
  Teacher* teacher = nullptr;
};

struct TrainOutcome {
  double top1 = 0, top5 = 0;  // the last evaluation's
  // The best evaluation's (highest top-1; DeiT reports this maximum over epochs), and its
  // epoch counted from 1 (0: never evaluated). Kept in checkpoints, so resumed runs keep it.
  double best_top1 = 0, best_top5 = 0;
  std::int64_t best_epoch = 0;
  std::int64_t steps = 0, images = 0;  // this run's whole schedule (all ranks)
  std::int64_t resumed_from = -1;      // the checkpoint step, when resumed
  double wall_seconds = 0;             // every segment's time (a resumed run adds the checkpoint's)
  double segment_seconds = 0;          // this process's time
  std::int64_t segments = 1;           // this process and the ones it resumed
  double data_wait_fraction = 0;       // share of step time spent waiting for batches
  bool finished = true;                // false when stopped by stop_after_steps
};

// How often an evaluation says how far it is (a minute-long ImageNet evaluation says it a few
// times; Fashion-MNIST's, over in a second, says nothing).
inline constexpr double kEvaluationProgressSeconds = 10;

struct Accuracy {
  double top1 = 0, top5 = 0;
  std::int64_t samples = 0;
  double loss = 0;  // mean cross-entropy against the labels (float32 logits)
};

// The evaluation of highest top-1 so far (DeiT's max accuracy) and its epoch, from 1 (0: none).
struct BestAccuracy {
  double top1 = 0, top5 = 0;
  std::int64_t epoch = 0;
};

// What one step gives back: this rank's times.
struct StepResult {
  double teacher_seconds = 0;  // the live teacher's forward pass
  double reduce_seconds = 0;   // waiting for the gradient all-reduce (GradientReducer::finish)
};

// What every rank agrees on at an agreement (Trainer::agree): the loss of the steps since the
// last one. (A stop request is agreed on every step: dist/stop.h.)
struct Agreement {
  double loss = 0;         // mean over ranks and over the steps since the last agreement
  std::int64_t steps = 0;  // those steps
};

class Trainer {
 public:
  // `steps_per_epoch` and settings.batch set the schedule (the rate is scaled by the global
  // batch) and key each step's random draws. Parameters are broadcast from rank 0. `teacher`
  // (may be null) is run live when a stage-1 batch carries no stored logits.
  Trainer(Classifier& model, const StageContext& context, const TrainSettings& settings,
          std::int64_t steps_per_epoch, Teacher* teacher = nullptr,
          const dist::GradientReducerOptions& reducer = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Training step `step` (0-based over the whole schedule) on `batch`: Mixup/CutMix, forward,
  // loss, backward with the gradient all-reduce, clipping, AdamW at the schedule's rate, then
  // the model's floating-point buffers (a CNN's BatchNorm running statistics, each rank's from
  // its own batches) averaged over the ranks, so that every rank holds the same model at every
  // step: evaluations and checkpoints (rank 0's) see the same model on every rank, and a resumed
  // run continues exactly.
  // The loss stays on the device until agree().
  StepResult step(const Batch& batch, std::int64_t step);
  // Collective: the ranks share the losses of the steps since the last agreement (one
  // device-to-host wait). Needs a step since the last agreement.
  Agreement agree();
  // Top-1 and top-5 over the whole split of `split_size` samples, each counted once across ranks:
  // `val` must be an evaluation loader (no shuffling, padding kept, short last batch kept).
  // Nothing when `stop` (may be null) agrees before the last batch: every rank alike.
  std::optional<Accuracy> evaluate(Loader& val, std::uint64_t split_size,
                                   dist::StopRequest* stop = nullptr);
  // Rank 0 writes the model and optimiser state after `step` steps (every rank holds the same)
  // into RUN_DIR/checkpoints, with the run's elapsed time so far (elapsed_seconds()).
  // `evaluation_pending`: a stop interrupted the evaluation of the epoch that `step` ends, which
  // the resumed run does first.
  void save_checkpoint(std::int64_t step, bool evaluation_pending = false) const;
  // Rank 0 picks the newest valid checkpoint of the run folder and every rank loads that one (the
  // folder must be on a filesystem all ranks share); returns its step, or nothing when there is
  // none. A checkpoint made under other settings (settings_record()) is refused with a message
  // naming each key that differs, with its old and new value.
  std::optional<std::int64_t> resume();
  // Keeps the best evaluation (epoch from 0); checkpoints carry it, so a resumed run keeps it.
  void record_evaluation(const Accuracy& accuracy, std::int64_t epoch);
  const BestAccuracy& best() const { return best_; }
  // Whether the resumed checkpoint's epoch-end evaluation is still to be done.
  bool evaluation_pending() const { return evaluation_pending_; }
  // What exact continuation depends on, as key = value: the settings' recorded_settings and the
  // Trainer's own resolved values (ranks, global batch, steps per epoch, the schedule and loss,
  // the precision, the model); recorded in every checkpoint.
  SettingsRecord settings_record() const;

  std::int64_t total_steps() const { return schedule_.epochs * schedule_.steps_per_epoch; }
  std::int64_t steps_per_epoch() const { return schedule_.steps_per_epoch; }
  std::int64_t global_batch() const { return global_batch_; }
  double learning_rate(std::int64_t step) const { return schedule_.at(step); }
  std::int64_t bytes_reduced_last_step() const { return reducer_.bytes_reduced_last_step(); }
  // The newest checkpoint written, or "none".
  std::string last_checkpoint() const;
  // The run's time so far: this Trainer's life plus what the resumed checkpoint had counted.
  double elapsed_seconds() const;
  double segment_seconds() const;
  std::int64_t segments() const { return segments_; }  // this process and the ones it resumed

 private:
  void synchronise_buffers();  // collective; nothing to do for the ViTs (no buffers)
  void read_checkpoint(torch::serialize::InputArchive& archive);

  Classifier& model_;
  dist::Communicator& comm_;
  TrainSettings settings_;
  c10::Device device_;
  Teacher* teacher_;
  std::vector<at::Tensor> parameters_;
  dist::GradientReducer reducer_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::int64_t global_batch_;
  CosineSchedule schedule_;
  std::optional<CheckpointStore> checkpoints_;  // none without a run folder
  MixupOptions mixup_;
  BestAccuracy best_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  double elapsed_before_ = 0;  // seconds counted by the segments before the resumed checkpoint
  std::int64_t segments_ = 1;
  bool evaluation_pending_ = false;  // of the resumed checkpoint
  at::Tensor loss_sum_;  // on the device: the losses of the steps since the last agreement
  std::int64_t unagreed_steps_ = 0;
};

// Top-1 and top-5 of `model` (put in eval mode) over the whole split of `split_size` samples,
// each counted once across the ranks of `comm`: `val` must be an evaluation loader (no
// shuffling, padding kept, short last batch kept). Collective. Rank 0 says how far it is,
// "evaluating: 12,288 of 50,000 images (25%), 31 s", at most every `progress_seconds` (0: after
// every batch), so a long evaluation is not mistaken for a hang.
Accuracy evaluate_model(Classifier& model, Loader& val, std::uint64_t split_size,
                        dist::Communicator& comm, c10::Device device,
                        double progress_seconds = kEvaluationProgressSeconds);

// Runs a stage's whole schedule (or resumes it): steps, logging, checkpoints, an evaluation at
// every epoch end, and stops on a non-finite loss, on SIGTERM/SIGUSR1/SIGINT (within two steps
// or during an evaluation, with a checkpoint; throws Stopped) or after
// settings.stop_after_steps.
TrainOutcome train_model(Classifier& model, const TrainData& data, const TrainSettings& settings,
                         const StageContext& context);

}  // namespace tleg

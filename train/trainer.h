// The training loop of both stages, data-parallel through the distributed runtime: stage 1
// (the auxiliary net, soft distillation from a teacher) and stage 2 (a descendant or a baseline,
// cross-entropy on mixed, smoothed targets). Resumable from its checkpoints with nothing lost:
// every random choice is a function of (seed, step, rank), so a resumed run continues exactly.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "data/mixup.h"
#include "train/losses.h"

namespace tleg {

class Loader;
class Teacher;
class VitBase;
namespace dist {
class Communicator;
}

struct TrainSettings {
  std::int64_t epochs = 1;
  // Caps the steps of an epoch (0: the whole epoch): a quick run over part of the data. The
  // ledger counts the images actually processed.
  std::int64_t max_steps_per_epoch = 0;
  double lr = 5e-4;  // per 512 images; scaled by the global batch
  double min_lr = 1e-5;
  double warmup_lr = 1e-6;
  std::int64_t warmup_epochs = 0;
  bool warmup_prefix = false;  // timm's: cosine after the warm-up (DeiT: inside it)
  bool lr_per_step = false;
  double weight_decay = 0.05;
  double clip_grad = 0.0;  // max gradient norm; 0: no clipping
  // Stage 1: distillation (tau, alpha; alpha = 1: no label term) from `teacher` run on the mixed
  // batch, or, when the train loader carries stored teacher logits, from those (teacher unused).
  bool distill = false;
  double tau = 1.0, alpha = 1.0;
  KlReduction kl_reduction = KlReduction::kMean;
  MixupOptions mixup;
  std::int64_t log_interval = 50;     // steps
  std::int64_t checkpoint_every = 0;  // steps; 0: at epoch ends only
  std::int64_t keep_checkpoints = 3;
  std::int64_t eval_every = 1;  // epochs; the last epoch is always evaluated
  bool resume = false;
  std::uint64_t seed = 0;
  std::string run_dir;
  // Stops (with a checkpoint written) after this many steps of this process: used by tests
  // and by schedulers that give a job a time slice. 0: run to the end.
  std::int64_t stop_after_steps = 0;
};

struct TrainOutcome {
  double top1 = 0, top5 = 0;  // the last evaluation's
  // The best evaluation's (highest top-1; DeiT reports this maximum over epochs), and its
  // epoch counted from 1 (0: never evaluated). Kept in checkpoints, so resumed runs keep it.
  double best_top1 = 0, best_top5 = 0;
  std::int64_t best_epoch = 0;
  std::int64_t steps = 0, images = 0;  // this run's whole schedule (all ranks)
  std::int64_t resumed_from = -1;      // the checkpoint step, when resumed
  double wall_seconds = 0;             // this process's time
  double data_wait_fraction = 0;       // share of step time spent waiting for batches
  bool finished = true;                // false when stopped by stop_after_steps
};

struct Accuracy {
  double top1 = 0, top5 = 0;
  std::int64_t samples = 0;
};

// `val` (may be null) is evaluated every settings.eval_every epochs; `val_size` is its split size.
TrainOutcome train_model(VitBase& model, Loader& train, Loader* val, std::uint64_t val_size,
                         dist::Communicator& comm, Teacher* teacher, const TrainSettings& settings,
                         c10::Device device);

// Top-1 and top-5 over the whole split of `split_size` samples, each counted once across ranks:
// `val` must be an evaluation loader (no shuffling, padding kept, short last batch kept); the
// padding of the distributed sampler is left out.
Accuracy evaluate(VitBase& model, Loader& val, std::uint64_t split_size, dist::Communicator& comm,
                  c10::Device device);

}  // namespace tleg

// Learning-rate schedule of the released recipe: timm's CosineLRScheduler (linear warm-up from
// warmup_lr, cosine to min_lr over `epochs` measured from t = 0) as DeiT's main.py steps it.
#pragma once

#include <cstdint>

namespace tleg {

// The rates come from the run's TrainSettings (train/trainer.h holds their defaults).
struct CosineSchedule {
  double base_lr = 0;
  double min_lr = 0;
  double warmup_lr = 0;
  std::int64_t warmup_epochs = 0;
  std::int64_t epochs = 1;
  std::int64_t steps_per_epoch = 1;
  // false (the released recipe): DeiT calls scheduler.step(epoch) after each epoch, so epoch 0
  // trains at f(0) and epoch e at f(e - 1). true: f(step / steps_per_epoch) at every step, as
  // timm's step_update does.
  bool per_step = false;
  // timm's warmup_prefix: false (DeiT) runs the cosine over [0, epochs) with the warm-up inside
  // it; true starts the cosine after the warm-up (tleg's schedule before it matched DeiT).
  bool warmup_prefix = false;

  // f(t): timm's CosineLRScheduler._get_lr at t epochs (one cycle; the floor afterwards).
  double value(double t) const;
  // The rate the optimiser uses at `global_step`.
  double at(std::int64_t global_step) const;
};

// 5e-4 x batch / 512, the recipes' linear scaling rule.
inline double scaled_lr(double lr_per_512, std::int64_t global_batch) {
  return lr_per_512 * static_cast<double>(global_batch) / 512.0;
}

}  // namespace tleg

// Learning-rate schedule of the DeiT/TLEG recipes: linear warm-up from warmup_lr, then cosine
// decay to min_lr, evaluated per epoch (timm's t_in_epochs, the released recipe) or per step.
#pragma once

#include <cstdint>

namespace tleg {

struct CosineSchedule {
  double base_lr = 5e-4;
  double min_lr = 1e-5;
  double warmup_lr = 1e-6;
  std::int64_t warmup_epochs = 0;
  std::int64_t epochs = 1;
  std::int64_t steps_per_epoch = 1;
  bool per_step = false;  // false: the rate changes at epoch boundaries only

  double at(std::int64_t global_step) const;
};

// 5e-4 x batch / 512, the recipes' linear scaling rule.
inline double scaled_lr(double lr_per_512, std::int64_t global_batch) {
  return lr_per_512 * static_cast<double>(global_batch) / 512.0;
}

}  // namespace tleg

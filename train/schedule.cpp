#include "train/schedule.h"

#include <cmath>
#include <numbers>

namespace tleg {

double CosineSchedule::at(std::int64_t global_step) const {
  const double epoch = per_step
                           ? static_cast<double>(global_step) / static_cast<double>(steps_per_epoch)
                           : static_cast<double>(global_step / steps_per_epoch);
  const double warmup = static_cast<double>(warmup_epochs);
  if (epoch < warmup) return warmup_lr + epoch * (base_lr - warmup_lr) / warmup;
  const double span = std::max(1.0, static_cast<double>(epochs) - warmup);
  const double progress = std::min(1.0, (epoch - warmup) / span);
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace tleg

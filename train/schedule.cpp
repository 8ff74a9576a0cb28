#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tleg {

double CosineSchedule::value(double t) const {
  const double warmup = static_cast<double>(warmup_epochs);
  if (t < warmup) return warmup_lr + t * (base_lr - warmup_lr) / warmup;
  if (warmup_prefix) t -= warmup;
  const double span = static_cast<double>(warmup_prefix ? epochs - warmup_epochs : epochs);
  if (span <= 0 || t >= span) return min_lr;  // past the single cycle: timm's cycle_limit = 1
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * t / span));
}

double CosineSchedule::at(std::int64_t global_step) const {
  if (per_step)
    return value(static_cast<double>(global_step) / static_cast<double>(steps_per_epoch));
  const std::int64_t epoch = global_step / steps_per_epoch;
  return value(static_cast<double>(std::max<std::int64_t>(epoch - 1, 0)));
}

}  // namespace tleg

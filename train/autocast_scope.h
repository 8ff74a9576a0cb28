// bf16 autocast for forward passes on a GPU; nothing on the CPU. Not the released recipe's
// mixed precision (fp16 with a GradScaler): bf16 needs no loss scaling (docs/method.md §9).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

namespace tleg {

class AutocastScope {
 public:
  explicit AutocastScope(c10::Device device) : enabled_(device.is_cuda()) {
    if (!enabled_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
};

}  // namespace tleg

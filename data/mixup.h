// Mixup / CutMix on a batch (timm's Mixup, mode 'batch'): sample i is mixed with sample
// B-1-i (the batch flipped), with one λ per batch. The decision (λ, CutMix box) is a function
// of (seed, epoch, step, rank) through the counter-based generator, so a resumed or re-run
// step mixes identically, and soft targets from a teacher can be mixed the same way later.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace tleg {

struct MixupOptions {
  double mixup_alpha = 0.8;         // Beta(α, α) for Mixup; 0 disables Mixup
  double cutmix_alpha = 1.0;        // Beta(α, α) for CutMix; 0 disables CutMix
  double probability = 1.0;         // of mixing a batch at all
  double switch_probability = 0.5;  // CutMix instead of Mixup when both are enabled
  double label_smoothing = 0.1;
  bool correct_lambda = true;  // λ from the clipped CutMix box area (timm's correct_lam)
  std::uint64_t seed = 0;
};

struct MixDecision {
  bool mixed = false;  // false: λ = 1, the batch is left as it is
  bool cutmix = false;
  double lambda = 1.0;  // weight of the sample itself; 1 - λ goes to its partner
  // CutMix box [y0, y1) x [x0, x1) in output pixels, pasted from the partner.
  std::int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
  // Sample i is mixed with partner(i) = batch - 1 - i (the batch flipped, as timm).
  static std::int64_t partner(std::int64_t sample, std::int64_t batch) {
    return batch - 1 - sample;
  }
};

// The decision for one step of one rank; needs no tensors.
MixDecision draw_mix(const MixupOptions& options, std::uint64_t epoch, std::uint64_t step,
                     std::uint64_t rank, std::int64_t height, std::int64_t width);

// Mixes images [B, C, H, W] in place.
void mix_images(at::Tensor& images, const MixDecision& decision);
// Smoothed one-hot targets of `labels` [B] (int64) mixed with their partners': [B, classes]
// float, each row sums to 1.
at::Tensor mix_targets(const at::Tensor& labels, std::int64_t classes, double label_smoothing,
                       const MixDecision& decision);
// Mixes per-sample soft targets [B, K] (a teacher's probabilities) with the same pairing and λ.
at::Tensor mix_soft_targets(const at::Tensor& targets, const MixDecision& decision);

}  // namespace tleg

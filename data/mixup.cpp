#include "data/mixup.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/counter_rng.h"

namespace tleg {
namespace {
// Keeps the mixing stream apart from the view stream for the same numbers.
constexpr std::uint64_t kMixupStream = 0x6d69787570ULL;  // "mixup"
}  // namespace

MixDecision draw_mix(const MixupOptions& options, std::uint64_t epoch, std::uint64_t step,
                     std::uint64_t rank, std::int64_t height, std::int64_t width) {
  CounterRng rng{counter_key({kMixupStream, options.seed, epoch, step, rank}), 0};
  MixDecision decision;
  const bool mixup = options.mixup_alpha > 0, cutmix = options.cutmix_alpha > 0;
  if (!(mixup || cutmix) || !(rng.uniform() < options.probability)) return decision;
  if (mixup && cutmix)
    decision.cutmix = rng.uniform() < options.switch_probability;
  else
    decision.cutmix = cutmix;
  const double alpha = decision.cutmix ? options.cutmix_alpha : options.mixup_alpha;
  decision.lambda = rng.beta(alpha, alpha);
  decision.mixed = true;
  if (decision.cutmix) {
    // timm's rand_bbox: a box of side sqrt(1 - λ) centred anywhere, clipped to the image.
    const double ratio = std::sqrt(1.0 - decision.lambda);
    const auto cut_h = static_cast<std::int64_t>(height * ratio);
    const auto cut_w = static_cast<std::int64_t>(width * ratio);
    const std::int64_t cy = rng.uniform_int(0, height - 1), cx = rng.uniform_int(0, width - 1);
    decision.y0 = std::clamp<std::int64_t>(cy - cut_h / 2, 0, height);
    decision.y1 = std::clamp<std::int64_t>(cy + cut_h / 2, 0, height);
    decision.x0 = std::clamp<std::int64_t>(cx - cut_w / 2, 0, width);
    decision.x1 = std::clamp<std::int64_t>(cx + cut_w / 2, 0, width);
    if (options.correct_lambda)
      decision.lambda =
          1.0 - static_cast<double>((decision.y1 - decision.y0) * (decision.x1 - decision.x0)) /
                    static_cast<double>(height * width);
  }
  return decision;
}

void mix_images(at::Tensor& images, const MixDecision& decision) {
  if (!decision.mixed) return;
  if (images.dim() != 4) fail("mixup: images must be [B, C, H, W], got ", images.sizes());
  const at::Tensor flipped = images.flip({0});
  if (decision.cutmix) {
    using at::indexing::Slice;
    const auto rows = Slice(decision.y0, decision.y1), cols = Slice(decision.x0, decision.x1);
    // flip() copies, so the pasted region comes from the unmixed partners.
    images.index({Slice(), Slice(), rows, cols})
        .copy_(flipped.index({Slice(), Slice(), rows, cols}));
  } else {
    images.mul_(decision.lambda).add_(flipped, 1.0 - decision.lambda);
  }
}

at::Tensor mix_targets(const at::Tensor& labels, std::int64_t classes, double label_smoothing,
                       const MixDecision& decision) {
  if (labels.dim() != 1) fail("mixup: labels must be [B], got ", labels.sizes());
  const double off = label_smoothing / static_cast<double>(classes);
  const double on = 1.0 - label_smoothing + off;
  at::Tensor one_hot = at::full({labels.size(0), classes}, off, labels.options().dtype(at::kFloat));
  one_hot.scatter_(1, labels.to(at::kLong).unsqueeze(1), on);
  return mix_soft_targets(one_hot, decision);
}

at::Tensor mix_soft_targets(const at::Tensor& targets, const MixDecision& decision) {
  if (!decision.mixed) return targets;
  return targets * decision.lambda + targets.flip({0}) * (1.0 - decision.lambda);
}

}  // namespace tleg

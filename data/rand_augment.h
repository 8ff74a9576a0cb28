// timm's RandAugment (auto_augment.py) as DeiT configures it: which ops a view draws (kept in
// ViewParams, so stored views regenerate them) and each op applied with Pillow's arithmetic.
// No torch in this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/counter_rng.h"
#include "data/jpeg_codec.h"

namespace tleg {

struct ViewRecipe;

// timm's RandAugment op set (_RAND_TRANSFORMS / _RAND_INCREASING_TRANSFORMS).
enum class AugmentOp : std::uint8_t {
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,
  kPosterize,
  kSolarize,
  kSolarizeAdd,
  kColor,
  kContrast,
  kBrightness,
  kSharpness,
  kShearX,
  kShearY,
  kTranslateXRel,
  kTranslateYRel,
};
inline constexpr int kAugmentOpCount = 15;
std::string augment_op_name(AugmentOp op);

// timm's RandAugment, configured by its string: 'rand-m9-mstd0.5-inc1' (DeiT) is the default.
struct RandAugmentRecipe {
  int ops = 2;                  // 'n2' (timm default num_layers)
  double magnitude = 9;         // 'm9', on timm's 0..10 scale
  double magnitude_std = 0.5;   // 'mstd0.5': magnitude ~ N(m, std) per op, clipped to [0, 10]
  double op_probability = 0.5;  // timm's AugmentOp prob for RandAugment
  // timm's '-inc1' variant (DeiT's default string 'rand-m9-mstd0.5-inc1'): magnitudes of
  // Posterize, Solarize and the enhance ops grow with the level instead of shrinking.
  bool increasing = true;
  double translate_fraction = 0.45;  // timm's translate_pct

  // Parses timm's config string: 'rand' then '-'-separated m<magnitude>, n<ops>,
  // mstd<magnitude std>, inc<0|1>, p<op probability>; unknown parts are an error.
  static RandAugmentRecipe parse(const std::string& config);
  std::string describe() const;  // back to the string
};

struct AppliedAugment {
  AugmentOp op = AugmentOp::kAutoContrast;
  double argument = 0;  // the op's level argument after timm's level function (signed)
  bool operator==(const AppliedAugment&) const = default;
};

// The ops of one view, drawn from `rng` in timm's order (op, skip, magnitude, sign): the draw
// order is part of the format of stored views.
std::vector<AppliedAugment> draw_augments(const RandAugmentRecipe& recipe, CounterRng& rng);

// The op's argument at `magnitude` (clipped to timm's 0..10) with timm's level function; negate
// takes timm's random sign for the signed ops (ignored by the others).
AppliedAugment augment_at(AugmentOp op, double magnitude, bool negate,
                          const RandAugmentRecipe& recipe);

// Applies one op in place with timm's semantics; geometric ops resample with the recipe's
// interpolation and fill with its mean colour (timm's img_mean).
void apply_augment(Image& image, const AppliedAugment& augment, const ViewRecipe& recipe);

}  // namespace tleg

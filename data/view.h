// Training and evaluation views of one image: what is chosen (ViewParams, a pure function of
// seed, epoch, sample and view through a counter-based generator) is kept apart from how it is
// rendered, so a view can be stored (the teacher-logits store keeps the params) and regenerated
// bit-exactly by any rank or thread. The recipe follows DeiT's timm pipeline: RandomResizedCrop,
// horizontal flip, RandAugment (data/rand_augment.h), normalisation, random erasing. No torch in
// this header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/counter_rng.h"
#include "data/jpeg_codec.h"
#include "data/rand_augment.h"

namespace tleg {

enum class Interpolation { kBilinear, kBicubic };

struct ViewRecipe {
  int output_height = 224, output_width = 224;
  int channels = 3;  // decoded channels (1 for Fashion-MNIST)
  // RandomResizedCrop, torchvision's defaults.
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  Interpolation interpolation = Interpolation::kBicubic;
  double flip_probability = 0.5;
  bool rand_augment = true;
  RandAugmentRecipe augment;
  // timm RandomErasing(probability, mode='pixel', max_count=1), on the normalised image.
  double erase_probability = 0.25;
  double erase_min_area = 0.02, erase_max_area = 1.0 / 3.0;
  double erase_min_aspect = 0.3;  // max aspect is its inverse
  // Per channel (only the first `channels` are used). ImageNet's defaults.
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  // Decode JPEGs at 1/2, 1/4 or 1/8 scale when the crop stays at least the output size there
  // (off by default: the released pipeline decodes in full, and a scaled decode changes the
  // pixels). Only the power-of-two factors: libjpeg-turbo has SIMD IDCTs for them, the others
  // are slower than a full decode.
  bool dct_scaling = false;
  // Evaluation (DeiT's eval_crop_ratio): Resize the shorter side to floor(output / fraction),
  // then CenterCrop(output): 256 -> 224 for ImageNet; 1.0 keeps 28-px Fashion-MNIST as it is.
  double eval_crop_fraction = 0.875;

  // DeiT's training recipe at `size`; the evaluation transform uses the same struct.
  static ViewRecipe deit(int size = 224);
  // Only RandomResizedCrop + flip + normalise (no RandAugment, no erasing).
  static ViewRecipe basic(int size = 224);
};

struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;  // in source pixels (full resolution)
  bool operator==(const CropBox&) const = default;
};

struct EraseBox {
  int top = 0, left = 0, height = 0, width = 0;  // in output pixels
  bool operator==(const EraseBox&) const = default;
};

// Everything random about one view. Storing this (and the recipe) is enough to regenerate it.
struct ViewParams {
  int source_width = 0, source_height = 0;
  CropBox crop;
  bool flip = false;
  std::vector<AppliedAugment> augments;  // in order; ops that did not fire are omitted
  std::vector<EraseBox> erase;           // empty: no erasing
  std::uint64_t erase_noise_key = 0;     // per-pixel noise of erased boxes
  // Evaluation views: the crop is resized to this size first and the centre kept (0: the crop
  // is resized straight to the output).
  int resize_width = 0, resize_height = 0;
  bool operator==(const ViewParams&) const = default;
};

// A training view of sample `sample` of `epoch` (view > 0 for extra views of the same sample).
ViewParams draw_view(const ViewRecipe& recipe, int source_width, int source_height,
                     std::uint64_t seed, std::uint64_t epoch, std::uint64_t sample,
                     std::uint64_t view = 0);
// The deterministic evaluation view (Resize + CenterCrop, no flip, no augmentation).
ViewParams eval_view(const ViewRecipe& recipe, int source_width, int source_height);

// torchvision's RandomResizedCrop.get_params with the given generator state (10 attempts, then
// the centre crop clamped to the ratio range).
CropBox random_resized_crop(int width, int height, double scale_min, double scale_max,
                            double ratio_min, double ratio_max, CounterRng& rng);

// A stored image: JPEG bytes, or raw HWC uint8 of a known shape.
struct EncodedImage {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  bool jpeg = true;
  int raw_height = 0, raw_width = 0, raw_channels = 0;  // raw only
};

// The source size without decoding (JPEG header, or the raw shape).
JpegSize source_size(const EncodedImage& image);

// Decode (DCT-scaled where the recipe allows), crop, resize, flip, RandAugment: the uint8 view.
Image render_view(const EncodedImage& image, const ViewParams& params, const ViewRecipe& recipe);
// The same from an already decoded full-size image.
Image render_view(const Image& source, const ViewParams& params, const ViewRecipe& recipe);

// Writes the normalised view as CHW floats to `out` (channels * height * width) and applies
// the view's random erasing.
void normalize_view(const Image& view, const ViewParams& params, const ViewRecipe& recipe,
                    float* out);

}  // namespace tleg

#include "data/rand_augment.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "common/error.h"
#include "data/image_mat.h"
#include "data/view.h"

namespace tleg {
namespace {

constexpr double kLevelDenominator = 10.0;  // timm's _LEVEL_DENOM

int cv_interpolation(Interpolation interpolation) {
  return interpolation == Interpolation::kBicubic ? cv::INTER_CUBIC : cv::INTER_LINEAR;
}

bool op_is_signed(AugmentOp op, bool increasing) {
  switch (op) {
    case AugmentOp::kRotate:
    case AugmentOp::kShearX:
    case AugmentOp::kShearY:
    case AugmentOp::kTranslateXRel:
    case AugmentOp::kTranslateYRel:
      return true;
    case AugmentOp::kColor:
    case AugmentOp::kContrast:
    case AugmentOp::kBrightness:
    case AugmentOp::kSharpness:
      return increasing;
    default:
      return false;
  }
}

// timm's level-to-argument functions (auto_augment.py), before the random sign.
double level_argument(AugmentOp op, double level, const RandAugmentRecipe& recipe) {
  const double fraction = level / kLevelDenominator;
  switch (op) {
    case AugmentOp::kRotate:
      return fraction * 30.0;
    case AugmentOp::kPosterize: {
      const int bits = static_cast<int>(fraction * 4);
      return recipe.increasing ? 4 - bits : bits;
    }
    case AugmentOp::kSolarize: {
      const int threshold = static_cast<int>(fraction * 256);
      return recipe.increasing ? 256 - threshold : threshold;
    }
    case AugmentOp::kSolarizeAdd:
      return static_cast<int>(fraction * 110);
    case AugmentOp::kColor:
    case AugmentOp::kContrast:
    case AugmentOp::kBrightness:
    case AugmentOp::kSharpness:
      return recipe.increasing ? fraction * 0.9 : fraction * 1.8 + 0.1;
    case AugmentOp::kShearX:
    case AugmentOp::kShearY:
      return fraction * 0.3;
    case AugmentOp::kTranslateXRel:
    case AugmentOp::kTranslateYRel:
      return fraction * recipe.translate_fraction;
    default:
      return 0;
  }
}

cv::Scalar fill_colour(const ViewRecipe& recipe) {
  // timm's hparams img_mean: the dataset mean in 0..255, rounded.
  cv::Scalar fill;
  for (int c = 0; c < 3; ++c) fill[c] = std::round(recipe.mean[c] * 255.0);
  return fill;
}

// PIL's Image.transform(AFFINE, (a, b, c, d, e, f)) maps output to input in pixel-edge
// coordinates; OpenCV uses pixel centres, hence the half-pixel shift.
void pil_affine(Image& image, double a, double b, double c, double d, double e, double f,
                const ViewRecipe& recipe) {
  const cv::Matx23d inverse(a, b, c + 0.5 * (a + b) - 0.5, d, e, f + 0.5 * (d + e) - 0.5);
  cv::Mat source = as_mat(image).clone();
  cv::Mat target = as_mat(image);
  cv::warpAffine(source, target, inverse, target.size(),
                 cv_interpolation(recipe.interpolation) | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
                 fill_colour(recipe));
}

void apply_lut(Image& image, const std::array<std::uint8_t, 256>& lut) {
  for (auto& value : image.pixels) value = lut[value];
}

// Per-channel LUTs (AutoContrast, Equalize work band by band in PIL).
void apply_channel_luts(Image& image, const std::vector<std::array<std::uint8_t, 256>>& luts) {
  const int channels = image.channels;
  const std::size_t pixels = image.pixels.size() / channels;
  for (std::size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < channels; ++c) {
      auto& value = image.pixels[i * channels + c];
      value = luts[c][value];
    }
}

std::vector<std::array<std::uint32_t, 256>> histograms(const Image& image) {
  std::vector<std::array<std::uint32_t, 256>> result(image.channels);
  for (auto& h : result) h.fill(0);
  const std::size_t pixels = image.pixels.size() / image.channels;
  for (std::size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < image.channels; ++c) ++result[c][image.pixels[i * image.channels + c]];
  return result;
}

// PIL's luminance ("L" conversion): ITU-R 601-2 weights in 16-bit fixed point.
Image greyscale(const Image& image) {
  Image grey = make_image(image.height, image.width, 1);
  const std::size_t pixels = grey.pixels.size();
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* p = image.pixels.data() + i * 3;
    grey.pixels[i] =
        static_cast<std::uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return grey;
}

// Pillow's Image.blend(degenerate, image, factor): degenerate + factor * (image - degenerate)
// in single precision, clipped to 0..255 and truncated (not rounded), as its Blend.c does.
void blend_with(Image& image, const cv::Mat& degenerate, double factor) {
  const auto alpha = static_cast<float>(factor);
  const cv::Mat base = degenerate.isContinuous() ? degenerate : degenerate.clone();
  const std::uint8_t* from = base.ptr<std::uint8_t>();
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    const float value =
        static_cast<float>(from[i]) + alpha * (static_cast<int>(image.pixels[i]) - from[i]);
    image.pixels[i] = value <= 0.0f ? 0 : value >= 255.0f ? 255 : static_cast<std::uint8_t>(value);
  }
}

void auto_contrast(Image& image) {
  const auto hists = histograms(image);
  std::vector<std::array<std::uint8_t, 256>> luts(image.channels);
  for (int c = 0; c < image.channels; ++c) {
    int low = 0, high = 255;
    while (low < 256 && hists[c][low] == 0) ++low;
    while (high >= 0 && hists[c][high] == 0) --high;
    for (int i = 0; i < 256; ++i) {
      if (high <= low) {
        luts[c][i] = static_cast<std::uint8_t>(i);
        continue;
      }
      const double scale = 255.0 / (high - low), offset = -low * scale;
      luts[c][i] =
          static_cast<std::uint8_t>(std::clamp(static_cast<int>(i * scale + offset), 0, 255));
    }
  }
  apply_channel_luts(image, luts);
}

void equalize(Image& image) {
  // PIL ImageOps.equalize, band by band.
  const auto hists = histograms(image);
  std::vector<std::array<std::uint8_t, 256>> luts(image.channels);
  for (int c = 0; c < image.channels; ++c) {
    std::uint64_t total = 0, last_nonzero = 0, nonzero_bins = 0;
    for (int i = 0; i < 256; ++i)
      if (hists[c][i]) {
        total += hists[c][i];
        last_nonzero = hists[c][i];
        ++nonzero_bins;
      }
    const std::uint64_t step = nonzero_bins <= 1 ? 0 : (total - last_nonzero) / 255;
    std::uint64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      if (step == 0) {
        luts[c][i] = static_cast<std::uint8_t>(i);
        continue;
      }
      luts[c][i] = static_cast<std::uint8_t>(std::min<std::uint64_t>(n / step, 255));
      n += hists[c][i];
    }
  }
  apply_channel_luts(image, luts);
}

}  // namespace

std::string augment_op_name(AugmentOp op) {
  static const char* const kNames[kAugmentOpCount] = {
      "AutoContrast", "Equalize",    "Invert", "Rotate",        "Posterize",
      "Solarize",     "SolarizeAdd", "Color",  "Contrast",      "Brightness",
      "Sharpness",    "ShearX",      "ShearY", "TranslateXRel", "TranslateYRel"};
  return kNames[static_cast<int>(op)];
}

RandAugmentRecipe RandAugmentRecipe::parse(const std::string& config) {
  RandAugmentRecipe recipe;
  recipe.magnitude = 10;  // timm's defaults for the parts the string leaves out
  recipe.magnitude_std = 0;
  recipe.increasing = false;
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = config.find('-', start);
    parts.push_back(config.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (parts.front() != "rand")
    fail("RandAugment config '", config, "' must start with 'rand' (e.g. rand-m9-mstd0.5-inc1)");
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    std::size_t digits = 0;
    while (digits < part.size() && std::isalpha(static_cast<unsigned char>(part[digits]))) ++digits;
    const std::string key = part.substr(0, digits), text = part.substr(digits);
    double value = 0;
    try {
      std::size_t used = 0;
      value = std::stod(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      fail("RandAugment config '", config, "': '", part, "' needs a number after '", key, "'");
    }
    if (key == "m")
      recipe.magnitude = value;
    else if (key == "n")
      recipe.ops = static_cast<int>(value);
    else if (key == "mstd" && value <= 100)
      recipe.magnitude_std = value;
    else if (key == "inc")
      recipe.increasing = value != 0;
    else if (key == "p")
      recipe.op_probability = value;
    else
      fail("RandAugment config '", config, "': unsupported part '", part,
           "' (known: m, n, mstd up to 100, inc, p as in timm's rand_augment_transform)");
  }
  return recipe;
}

std::string RandAugmentRecipe::describe() const {
  std::ostringstream text;
  text << "rand-m" << magnitude << "-n" << ops << "-mstd" << magnitude_std << "-inc"
       << (increasing ? 1 : 0) << "-p" << op_probability;
  return text.str();
}

std::vector<AppliedAugment> draw_augments(const RandAugmentRecipe& augment, CounterRng& rng) {
  std::vector<AppliedAugment> augments;
  for (int i = 0; i < augment.ops; ++i) {
    const auto op = static_cast<AugmentOp>(rng.uniform_int(0, kAugmentOpCount - 1));
    // timm: `if prob < 1 and random() > prob: skip`; its draws happen in this order.
    if (augment.op_probability < 1.0 && rng.uniform() > augment.op_probability) continue;
    double magnitude = augment.magnitude;
    if (augment.magnitude_std > 0) magnitude += augment.magnitude_std * rng.normal();
    const bool negate = op_is_signed(op, augment.increasing) && rng.uniform() > 0.5;
    augments.push_back(augment_at(op, magnitude, negate, augment));
  }
  return augments;
}

AppliedAugment augment_at(AugmentOp op, double magnitude, bool negate,
                          const RandAugmentRecipe& recipe) {
  double argument = level_argument(op, std::clamp(magnitude, 0.0, kLevelDenominator), recipe);
  if (negate && op_is_signed(op, recipe.increasing)) argument = -argument;
  if (recipe.increasing && (op == AugmentOp::kColor || op == AugmentOp::kContrast ||
                            op == AugmentOp::kBrightness || op == AugmentOp::kSharpness))
    argument += 1.0;  // timm's _enhance_increasing_level_to_arg: 1 +- level
  return {op, argument};
}

void apply_augment(Image& image, const AppliedAugment& augment, const ViewRecipe& recipe) {
  const double arg = augment.argument;
  switch (augment.op) {
    case AugmentOp::kAutoContrast:
      auto_contrast(image);
      return;
    case AugmentOp::kEqualize:
      equalize(image);
      return;
    case AugmentOp::kInvert: {
      std::array<std::uint8_t, 256> lut;
      for (int i = 0; i < 256; ++i) lut[i] = static_cast<std::uint8_t>(255 - i);
      apply_lut(image, lut);
      return;
    }
    case AugmentOp::kRotate: {
      // PIL rotates counter-clockwise about (w/2, h/2) in edge coordinates, as OpenCV's
      // positive angle about the centre of the pixel grid.
      const cv::Point2f centre((image.width - 1) * 0.5f, (image.height - 1) * 0.5f);
      const cv::Mat rotation = cv::getRotationMatrix2D(centre, arg, 1.0);
      cv::Mat source = as_mat(image).clone();
      cv::Mat target = as_mat(image);
      cv::warpAffine(source, target, rotation, target.size(),
                     cv_interpolation(recipe.interpolation), cv::BORDER_CONSTANT,
                     fill_colour(recipe));
      return;
    }
    case AugmentOp::kPosterize: {
      const int bits = static_cast<int>(arg);
      if (bits >= 8) return;
      const auto mask = static_cast<std::uint8_t>(~((1 << (8 - bits)) - 1) & 0xff);
      std::array<std::uint8_t, 256> lut;
      for (int i = 0; i < 256; ++i) lut[i] = static_cast<std::uint8_t>(i & mask);
      apply_lut(image, lut);
      return;
    }
    case AugmentOp::kSolarize: {
      const int threshold = static_cast<int>(arg);
      std::array<std::uint8_t, 256> lut;
      for (int i = 0; i < 256; ++i) lut[i] = static_cast<std::uint8_t>(i < threshold ? i : 255 - i);
      apply_lut(image, lut);
      return;
    }
    case AugmentOp::kSolarizeAdd: {
      const int add = static_cast<int>(arg);
      std::array<std::uint8_t, 256> lut;
      for (int i = 0; i < 256; ++i)
        lut[i] = static_cast<std::uint8_t>(i < 128 ? std::min(255, i + add) : i);
      apply_lut(image, lut);
      return;
    }
    case AugmentOp::kColor: {
      if (image.channels != 3) return;  // a grey image is its own greyscale
      Image grey = greyscale(image);
      cv::Mat grey3;
      cv::cvtColor(as_mat(grey), grey3, cv::COLOR_GRAY2RGB);
      blend_with(image, grey3, arg);
      return;
    }
    case AugmentOp::kContrast: {
      // PIL: the degenerate image is the mean luminance, rounded, as a flat image.
      const Image grey = image.channels == 3 ? greyscale(image) : image;
      double sum = 0;
      for (const auto value : grey.pixels) sum += value;
      const int mean = static_cast<int>(sum / grey.pixels.size() + 0.5);
      const cv::Mat flat(image.height, image.width, CV_8UC(image.channels), cv::Scalar::all(mean));
      blend_with(image, flat, arg);
      return;
    }
    case AugmentOp::kBrightness: {
      const cv::Mat black = cv::Mat::zeros(image.height, image.width, CV_8UC(image.channels));
      blend_with(image, black, arg);
      return;
    }
    case AugmentOp::kSharpness: {
      // PIL's SMOOTH filter ([1 1 1; 1 5 1; 1 1 1] / 13) with the border pixels left as they are.
      const cv::Mat kernel = (cv::Mat_<float>(3, 3) << 1, 1, 1, 1, 5, 1, 1, 1, 1) / 13.0f;
      cv::Mat source = as_mat(image);
      cv::Mat smooth = source.clone();
      if (image.height > 2 && image.width > 2) {
        cv::Mat inner;
        cv::filter2D(source, inner, -1, kernel, cv::Point(-1, -1), 0, cv::BORDER_REPLICATE);
        const cv::Rect interior(1, 1, image.width - 2, image.height - 2);
        inner(interior).copyTo(smooth(interior));
      }
      blend_with(image, smooth, arg);
      return;
    }
    case AugmentOp::kShearX:
      pil_affine(image, 1, arg, 0, 0, 1, 0, recipe);
      return;
    case AugmentOp::kShearY:
      pil_affine(image, 1, 0, 0, arg, 1, 0, recipe);
      return;
    case AugmentOp::kTranslateXRel:
      pil_affine(image, 1, 0, arg * image.width, 0, 1, 0, recipe);
      return;
    case AugmentOp::kTranslateYRel:
      pil_affine(image, 1, 0, 0, 0, 1, arg * image.height, recipe);
      return;
  }
  fail("view: unknown augmentation op ", static_cast<int>(augment.op));
}

}  // namespace tleg

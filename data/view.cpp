#include "data/view.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/_upsample_bicubic2d_aa.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/from_blob.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "common/error.h"

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

cv::Mat as_mat(Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels), image.pixels.data());
}

Image make_image(int height, int width, int channels) {
  Image image{height, width, channels, {}};
  image.pixels.resize(static_cast<std::size_t>(height) * width * channels);
  return image;
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

// An HWC uint8 matrix as the [1, C, H, W] tensor ATen's kernels take (channels-last strides,
// no copy).
at::Tensor as_tensor(const cv::Mat& mat) {
  const auto row = static_cast<std::int64_t>(mat.step[0]);
  return at::from_blob(mat.data, {1, mat.channels(), mat.rows, mat.cols},
                       {row * mat.rows, 1, row, mat.channels()}, at::kByte);
}

// Pillow's resize (BILINEAR or BICUBIC, the filter support widened by the downscale factor so
// that shrinking does not alias), as torchvision applies it to PIL images: ATen's antialiased
// interpolation, whose uint8 kernel follows Pillow's (fixed-point weights, bytes between the
// horizontal and vertical passes). `target` must be continuous.
void resize_antialiased(const cv::Mat& source, cv::Mat& target, Interpolation interpolation) {
  if (source.size() == target.size()) {
    source.copyTo(target);
    return;
  }
  // Dense channels-last input and the output written in place: no tensor copy, whose
  // TensorIterator would start an OpenMP team in every loader thread (the kernel itself runs
  // on the calling thread).
  const cv::Mat dense = source.isContinuous() ? source : source.clone();
  const at::Tensor input = as_tensor(dense);
  at::Tensor output = as_tensor(target);
  const std::vector<std::int64_t> size{target.rows, target.cols};
  if (interpolation == Interpolation::kBicubic)
    at::_upsample_bicubic2d_aa_out(output, input, size, /*align_corners=*/false);
  else
    at::_upsample_bilinear2d_aa_out(output, input, size, /*align_corners=*/false);
  if (output.data_ptr() != target.data)  // ATen would only reallocate on a shape mismatch
    fail("view: the antialiased resize did not write in place");
}

// torchvision/PIL-style crop of the (possibly DCT-scaled) source, then resize and flip; an
// evaluation view resizes the whole image first and then takes the centre (Resize +
// CenterCrop).
Image crop_resize_flip(const cv::Mat& source, cv::Rect box, const ViewParams& params,
                       const ViewRecipe& recipe) {
  box &= cv::Rect(0, 0, source.cols, source.rows);
  if (box.width <= 0 || box.height <= 0)
    fail("view: crop box ", params.crop.x, ",", params.crop.y, " ", params.crop.width, "x",
         params.crop.height, " is outside the ", params.source_width, "x", params.source_height,
         " image");
  cv::Mat region = source(box);
  if (region.channels() != recipe.channels) {
    cv::Mat converted;
    cv::cvtColor(region, converted, recipe.channels == 3 ? cv::COLOR_GRAY2RGB : cv::COLOR_RGB2GRAY);
    region = converted;
  }
  Image view = make_image(recipe.output_height, recipe.output_width, recipe.channels);
  cv::Mat target = as_mat(view);
  if (params.resize_width > 0) {
    cv::Mat resized(params.resize_height, params.resize_width, region.type());
    resize_antialiased(region, resized, recipe.interpolation);
    // torchvision's CenterCrop: int(round((size - crop) / 2.0)), Python's round (half to even).
    const int top = static_cast<int>(std::nearbyint((resized.rows - target.rows) / 2.0));
    const int left = static_cast<int>(std::nearbyint((resized.cols - target.cols) / 2.0));
    resized(cv::Rect(left, top, target.cols, target.rows)).copyTo(target);
  } else {
    resize_antialiased(region, target, recipe.interpolation);
  }
  if (params.flip) cv::flip(target, target, 1);
  for (const AppliedAugment& augment : params.augments) apply_augment(view, augment, recipe);
  return view;
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

ViewRecipe ViewRecipe::deit(int size) {
  ViewRecipe recipe;
  recipe.output_height = recipe.output_width = size;
  return recipe;
}

ViewRecipe ViewRecipe::basic(int size) {
  ViewRecipe recipe = deit(size);
  recipe.rand_augment = false;
  recipe.erase_probability = 0;
  return recipe;
}

CropBox random_resized_crop(int width, int height, double scale_min, double scale_max,
                            double ratio_min, double ratio_max, CounterRng& rng) {
  const double area = static_cast<double>(width) * height;
  const double log_ratio_min = std::log(ratio_min), log_ratio_max = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(log_ratio_min, log_ratio_max));
    const int w = static_cast<int>(std::round(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::round(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = static_cast<int>(rng.uniform_int(0, height - h));
      const int x = static_cast<int>(rng.uniform_int(0, width - w));
      return {x, y, w, h};
    }
  }
  // Fallback: the centre crop, clamped to the ratio range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min)
    h = static_cast<int>(std::round(w / ratio_min));
  else if (in_ratio > ratio_max)
    w = static_cast<int>(std::round(h * ratio_max));
  return {(width - w) / 2, (height - h) / 2, w, h};
}

ViewParams draw_view(const ViewRecipe& recipe, int source_width, int source_height,
                     std::uint64_t seed, std::uint64_t epoch, std::uint64_t sample,
                     std::uint64_t view) {
  if (source_width <= 0 || source_height <= 0)
    fail("view: sample ", sample, " has an empty source image (", source_width, "x", source_height,
         ")");
  // The draw order below is part of the format of stored views: append, never reorder.
  CounterRng rng{counter_key({seed, epoch, sample, view}), 0};
  ViewParams params;
  params.source_width = source_width;
  params.source_height = source_height;
  params.crop = random_resized_crop(source_width, source_height, recipe.scale_min, recipe.scale_max,
                                    recipe.ratio_min, recipe.ratio_max, rng);
  params.flip = rng.bernoulli(recipe.flip_probability);
  if (recipe.rand_augment) {
    const RandAugmentRecipe& augment = recipe.augment;
    for (int i = 0; i < augment.ops; ++i) {
      const auto op = static_cast<AugmentOp>(rng.uniform_int(0, kAugmentOpCount - 1));
      // timm: `if prob < 1 and random() > prob: skip`; its draws happen in this order.
      if (augment.op_probability < 1.0 && rng.uniform() > augment.op_probability) continue;
      double magnitude = augment.magnitude;
      if (augment.magnitude_std > 0) magnitude += augment.magnitude_std * rng.normal();
      const bool negate = op_is_signed(op, augment.increasing) && rng.uniform() > 0.5;
      params.augments.push_back(augment_at(op, magnitude, negate, augment));
    }
  }
  if (recipe.erase_probability > 0 && rng.uniform() <= recipe.erase_probability) {
    const int h_out = recipe.output_height, w_out = recipe.output_width;
    const double area = static_cast<double>(h_out) * w_out;
    const double log_aspect_min = std::log(recipe.erase_min_aspect);
    const double log_aspect_max = std::log(1.0 / recipe.erase_min_aspect);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target_area = rng.uniform(recipe.erase_min_area, recipe.erase_max_area) * area;
      const double aspect = std::exp(rng.uniform(log_aspect_min, log_aspect_max));
      const int h = static_cast<int>(std::round(std::sqrt(target_area * aspect)));
      const int w = static_cast<int>(std::round(std::sqrt(target_area / aspect)));
      if (w < w_out && h < h_out) {
        const int top = static_cast<int>(rng.uniform_int(0, h_out - h));
        const int left = static_cast<int>(rng.uniform_int(0, w_out - w));
        params.erase.push_back({top, left, h, w});
        break;
      }
    }
    params.erase_noise_key = rng.next_u64();
  }
  return params;
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

ViewParams eval_view(const ViewRecipe& recipe, int source_width, int source_height) {
  ViewParams params;
  params.source_width = source_width;
  params.source_height = source_height;
  params.crop = {0, 0, source_width, source_height};
  // DeiT: Resize(int(input_size / eval_crop_ratio)) then CenterCrop(input_size). torchvision's
  // Resize(int) sets the shorter side and truncates the longer one.
  const int shorter_target = static_cast<int>(
      std::floor(std::max(recipe.output_width, recipe.output_height) / recipe.eval_crop_fraction));
  const bool portrait = source_width <= source_height;
  const int shorter = portrait ? source_width : source_height;
  const int longer = portrait ? source_height : source_width;
  const auto longer_target =
      static_cast<int>(static_cast<double>(shorter_target) * longer / shorter);
  params.resize_width = portrait ? shorter_target : longer_target;
  params.resize_height = portrait ? longer_target : shorter_target;
  if (params.resize_width < recipe.output_width || params.resize_height < recipe.output_height)
    fail("view: evaluation resizes the ", source_width, "x", source_height, " image to ",
         params.resize_width, "x", params.resize_height, ", smaller than the ", recipe.output_width,
         "x", recipe.output_height, " centre crop (aug.eval-crop-fraction must be at most 1)");
  return params;
}

JpegSize source_size(const EncodedImage& image) {
  if (!image.jpeg) return {image.raw_width, image.raw_height};
  return jpeg_size(image.data, image.size);
}

Image render_view(const EncodedImage& image, const ViewParams& params, const ViewRecipe& recipe) {
  if (!image.jpeg) {
    const std::size_t expected =
        static_cast<std::size_t>(image.raw_height) * image.raw_width * image.raw_channels;
    if (image.size != expected)
      fail("view: raw image has ", image.size, " bytes, expected ", expected, " (",
           image.raw_height, "x", image.raw_width, "x", image.raw_channels, ")");
    const cv::Mat source(image.raw_height, image.raw_width, CV_8UC(image.raw_channels),
                         const_cast<std::uint8_t*>(image.data));
    const CropBox& c = params.crop;
    return crop_resize_flip(source, cv::Rect(c.x, c.y, c.width, c.height), params, recipe);
  }
  const JpegSize full = jpeg_size(image.data, image.size);
  if (full.width != params.source_width || full.height != params.source_height)
    fail("view: the JPEG is ", full.width, "x", full.height, " but the view was drawn for ",
         params.source_width, "x", params.source_height);
  // The smallest power-of-two DCT scale at which the crop still covers what it is resized to:
  // the crop is never upsampled because of the scaling, only ever shrunk less.
  const int cover_width = params.resize_width > 0 ? params.resize_width : recipe.output_width;
  const int cover_height = params.resize_height > 0 ? params.resize_height : recipe.output_height;
  int eighths = 8;
  cv::Rect box(params.crop.x, params.crop.y, params.crop.width, params.crop.height);
  if (recipe.dct_scaling) {
    for (const int candidate : {1, 2, 4}) {
      const double fx = std::ceil(full.width * candidate / 8.0) / full.width;
      const double fy = std::ceil(full.height * candidate / 8.0) / full.height;
      const int x0 = static_cast<int>(std::round(box.x * fx));
      const int y0 = static_cast<int>(std::round(box.y * fy));
      const int x1 = static_cast<int>(std::round((box.x + box.width) * fx));
      const int y1 = static_cast<int>(std::round((box.y + box.height) * fy));
      if (x1 - x0 >= cover_width && y1 - y0 >= cover_height) {
        eighths = candidate;
        box = cv::Rect(x0, y0, x1 - x0, y1 - y0);
        break;
      }
    }
  }
  Image decoded = decode_jpeg(image.data, image.size, recipe.channels, eighths);
  return crop_resize_flip(as_mat(decoded), box, params, recipe);
}

Image render_view(const Image& source, const ViewParams& params, const ViewRecipe& recipe) {
  EncodedImage raw{source.pixels.data(), source.pixels.size(), false,
                   source.height,        source.width,         source.channels};
  return render_view(raw, params, recipe);
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

void normalize_view(const Image& view, const ViewParams& params, const ViewRecipe& recipe,
                    float* out) {
  const int channels = view.channels, height = view.height, width = view.width;
  // (v / 255 - mean) / std for every byte value: one table lookup per output float.
  std::array<std::array<float, 256>, 3> table;
  for (int c = 0; c < channels; ++c)
    for (int v = 0; v < 256; ++v)
      table[c][v] = (static_cast<float>(v) / 255.0f - recipe.mean[c]) / recipe.std[c];
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  for (int y = 0; y < height; ++y) {
    const std::uint8_t* row = view.row(y);
    for (int c = 0; c < channels; ++c) {
      float* target = out + c * plane + static_cast<std::size_t>(y) * width;
      const auto& lut = table[c];
      for (int x = 0; x < width; ++x) target[x] = lut[row[x * channels + c]];
    }
  }
  // timm's RandomErasing(mode='pixel'): N(0, 1) noise in the normalised space, channel-major.
  CounterRng noise{params.erase_noise_key, 0};
  for (const EraseBox& box : params.erase)
    for (int c = 0; c < channels; ++c)
      for (int y = box.top; y < box.top + box.height; ++y) {
        float* target = out + c * plane + static_cast<std::size_t>(y) * width;
        for (int x = box.left; x < box.left + box.width; ++x)
          target[x] = static_cast<float>(noise.normal());
      }
}

}  // namespace tleg

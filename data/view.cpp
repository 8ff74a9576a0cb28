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

#include "data/image_mat.h"
#include "data/rand_augment.h"

namespace tleg {
namespace {

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
  if (recipe.rand_augment) params.augments = draw_augments(recipe.augment, rng);
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

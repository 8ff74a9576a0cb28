// Training views: determinism of draw_view, RandomResizedCrop bounds, bit-exact regeneration
// on another thread (another decoder), DCT-scaled decoding, the evaluation view, RandAugment ops.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "data/view.h"
#include "test_images.h"

namespace tleg {
namespace {

using testing::textured_image;

std::vector<float> normalized(const Image& view, const ViewParams& params,
                              const ViewRecipe& recipe) {
  std::vector<float> out(view.pixels.size());
  normalize_view(view, params, recipe, out.data());
  return out;
}

TEST(View, DrawIsDeterministicAndDiffersAcrossEpochSampleAndView) {
  const ViewRecipe recipe = ViewRecipe::deit(224);
  const ViewParams base = draw_view(recipe, 341, 256, 7, 3, 11, 0);
  EXPECT_EQ(base, draw_view(recipe, 341, 256, 7, 3, 11, 0));
  EXPECT_NE(base, draw_view(recipe, 341, 256, 7, 4, 11, 0));
  EXPECT_NE(base, draw_view(recipe, 341, 256, 7, 3, 12, 0));
  EXPECT_NE(base, draw_view(recipe, 341, 256, 7, 3, 11, 1));
  EXPECT_NE(base, draw_view(recipe, 341, 256, 8, 3, 11, 0));
  // Over many samples every random part takes both of its values.
  int flips = 0, erased = 0, augments = 0;
  for (std::uint64_t sample = 0; sample < 400; ++sample) {
    const ViewParams p = draw_view(recipe, 341, 256, 7, 0, sample);
    flips += p.flip;
    erased += !p.erase.empty();
    augments += static_cast<int>(p.augments.size());
  }
  EXPECT_GT(flips, 150);  // p = 0.5
  EXPECT_LT(flips, 250);
  EXPECT_GT(erased, 60);  // p = 0.25
  EXPECT_LT(erased, 140);
  EXPECT_GT(augments, 300);  // 2 ops at p = 0.5: 400 expected
  EXPECT_LT(augments, 500);
}

TEST(View, RandomResizedCropRespectsScaleAndRatio) {
  const ViewRecipe recipe = ViewRecipe::basic(224);
  for (const auto& [width, height] :
       {std::pair{341, 256}, std::pair{256, 500}, std::pair{64, 64}}) {
    const double area = static_cast<double>(width) * height;
    for (std::uint64_t sample = 0; sample < 2000; ++sample) {
      const CropBox box = draw_view(recipe, width, height, 1, 0, sample).crop;
      ASSERT_GE(box.x, 0);
      ASSERT_GE(box.y, 0);
      ASSERT_LE(box.x + box.width, width);
      ASSERT_LE(box.y + box.height, height);
      // Sides are rounded to whole pixels: the bounds hold for some w, h within half a pixel.
      const double w = box.width, h = box.height;
      EXPECT_GE((w + 0.5) * (h + 0.5), recipe.scale_min * area) << w << "x" << h;
      EXPECT_LE((w - 0.5) * (h - 0.5), recipe.scale_max * area) << w << "x" << h;
      EXPECT_GE((w + 0.5) / (h - 0.5), recipe.ratio_min) << w << "x" << h;
      EXPECT_LE((w - 0.5) / (h + 0.5), recipe.ratio_max) << w << "x" << h;
    }
  }
  // After ten failed attempts (an extreme aspect ratio): the centre crop at the closest ratio.
  CounterRng rng{1, 0};
  const CropBox fallback = random_resized_crop(1000, 10, 0.9, 1.0, 0.75, 4.0 / 3.0, rng);
  EXPECT_EQ(fallback, (CropBox{(1000 - 13) / 2, 0, 13, 10}));
}

TEST(View, RegeneratedOnAnotherThreadIsBitIdentical) {
  const ViewRecipe recipe = ViewRecipe::deit(224);
  const auto jpeg = encode_jpeg(textured_image(256, 341, 3, 5), 90);
  const EncodedImage encoded{jpeg.data(), jpeg.size()};
  for (std::uint64_t sample = 0; sample < 12; ++sample) {
    const ViewParams params = draw_view(recipe, 341, 256, 42, 2, sample);
    const Image here = render_view(encoded, params, recipe);
    const auto here_floats = normalized(here, params, recipe);
    Image there;
    ViewParams there_params;
    std::vector<float> there_floats;
    // Another thread has its own decoder handle and nothing else in common with this one.
    std::thread([&] {
      there_params = draw_view(recipe, 341, 256, 42, 2, sample);
      there = render_view(encoded, there_params, recipe);
      there_floats = normalized(there, there_params, recipe);
    }).join();
    EXPECT_EQ(params, there_params);
    EXPECT_EQ(here.pixels, there.pixels) << "sample " << sample;
    EXPECT_EQ(here_floats, there_floats) << "sample " << sample;
  }
}

TEST(View, DctScaledDecodeIsCloseToFullDecode) {
  ViewRecipe scaled = ViewRecipe::basic(224);
  scaled.dct_scaling = true;
  ViewRecipe full = scaled;
  full.dct_scaling = false;
  // Content well below the Nyquist rate of the 224 output: the antialiased resize of the full
  // decode and DCT-domain halving then agree on it closely; a misplaced box would not.
  Image smooth{768, 1024, 3, std::vector<std::uint8_t>(768 * 1024 * 3)};
  for (int y = 0; y < 768; ++y)
    for (int x = 0; x < 1024; ++x)
      for (int c = 0; c < 3; ++c)
        smooth.row(y)[x * 3 + c] = static_cast<std::uint8_t>(
            128 + 60 * std::sin(0.05 * x + 0.5 * c) + 50 * std::cos(0.04 * y - 0.02 * x));
  const auto jpeg = encode_jpeg(smooth, 90);
  const EncodedImage encoded{jpeg.data(), jpeg.size()};
  ViewParams params;
  params.source_width = 1024;
  params.source_height = 768;
  params.crop = {100, 60, 640, 600};  // 1/2 scale keeps 320x300 >= 224
  const Image a = render_view(encoded, params, scaled);
  const Image b = render_view(encoded, params, full);
  ASSERT_EQ(a.pixels.size(), b.pixels.size());
  double error = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i)
    error += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  // Two resampling paths of a smooth image: about one grey level on average; a box off by
  // one source pixel already gives several.
  EXPECT_LT(error / a.pixels.size(), 2.0);
  EXPECT_NE(a.pixels, b.pixels);  // the scaled path was really taken
}

TEST(View, EvaluationViewResizesTheShorterSideThenCropsTheCentre) {
  const ViewRecipe recipe = ViewRecipe::deit(224);
  const ViewParams landscape = eval_view(recipe, 341, 256);
  EXPECT_EQ(landscape.crop, (CropBox{0, 0, 341, 256}));
  EXPECT_EQ(landscape.resize_width, 341);
  EXPECT_EQ(landscape.resize_height, 256);
  const ViewParams portrait = eval_view(recipe, 512, 683);  // torchvision truncates 341.5
  EXPECT_EQ(portrait.resize_width, 256);
  EXPECT_EQ(portrait.resize_height, 341);
  const ViewParams small_image = eval_view(recipe, 200, 150);  // upsampled, as Resize(256) does
  EXPECT_EQ(small_image.resize_width, 341);
  EXPECT_EQ(small_image.resize_height, 256);
  ViewRecipe small = ViewRecipe::deit(28);
  small.channels = 1;
  small.eval_crop_fraction = 1.0;
  EXPECT_EQ(eval_view(small, 28, 28).resize_width, 28);
  // A raw 28x28 grey image goes through unchanged on the identity-size path.
  const Image source = textured_image(28, 28, 1, 3);
  const Image view = render_view(source, eval_view(small, 28, 28), small);
  EXPECT_EQ(view.pixels, source.pixels);
}

TEST(View, RandAugmentOpsKeepShapeAndBehaveAsTimm) {
  ViewRecipe recipe = ViewRecipe::deit(64);
  const Image source = textured_image(64, 64, 3, 4);
  for (int op = 0; op < kAugmentOpCount; ++op) {
    for (const double argument : {0.3, -0.3}) {
      Image image = source;
      const AppliedAugment augment{static_cast<AugmentOp>(op), argument * 10};
      ASSERT_NO_THROW(apply_augment(image, augment, recipe)) << augment_op_name(augment.op);
      EXPECT_EQ(image.pixels.size(), source.pixels.size());
    }
  }
  Image image = source;
  apply_augment(image, {AugmentOp::kInvert, 0}, recipe);
  EXPECT_EQ(image.pixels[0], 255 - source.pixels[0]);
  apply_augment(image, {AugmentOp::kInvert, 0}, recipe);
  EXPECT_EQ(image.pixels, source.pixels);
  // Enhance ops at factor 1 and a zero shear are the identity.
  for (const AugmentOp op :
       {AugmentOp::kColor, AugmentOp::kContrast, AugmentOp::kBrightness, AugmentOp::kSharpness,
        AugmentOp::kShearX, AugmentOp::kTranslateYRel}) {
    Image same = source;
    apply_augment(same,
                  {op, op == AugmentOp::kShearX || op == AugmentOp::kTranslateYRel ? 0.0 : 1.0},
                  recipe);
    EXPECT_EQ(same.pixels, source.pixels) << augment_op_name(op);
  }
  // Posterize to 1 bit leaves only 0 and 128; Solarize at 128 maps 200 to 55.
  Image poster = source;
  apply_augment(poster, {AugmentOp::kPosterize, 1}, recipe);
  for (const auto v : poster.pixels) ASSERT_TRUE(v == 0 || v == 128);
  Image solar{1, 2, 1, {100, 200}};
  apply_augment(solar, {AugmentOp::kSolarize, 128}, recipe);
  EXPECT_EQ(solar.pixels, (std::vector<std::uint8_t>{100, 55}));
  // AutoContrast stretches each channel to the full range.
  Image contrast = source;
  apply_augment(contrast, {AugmentOp::kAutoContrast, 0}, recipe);
  EXPECT_EQ(*std::max_element(contrast.pixels.begin(), contrast.pixels.end()), 255);
  EXPECT_EQ(*std::min_element(contrast.pixels.begin(), contrast.pixels.end()), 0);
}

TEST(View, NormalizationAndErasing) {
  ViewRecipe recipe = ViewRecipe::basic(8);
  Image view{8, 8, 3, std::vector<std::uint8_t>(8 * 8 * 3, 255)};
  ViewParams params;
  params.erase = {{2, 3, 4, 2}};
  params.erase_noise_key = 77;
  const auto out = normalized(view, params, recipe);
  // Outside the box: (1 - mean) / std of the channel.
  EXPECT_FLOAT_EQ(out[0], (1.0f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(out[64 + 0], (1.0f - 0.456f) / 0.224f);
  int noisy = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const bool inside = y >= 2 && y < 6 && x >= 3 && x < 5;
        const float expected = (1.0f - recipe.mean[c]) / recipe.std[c];
        noisy += inside && out[c * 64 + y * 8 + x] != expected;
        if (!inside) {
          EXPECT_FLOAT_EQ(out[c * 64 + y * 8 + x], expected);
        }
      }
  EXPECT_EQ(noisy, 3 * 4 * 2);
}

}  // namespace
}  // namespace tleg

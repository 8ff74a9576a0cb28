// Mixup / CutMix: reproducible decisions, targets that sum to 1 and carry λ, images mixed
// with their partners.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data/mixup.h"

namespace tleg {
namespace {

TEST(Mixup, DecisionIsReproducibleAndLambdaIsBetaDistributed) {
  MixupOptions options;
  const MixDecision a = draw_mix(options, 1, 5, 0, 224, 224);
  const MixDecision b = draw_mix(options, 1, 5, 0, 224, 224);
  EXPECT_EQ(a.lambda, b.lambda);
  EXPECT_EQ(a.cutmix, b.cutmix);
  EXPECT_EQ(a.x0, b.x0);
  EXPECT_NE(a.lambda, draw_mix(options, 1, 5, 1, 224, 224).lambda);  // another rank
  EXPECT_NE(a.lambda, draw_mix(options, 1, 6, 0, 224, 224).lambda);  // another step
  double sum = 0, sum_squares = 0;
  int cutmix = 0;
  options.correct_lambda = false;  // λ straight from Beta(α, α), to check its distribution
  const int draws = 4000;
  for (int step = 0; step < draws; ++step) {
    const MixDecision d = draw_mix(options, 0, step, 0, 224, 224);
    ASSERT_TRUE(d.mixed);  // probability 1
    ASSERT_GE(d.lambda, 0.0);
    ASSERT_LE(d.lambda, 1.0);
    sum += d.lambda;
    sum_squares += d.lambda * d.lambda;
    cutmix += d.cutmix;
  }
  // Beta(α, α) has mean 1/2 and variance 1 / (4 (2α + 1)): 0.096 for α = 0.8 and 0.083 for
  // α = 1, so the half-and-half mixture has about 0.090. With std ≈ 0.3 the mean of 4000 draws
  // is within ±0.03 at 6σ; the variance bounds are as loose.
  const double mean = sum / draws, variance = sum_squares / draws - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.03);
  EXPECT_NEAR(variance, 0.090, 0.012);
  EXPECT_NEAR(cutmix / double(draws), 0.5, 0.05);
  // correct_lam: λ is the unpasted area fraction of the clipped box.
  options.correct_lambda = true;
  for (int step = 0; step < 200; ++step) {
    const MixDecision d = draw_mix(options, 0, step, 0, 224, 224);
    if (d.cutmix) {
      ASSERT_DOUBLE_EQ(d.lambda, 1.0 - double((d.y1 - d.y0) * (d.x1 - d.x0)) / (224.0 * 224.0));
    }
  }
}

TEST(Mixup, TargetsSumToOneAndCarryLambda) {
  const MixupOptions options;
  const at::Tensor labels = at::arange(8, at::kLong);
  for (int step = 0; step < 20; ++step) {
    const MixDecision d = draw_mix(options, 0, step, 0, 32, 32);
    const at::Tensor targets = mix_targets(labels, 10, options.label_smoothing, d);
    ASSERT_EQ(targets.sizes(), (at::IntArrayRef{8, 10}));
    // float32 sums of 10 terms: 1e-5 covers the rounding.
    EXPECT_TRUE(at::allclose(targets.sum(1), at::ones({8}), 1e-5, 1e-5));
    const double off = 0.1 / 10, on = 1 - 0.1 + off;
    for (int i = 0; i < 8; ++i) {
      EXPECT_NEAR(targets[i][i].item<double>(), d.lambda * on + (1 - d.lambda) * off, 1e-6);
      EXPECT_NEAR(targets[i][7 - i].item<double>(), (1 - d.lambda) * on + d.lambda * off, 1e-6);
    }
  }
  // Without mixing: plain smoothed one-hot.
  MixDecision none;
  const at::Tensor plain = mix_targets(labels, 10, 0.0, none);
  EXPECT_TRUE(at::equal(plain, at::one_hot(labels, 10).to(at::kFloat)));
}

TEST(Mixup, ImagesAreMixedWithTheFlippedBatch) {
  at::Tensor images =
      at::arange(4, at::kFloat).view({4, 1, 1, 1}).expand({4, 2, 6, 6}).contiguous();
  MixDecision mixup;
  mixup.mixed = true;
  mixup.lambda = 0.25;
  at::Tensor mixed = images.clone();
  mix_images(mixed, mixup);
  // Sample i becomes 0.25 * i + 0.75 * (3 - i).
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(mixed[i][0][0][0].item<float>(), 0.25f * i + 0.75f * (3 - i));

  MixDecision cutmix = mixup;
  cutmix.cutmix = true;
  cutmix.y0 = 1, cutmix.y1 = 3, cutmix.x0 = 2, cutmix.x1 = 5;
  at::Tensor cut = images.clone();
  mix_images(cut, cutmix);
  EXPECT_FLOAT_EQ(cut[0][1][2][4].item<float>(), 3.0f);  // inside the box: the partner
  EXPECT_FLOAT_EQ(cut[0][1][0][0].item<float>(), 0.0f);  // outside: itself
  EXPECT_FLOAT_EQ(cut[3][0][1][2].item<float>(), 0.0f);
  // A teacher's soft targets mix with the same pairing and λ.
  const at::Tensor soft = at::eye(4, at::kFloat);
  const at::Tensor mixed_soft = mix_soft_targets(soft, mixup);
  EXPECT_FLOAT_EQ(mixed_soft[1][1].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(mixed_soft[1][2].item<float>(), 0.75f);
}

}  // namespace
}  // namespace tleg

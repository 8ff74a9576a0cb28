// The convolutional teacher: analytical counts against the tensors, its weights file (BatchNorm
// statistics included) round trip, bf16 against fp32, and the errors of a bad architecture.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "weights/model_io.h"
#include "model/cnn.h"
#include "temp_dir.h"

namespace tleg {
namespace {

std::int64_t parameter_numel(const torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& parameter : module.parameters()) total += parameter.numel();
  return total;
}

TEST(CnnConfig, CountsEqualTheTensorsAndTheFormula) {
  const CnnConfig defaults;  // 28 px, 1 channel, 10 classes, widths 32,64,128, 2 convs each
  EXPECT_EQ(parameter_numel(Cnn(defaults)), cnn_parameter_count(defaults));
  // 3x3 convolutions at 28, 14 and 7 pixels, 2 FLOPs per multiply-add, then the head.
  const std::int64_t expected = 2LL * 784 * 32 * 1 * 9 + 2LL * 784 * 32 * 32 * 9 +
                                2LL * 196 * 64 * 32 * 9 + 2LL * 196 * 64 * 64 * 9 +
                                2LL * 49 * 128 * 64 * 9 + 2LL * 49 * 128 * 128 * 9 + 2LL * 128 * 10;
  EXPECT_EQ(forward_flops(defaults), expected);
  const CnnConfig rgb{.image_size = 32, .channels = 3, .classes = 7, .widths = {8, 16}, .convs = 3};
  EXPECT_EQ(parameter_numel(Cnn(rgb)), cnn_parameter_count(rgb));
  EXPECT_EQ(Cnn(rgb).depth(), 6);
}

TEST(CnnConfig, BadArchitecturesAreNamed) {
  CnnConfig deep;
  deep.widths = {8, 8, 8, 8, 8, 8};  // 28 -> 14 -> 7 -> 3 -> 1 -> 0
  EXPECT_THROW(
      {
        try {
          deep.validate();
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("below 1 pixel"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  EXPECT_EQ(parse_widths("32,64,128", "w"), (std::vector<std::int64_t>{32, 64, 128}));
  for (const std::string bad : {"", "32,,64", "32,x", "0,8", "-8"})
    EXPECT_THROW(parse_widths(bad, "model.cnn-widths"), Error) << bad;
}

TEST(Cnn, WeightsFileRoundTripKeepsBatchNormStatistics) {
  const CnnConfig config{.widths = {8, 16}, .convs = 2};
  Cnn model(config);
  initialise(model, 7);
  model.train();
  {
    at::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) model.forward(at::randn({16, 1, 28, 28}) * 2 + 1);
  }
  model.eval();
  const at::Tensor images = at::randn({4, 1, 28, 28});
  const at::Tensor expected = model.forward(images);
  const testing::TempDir dir;
  const std::string path = dir.file("cnn.h5");
  save_weights(weights_of(model, {{"method", "teacher"}}), path);
  const WeightsFile file = load_weights(path);
  EXPECT_EQ(file.kind, "cnn");
  EXPECT_EQ(file.cnn.widths, config.widths);
  EXPECT_NO_THROW(file.tensor("norms.3.running_var"));
  const std::shared_ptr<Classifier> loaded = load_classifier(path);
  loaded->eval();
  EXPECT_TRUE(at::equal(loaded->forward(images), expected));  // the same numbers, not close ones
  EXPECT_THROW(load_vit(path), Error);
}

TEST(Cnn, Bf16FollowsFp32AndIsDeterministic) {
  Cnn model(CnnConfig{.widths = {16, 32}});
  initialise(model, 1);
  model.eval();
  const at::Tensor images = at::randn({8, 1, 28, 28});
  const at::Tensor fp32 = model.forward(images);
  model.set_precision(Precision::kBFloat16);
  const at::Tensor bf16 = model.forward(images);
  EXPECT_EQ(bf16.scalar_type(), at::kFloat);  // the head runs in the parameters' dtype
  EXPECT_TRUE(at::equal(bf16, model.forward(images)));
  // bfloat16 keeps 8 significant bits (relative rounding 2^-9 per operation); over 2 stages of
  // sums of 9*16 products the logits stay within a few percent of their scale.
  const double scale = fp32.abs().max().item<double>();
  EXPECT_LT((bf16 - fp32).abs().max().item<double>(), 0.05 * scale);
  EXPECT_FALSE(at::equal(bf16, fp32));  // it did compute in bfloat16
}

}  // namespace
}  // namespace tleg

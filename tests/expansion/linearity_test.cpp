// The linearity fit (tleg linearity): exact on blocks that lie on a line, chance level on
// independent blocks, the same on every way a model reaches it (tleg file, tleg export, timm's
// torch.save and safetensors), and the fitted learngene that expands back to the fitted values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "error_message.h"
#include "expansion/learngene.h"
#include "expansion/linearity.h"
#include "weights/state_dict.h"
#include "weights/model_io.h"
#include "python_reference.h"
#include "temp_dir.h"

namespace tleg {
namespace {

using testing::error_of;
using testing::TempDir;

VitConfig config_of_depth(std::int64_t depth) {
  return {.image_size = 16,
          .patch_size = 4,
          .channels = 3,
          .classes = 7,
          .dim = 32,
          .heads = 2,
          .depth = depth};
}

// Every parameter drawn independently from N(0, 1): no element keeps a value across layers.
void randomise(VitBase& model, std::uint64_t seed) {
  at::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : model.parameters()) p.normal_(0, 1, generator);
}

WeightsFile random_learngene(std::int64_t depth, std::uint64_t seed) {
  AuxViT aux(config_of_depth(depth));
  aux.to(at::kDouble);
  randomise(aux, seed);
  return weights_of(aux, {{"command", "unit test"}});
}

WeightsFile random_vit(std::int64_t depth, std::uint64_t seed, at::ScalarType dtype) {
  ViT model(config_of_depth(depth));
  model.to(dtype);
  randomise(model, seed);
  WeightsFile weights = weights_of(model, {});
  weights.source = "random";
  return weights;
}

double max_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// A TLEG descendant before fine-tuning lies on its learngene's line at positions l/L: R² = 1 and
// the fit returns θ_B and θ_A. Float64 throughout; 1e-12 leaves room for the rounding of sums over
// 12 layers (each ~1e-16 relative on values of order 1) and nothing more.
TEST(Linearity, BlocksOnALineGiveR2OneAndRecoverTheLearngene) {
  const std::int64_t depth = 12;
  const WeightsFile learngene = random_learngene(depth, 3);
  auto descendant = expand(learngene, depth);
  WeightsFile model = weights_of(*descendant, {});
  model.source = "descendant";
  const LinearityFit fit = fit_linearity(model);
  ASSERT_EQ(fit.tensors.size(), 12u);
  for (const TensorFit& t : fit.tensors) {
    EXPECT_EQ(t.constant_elements, 0) << t.name;
    EXPECT_NEAR(t.r2_q1, 1.0, 1e-12) << t.name;
    EXPECT_NEAR(t.residual_vs_spread, 0.0, 1e-12) << t.name;
    EXPECT_LE(max_difference(t.intercept, learngene.tensor("theta_B." + t.name)), 1e-12) << t.name;
    EXPECT_LE(max_difference(t.slope, learngene.tensor("theta_A." + t.name)), 1e-12) << t.name;
  }
  // The fitted learngene is the learngene: θ to 1e-12, the inherited tensors exactly.
  const WeightsFile fitted = fitted_learngene(model, fit, {});
  ASSERT_EQ(fitted.tensors.size(), learngene.tensors.size());
  for (const auto& [name, tensor] : learngene.tensors) {
    if (name.rfind("theta_", 0) == 0)
      EXPECT_LE(max_difference(fitted.tensor(name), tensor), 1e-12) << name;
    else
      EXPECT_TRUE(fitted.tensor(name).equal(tensor)) << name;
  }
}

// Independent layers: R² of a one-regressor fit on L points of noise is Beta(1/2, (L-2)/2), mean
// 1/(L-1) = 0.0909 at L = 12, standard deviation 0.11. Over the ≥ 3,072 elements of each weight
// matrix the mean's standard error is ≤ 0.002, so 0.01 is five standard errors; the median of
// Beta(1/2, 5) is 0.046, far below 0.1.
TEST(Linearity, IndependentRandomBlocksGiveChanceLevelR2) {
  const std::int64_t depth = 12;
  const LinearityFit fit = fit_linearity(random_vit(depth, 11, at::kDouble));
  const double chance = 1.0 / static_cast<double>(depth - 1);
  for (const TensorFit& t : fit.tensors) {
    EXPECT_LT(t.r2_median, 0.1) << t.name;
    if (t.elements >= 3072) {
      EXPECT_NEAR(t.r2_mean, chance, 0.01) << t.name;
    }
  }
  EXPECT_LT(fit.r2_median, 0.1);
  // The line explains about 1/(L-1) of the variation: res/spread ≈ sqrt(1 - 1/(L-1)).
  EXPECT_NEAR(fit.residual_vs_spread, std::sqrt(1 - chance), 0.01);
}

// The learngene written from a fit expands back to the fitted values: block l of the depth-L
// descendant is intercept + (l/L)·slope (one float64 multiply-add, so 1e-14 on values of order
// 1), and refitting that descendant gives R² = 1.
TEST(Linearity, FittedLearngeneExpandsToTheFittedLine) {
  TempDir dir;
  const std::int64_t depth = 6;
  const WeightsFile model = random_vit(depth, 7, at::kFloat);
  const LinearityFit fit = fit_linearity(model);
  save_weights(fitted_learngene(model, fit, {{"command", "unit test"}}), dir.file("g.h5"));
  const WeightsFile learngene = load_learngene(dir.file("g.h5"));
  EXPECT_EQ(learngene.metadata.at("fitted_from"), "random");
  EXPECT_EQ(learngene.config.depth, depth);
  auto descendant = expand(learngene, depth);
  for (std::int64_t l = 0; l < depth; ++l) {
    const auto block = descendant->block(l)->named_parameters();
    for (const TensorFit& t : fit.tensors) {
      const at::Tensor line = t.intercept + t.slope * (static_cast<double>(l) / depth);
      EXPECT_LE(max_difference(block[t.name], line), 1e-14) << l << " " << t.name;
    }
  }
  WeightsFile expanded = weights_of(*descendant, {});
  expanded.source = "expanded";
  for (const TensorFit& t : fit_linearity(expanded).tensors)
    EXPECT_NEAR(t.r2_q1, 1.0, 1e-12) << t.name;
  // The inherited tensors are the model's own (float32 values, exact in float64).
  EXPECT_TRUE(learngene.tensor("head.weight").equal(model.tensor("head.weight").to(at::kDouble)));
}

void expect_same_fit(const LinearityFit& a, const LinearityFit& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_TRUE(a.tensors[i].intercept.equal(b.tensors[i].intercept)) << a.tensors[i].name;
    EXPECT_TRUE(a.tensors[i].slope.equal(b.tensors[i].slope)) << a.tensors[i].name;
    EXPECT_EQ(a.tensors[i].r2_median, b.tensors[i].r2_median) << a.tensors[i].name;
  }
}

// One float32 model through every door: tleg's file, tleg export (.pt), timm's
// torch.save(model.state_dict()) and safetensors. The fits are identical (the same float32 values
// reach the same float64 arithmetic) and the architecture read from the shapes is the model's.
TEST(Linearity, TimmStateDictsRoundTripToTheSameFit) {
  TempDir dir;
  const std::int64_t depth = 4;
  ViT model(config_of_depth(depth));
  randomise(model, 5);
  save_weights(weights_of(model, {}), dir.file("model.h5"));
  export_timm(model, dir.file("export.pt"));
  const auto python = testing::run_python_reference(
      "timm_state_dicts.py", "--export " + dir.file("export.pt") + " --out " + dir.path().string() +
                                 " --timm \"" + timm_constructor(model.config()) + "\"");
  ASSERT_EQ(python.status, 0) << python.output;

  const LinearityFit reference = fit_linearity(load_trained_vit(dir.file("model.h5")));
  for (const char* name : {"export.pt", "timm.pt", "timm.safetensors"}) {
    SCOPED_TRACE(name);
    const WeightsFile loaded = load_trained_vit(dir.file(name), 2);
    EXPECT_TRUE(loaded.config.same_architecture(model.config())) << loaded.config.describe();
    EXPECT_EQ(loaded.config.depth, depth);
    expect_same_fit(fit_linearity(loaded), reference);
    // and the learngene fitted from it is the one fitted from the tleg file
    const WeightsFile a = fitted_learngene(loaded, fit_linearity(loaded), {});
    const WeightsFile b = fitted_learngene(load_trained_vit(dir.file("model.h5")), reference, {});
    for (const auto& [tensor_name, tensor] : b.tensors)
      EXPECT_TRUE(a.tensor(tensor_name).equal(tensor)) << tensor_name;
  }
  // Without --heads the fit works, the learngene is refused naming the option.
  const WeightsFile no_heads = load_trained_vit(dir.file("timm.pt"));
  EXPECT_NE(
      error_of([&] { fitted_learngene(no_heads, fit_linearity(no_heads), {}); }).find("--heads"),
      std::string::npos);

  // timm's default layout: the blocks are fitted, a learngene is refused naming the class token.
  const WeightsFile cls = load_trained_vit(dir.file("cls.pt"), 2);
  EXPECT_EQ(cls.config.image_size, 16);  // the class token's position row is not a patch
  const LinearityFit cls_fit = fit_linearity(cls);
  EXPECT_EQ(cls_fit.depth, depth);
  EXPECT_NE(error_of([&] { fitted_learngene(cls, cls_fit, {}); }).find("'cls_token'"),
            std::string::npos);
  // LayerScale is not a plain block: refused naming the tensor.
  const std::string layerscale = error_of([&] { load_trained_vit(dir.file("layerscale.pt")); });
  EXPECT_NE(layerscale.find("blocks.0.ls1.gamma"), std::string::npos) << layerscale;
  EXPECT_NE(layerscale.find("layerscale.pt"), std::string::npos) << layerscale;
}

TEST(Linearity, BadInputsAreRefusedNamingTheProblem) {
  TempDir dir;
  const WeightsFile shallow = random_vit(2, 1, at::kFloat);
  EXPECT_NE(error_of([&] { fit_linearity(shallow); }).find("at least 3"), std::string::npos);
  save_weights(random_learngene(4, 1), dir.file("lg.h5"));
  EXPECT_NE(error_of([&] { load_trained_vit(dir.file("lg.h5")); }).find("'learngene'"),
            std::string::npos);
  std::ofstream(dir.file("junk.pt")) << "not a zip";
  EXPECT_NE(error_of([&] { load_trained_vit(dir.file("junk.pt")); }).find("torch.save"),
            std::string::npos);
  std::ofstream(dir.file("model.onnx")) << "x";
  EXPECT_NE(error_of([&] { load_trained_vit(dir.file("model.onnx")); }).find(".safetensors"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_trained_vit(dir.file("missing.pt")); }).find("no such file"),
            std::string::npos);
}

}  // namespace
}  // namespace tleg

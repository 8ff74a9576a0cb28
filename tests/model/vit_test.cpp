// The ViT and the auxiliary net: analytical counts, shapes and names, and the two properties
// that pin TLEG down (a depth-L expansion is the auxiliary net; the learngene's gradients are
// the blocks' gradients summed with weights 1 and l/L).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "expansion/learngene.h"
#include "weights/model_io.h"
#include "model/vit.h"

namespace tleg {
namespace {

std::int64_t numel_with_prefix(const torch::nn::Module& module, const std::string& prefix) {
  std::int64_t total = 0;
  for (const auto& item : module.named_parameters())
    if (item.key().rfind(prefix, 0) == 0) total += item.value().numel();
  return total;
}

std::int64_t numel(const torch::nn::Module& module) { return numel_with_prefix(module, ""); }

TEST(VitConfig, BlockCountsMatchTheMethodTable) {
  EXPECT_EQ(block_parameter_count(vit_preset("Ti")), 444864);
  EXPECT_EQ(block_parameter_count(vit_preset("S")), 1774464);
  EXPECT_EQ(block_parameter_count(vit_preset("B")), 7087872);
  EXPECT_EQ(head_parameter_count(vit_preset("Ti")), 193000);
  EXPECT_EQ(head_parameter_count(vit_preset("S")), 385000);
  EXPECT_EQ(head_parameter_count(vit_preset("B")), 769000);
}

TEST(VitConfig, AnalyticalCountsEqualTheTensorSizes) {
  for (const std::string size : {"Ti", "S", "B"}) {
    VitConfig config = vit_preset(size);
    config.depth = 3;
    ViT vit(config);
    EXPECT_EQ(numel(vit), vit_parameter_count(config)) << size;
    EXPECT_EQ(numel_with_prefix(vit, "blocks.1."), block_parameter_count(config)) << size;
    EXPECT_EQ(numel_with_prefix(vit, "head."), head_parameter_count(config)) << size;
    AuxViT aux(config);
    EXPECT_EQ(numel(aux), learngene_parameter_count(config)) << size;
    EXPECT_EQ(numel_with_prefix(aux, "theta_A."), block_parameter_count(config)) << size;
  }
  VitConfig small{.image_size = 28,
                  .patch_size = 4,
                  .channels = 1,
                  .classes = 10,
                  .dim = 96,
                  .heads = 3,
                  .depth = 5};
  EXPECT_EQ(numel(ViT(small)), vit_parameter_count(small));
}

TEST(VitConfig, FlopsFollowTheFormula) {
  // DeiT-Ti at 224/16 without a class token: 196 tokens. Per block: qkv 2*196*192*576,
  // attention 4*196*196*192, projection 2*196*192*192, MLP 4*196*192*768.
  const VitConfig ti = vit_preset("Ti");
  const std::int64_t block =
      2LL * 196 * 192 * 576 + 4LL * 196 * 196 * 192 + 2LL * 196 * 192 * 192 + 4LL * 196 * 192 * 768;
  const std::int64_t embed = 2LL * 196 * 192 * 3 * 16 * 16;
  EXPECT_EQ(forward_flops(ti), embed + 12 * block + 2LL * 192 * 1000);
  EXPECT_EQ(training_flops(ti), 3 * forward_flops(ti));
}

TEST(VitConfig, RejectsBadShapes) {
  VitConfig config = vit_preset("Ti");
  config.image_size = 30;
  EXPECT_THROW(config.validate(), std::exception);
  config = vit_preset("Ti");
  config.heads = 5;
  EXPECT_THROW(config.validate(), std::exception);
  EXPECT_THROW(vit_preset("XL"), std::exception);
}

TEST(ViT, UsesTimmParameterNames) {
  VitConfig config{.image_size = 8,
                   .patch_size = 4,
                   .channels = 1,
                   .classes = 3,
                   .dim = 6,
                   .heads = 2,
                   .depth = 2};
  ViT vit(config);
  std::vector<std::string> names;
  for (const auto& item : vit.named_parameters()) names.push_back(item.key());
  for (const std::string expected :
       {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed", "fc_norm.weight",
        "fc_norm.bias", "head.weight", "head.bias", "blocks.1.norm1.weight",
        "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias", "blocks.1.attn.proj.weight",
        "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.bias"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  EXPECT_EQ(names.size(), 7u + 2 * 12);
  AuxViT aux(config);
  EXPECT_NE(aux.named_parameters().find("theta_A.attn.qkv.weight"), nullptr);
  EXPECT_NE(aux.named_parameters().find("theta_B.mlp.fc2.bias"), nullptr);
  EXPECT_EQ(aux.named_parameters().size(), 7u + 2 * 12);
}

TEST(ViT, InitialValuesFollowTheMethod) {
  VitConfig config = vit_preset("Ti");
  config.depth = 2;
  AuxViT aux(config);
  initialise(aux, 7);
  EXPECT_TRUE(aux.theta_B->norm1->weight.eq(1).all().item<bool>());
  EXPECT_TRUE(aux.theta_A->norm1->weight.eq(0).all().item<bool>());
  EXPECT_TRUE(aux.theta_A->attn->qkv->bias.eq(0).all().item<bool>());
  const at::Tensor w = aux.theta_A->mlp->fc1->weight;
  // timm's trunc_normal_(std=.02) cuts at +-2 absolute (100 sigma): a plain N(0, 0.02), whose
  // 221k values here reach past 4 sigma, where a cut at 2 sigma would give std 0.0176.
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.0002);
  EXPECT_GT(w.abs().max().item<double>(), 0.08);
  AuxViT again(config);
  initialise(again, 7);
  EXPECT_TRUE(again.theta_A->mlp->fc1->weight.equal(w));
}

TEST(ViT, ForwardShapesAndDropPathDeterminism) {
  VitConfig config{.image_size = 28,
                   .patch_size = 7,
                   .channels = 1,
                   .classes = 10,
                   .dim = 24,
                   .heads = 3,
                   .depth = 4,
                   .drop_path = 0.5};
  ViT vit(config);
  initialise(vit, 1);
  const at::Tensor images = at::randn({5, 1, 28, 28});
  vit.train();
  const at::Tensor a = vit.forward(images, at::make_generator<at::CPUGeneratorImpl>(3));
  const at::Tensor b = vit.forward(images, at::make_generator<at::CPUGeneratorImpl>(3));
  EXPECT_EQ(a.sizes(), (std::vector<std::int64_t>{5, 10}));
  EXPECT_TRUE(a.equal(b));
  vit.eval();
  const at::Tensor c = vit.forward(images);
  EXPECT_FALSE(a.allclose(c));  // drop path acts in training only
  EXPECT_THROW(vit.forward(at::randn({2, 3, 28, 28})), std::exception);
}

// A small auxiliary net with every parameter random (also the θ_A norms, which start at 0),
// in float64 so that the comparisons below measure the method, not rounding.
std::shared_ptr<AuxViT> random_aux(std::int64_t depth) {
  VitConfig config{.image_size = 16,
                   .patch_size = 4,
                   .channels = 2,
                   .classes = 5,
                   .dim = 24,
                   .heads = 3,
                   .depth = depth};
  auto aux = std::make_shared<AuxViT>(config);
  aux->to(at::kDouble);
  at::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(11);
  for (auto& item : aux->named_parameters()) item.value().normal_(0.0, 0.2, generator);
  return aux;
}

TEST(AuxViT, DepthLExpansionReproducesTheAuxiliaryNet) {
  auto aux = random_aux(12);
  aux->eval();
  const at::Tensor images = at::randn({4, 2, 16, 16}, at::kDouble);
  const at::Tensor expected = aux->forward(images);
  auto descendant = expand(weights_of(*aux, {}), 12);
  descendant->eval();
  const at::Tensor actual = descendant->forward(images);
  // float64 with identical operations in the same order: only the W_B + (l/L) W_A rounding
  // differs (it does not: both use the same line_weights), so 1e-6 is a loose bound.
  EXPECT_LE((actual - expected).abs().max().item<double>(), 1e-6);
  EXPECT_GT(expected.abs().max().item<double>(), 1e-2);  // not a trivially zero output
}

TEST(AuxViT, LearngeneGradientsAreWeightedSumsOfBlockGradients) {
  const std::int64_t depth = 6;
  auto aux = random_aux(depth);
  auto explicit_vit = expand(weights_of(*aux, {}), depth);
  const at::Tensor images = at::randn({3, 2, 16, 16}, at::kDouble);
  const at::Tensor probe = at::randn({3, 5}, at::kDouble);
  (aux->forward(images) * probe).sum().backward();
  (explicit_vit->forward(images) * probe).sum().backward();

  auto relative_error = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item<double>();
  };
  for (const auto& item : aux->theta_B->named_parameters()) {
    at::Tensor sum_b = at::zeros_like(item.value());
    at::Tensor sum_a = at::zeros_like(item.value());
    for (std::int64_t l = 0; l < depth; ++l) {
      const at::Tensor g =
          explicit_vit->named_parameters()["blocks." + std::to_string(l) + "." + item.key()].grad();
      sum_b += g;
      sum_a += g * (static_cast<double>(l) / depth);
    }
    // Same operations up to the order of the sums: float64 agrees to ~1e-14; 1e-6 is the
    // required bound.
    EXPECT_LE(relative_error(item.value().grad(), sum_b), 1e-6) << "theta_B." << item.key();
    EXPECT_LE(relative_error(aux->theta_A->named_parameters()[item.key()].grad(), sum_a), 1e-6)
        << "theta_A." << item.key();
  }
  EXPECT_LE(relative_error(aux->head->weight.grad(), explicit_vit->head->weight.grad()), 1e-6);
  EXPECT_LE(relative_error(aux->pos_embed.grad(), explicit_vit->pos_embed.grad()), 1e-6);
}

// bf16 mixed precision against the same model in float32. bfloat16 keeps 8 significant bits
// (relative rounding 2^-9 ~ 0.2% per value); a 4-deep net rounds its inputs, weights and
// activations at every product; measured here: logits 0.4% off, the worst parameter gradient
// (products of two rounded factors) 2.6%. The bounds (5% on logits, 10% on gradients, as norms
// of the difference relative to the float32 values) leave room for other kernels and still
// catch a real error: a block skipped, a weight left at zero, a gradient lost in a cast are
// 30-100% off.
TEST(Precision, Bf16FollowsFp32WithFloat32GradientsAndIsDeterministic) {
  const VitConfig config{.image_size = 16,
                         .patch_size = 4,
                         .channels = 2,
                         .classes = 5,
                         .dim = 48,
                         .heads = 3,
                         .depth = 4,
                         .drop_path = 0.2};
  AuxViT aux(config);
  initialise(aux, 2);
  {
    // Random slopes and norms too, so every block differs and every tensor matters.
    at::NoGradGuard no_grad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
    for (auto& p : aux.theta_A->parameters()) p.normal_(0.0, 0.05, generator);
  }
  aux.train();
  const at::Tensor images = at::randn({6, 2, 16, 16});
  const at::Tensor probe = at::randn({6, 5});
  auto run = [&](Precision precision) {
    aux.set_precision(precision);
    aux.zero_grad();
    const at::Tensor logits = aux.forward(images, at::make_generator<at::CPUGeneratorImpl>(9));
    (logits * probe).sum().backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : aux.parameters()) grads.push_back(p.grad().clone());
    return std::pair{logits.detach(), grads};
  };
  const auto [fp32_logits, fp32_grads] = run(Precision::kFloat32);
  const auto [bf16_logits, bf16_grads] = run(Precision::kBFloat16);
  const auto [again_logits, again_grads] = run(Precision::kBFloat16);
  auto relative = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a - b).norm() / b.norm()).item<double>();
  };
  EXPECT_EQ(bf16_logits.scalar_type(), at::kFloat);  // logits in the parameters' dtype
  EXPECT_FALSE(bf16_logits.equal(fp32_logits));      // the bf16 path did run
  EXPECT_LE(relative(bf16_logits, fp32_logits), 5e-2);
  double worst_gradient = 0;
  const auto names = aux.named_parameters().keys();
  for (std::size_t i = 0; i < bf16_grads.size(); ++i) {
    EXPECT_EQ(bf16_grads[i].scalar_type(), at::kFloat) << names[i];
    const double error = relative(bf16_grads[i], fp32_grads[i]);
    worst_gradient = std::max(worst_gradient, error);
    EXPECT_LE(error, 1e-1) << names[i];
    EXPECT_TRUE(again_grads[i].equal(bf16_grads[i])) << names[i];  // same inputs, same bits
  }
  EXPECT_TRUE(again_logits.equal(bf16_logits));
  // The measured errors, in the XML report (--gtest_output=xml), to keep the bounds honest.
  RecordProperty("logits_relative_error", std::to_string(relative(bf16_logits, fp32_logits)));
  RecordProperty("worst_gradient_relative_error", std::to_string(worst_gradient));
}

}  // namespace
}  // namespace tleg

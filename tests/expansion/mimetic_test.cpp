// Mimetic initialisation against the paper's construction: for the same draws Z, every head's
// query-key product is the best rank-head_dim part of its α₁Z + β₁I and the heads' value-
// projection products sum to α₂Z − β₂I; the draws have the paper's statistics; everything but
// the attention weights is the scratch model's.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "expansion/initializer.h"
#include "expansion/mimetic.h"
#include "model/vit.h"

namespace tleg {
namespace {

VitConfig mimetic_config(std::int64_t dim, std::int64_t heads, std::int64_t depth) {
  return {.image_size = 16,
          .patch_size = 4,
          .channels = 3,
          .classes = 7,
          .dim = dim,
          .heads = heads,
          .depth = depth};
}

// The best rank-`rank` approximation of `target` (Eckart-Young: its largest singular triplets).
at::Tensor best_rank(const at::Tensor& target, std::int64_t rank) {
  const auto [u, s, vh] = at::linalg_svd(target, false);
  return (u.slice(1, 0, rank) * s.slice(0, 0, rank)).mm(vh.slice(0, 0, rank));
}

TEST(Mimetic, AttentionProductsAreThePapersForTheSameDraws) {
  const VitConfig config = mimetic_config(24, 3, 3);
  const std::int64_t dim = config.dim, head_dim = dim / config.heads;
  ViT model(config);
  make_initializer({.method = "mimetic", .seed = 6})->initialise(model);
  ViT scratch(config);
  initialise(scratch, 6);
  const std::vector<MimeticTargets> targets = mimetic_targets(config, 6);
  ASSERT_EQ(targets.size(), 3u);
  for (std::int64_t b = 0; b < config.depth; ++b) {
    const MimeticTargets& target = targets[static_cast<std::size_t>(b)];
    const at::Tensor qkv = model.block(b)->attn->qkv->weight.to(at::kDouble);
    const at::Tensor proj = model.block(b)->attn->proj->weight.to(at::kDouble);
    // Scores are x·W_qᵀ·W_k·xᵀ for row vectors x (timm's out x in layout). Float32 factors of
    // entries below 1 with head_dim terms per entry: the product is exact to ~1e-6.
    for (std::int64_t h = 0; h < config.heads; ++h) {
      const at::Tensor query = qkv.slice(0, h * head_dim, (h + 1) * head_dim);
      const at::Tensor key = qkv.slice(0, dim + h * head_dim, dim + (h + 1) * head_dim);
      const at::Tensor product = query.t().mm(key);
      const double error =
          (product - best_rank(target.query_key[h], head_dim)).abs().max().item<double>();
      EXPECT_LT(error, 1e-5) << "block " << b << " head " << h;
      // Rank head_dim: the singular values past it are float32 rounding (~1e-7).
      EXPECT_EQ((at::linalg_svdvals(product) > 1e-4).sum().item<std::int64_t>(), head_dim);
    }
    // x·W_vᵀ·W_projᵀ: every head's value rows with its projection columns, summed, is the
    // whole target (dim terms per entry: 1e-5 again covers float32 rounding).
    const at::Tensor value = qkv.slice(0, 2 * dim, 3 * dim);
    const double error = (value.t().mm(proj.t()) - target.value_proj).abs().max().item<double>();
    EXPECT_LT(error, 1e-5) << "block " << b;
  }
  // Everything else as scratch draws it: biases, norms, MLP, embeddings, head.
  const auto scratch_parameters = scratch.named_parameters();
  for (const auto& item : model.named_parameters()) {
    const bool attention =
        item.key().ends_with("attn.qkv.weight") || item.key().ends_with("attn.proj.weight");
    EXPECT_EQ(item.value().equal(scratch_parameters[item.key()]), !attention) << item.key();
  }
}

// Z ~ N(0, 1/dim): with dim 64 and 4 heads over 4 blocks the targets hold 1,024 (query-key) and
// 256 (value-projection) diagonal values, whose means have a sampling std of α/8/√n ≤ 0.003, and
// 64,512 and 16,128 off-diagonal values, whose std is estimated within 0.6 %: tolerances of 0.02
// and 3 % are over 5 sampling stds.
TEST(Mimetic, TheDrawsHaveThePapersStatistics) {
  const VitConfig config = mimetic_config(64, 4, 4);
  const MimeticSettings paper;
  const auto targets = mimetic_targets(config, 11);
  std::vector<at::Tensor> query_key, value_proj;
  for (const auto& target : targets) {
    query_key.push_back(target.query_key);
    value_proj.push_back(target.value_proj.unsqueeze(0));
  }
  const at::Tensor off_diagonal = 1 - at::eye(64, at::kDouble);
  const auto check = [&](const at::Tensor& all, double alpha, double beta, const char* what) {
    const at::Tensor diagonal = all.diagonal(0, -2, -1);
    EXPECT_NEAR(diagonal.mean().item<double>(), beta, 0.02) << what;
    const at::Tensor off = all.masked_select(off_diagonal.to(at::kBool).expand_as(all));
    EXPECT_NEAR(off.mean().item<double>(), 0.0, 0.02) << what;
    EXPECT_NEAR(off.std().item<double>() / (alpha / 8.0), 1.0, 0.03) << what;
  };
  check(at::cat(query_key), paper.query_key_alpha, paper.query_key_beta, "query-key");
  check(at::cat(value_proj), paper.value_proj_alpha, -paper.value_proj_beta, "value-proj");
  // The same seed draws the same targets; another seed others.
  EXPECT_TRUE(mimetic_targets(config, 11)[2].value_proj.equal(targets[2].value_proj));
  EXPECT_FALSE(mimetic_targets(config, 12)[2].value_proj.equal(targets[2].value_proj));
}

}  // namespace
}  // namespace tleg

#include "expansion/mimetic.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/hash.h"
#include "model/vit.h"

namespace tleg {
namespace {

// Keeps the mimetic draws apart from scratch initialisation's, which seeds its generator with
// the run's seed itself ("mimetic" in ASCII).
constexpr std::uint64_t kMimeticStream = 0x6d696d6574696300ULL;

// U√S and V√S of the SVD of `target` (float64), keeping its `rank` largest singular values.
std::pair<at::Tensor, at::Tensor> split_factors(const at::Tensor& target, std::int64_t rank) {
  const auto [u, s, vh] = at::linalg_svd(target, /*full_matrices=*/false);
  const at::Tensor root = s.slice(0, 0, rank).sqrt();
  return {u.slice(1, 0, rank) * root, vh.slice(0, 0, rank).transpose(0, 1) * root};
}

}  // namespace

std::vector<MimeticTargets> mimetic_targets(const VitConfig& config, std::uint64_t seed,
                                            const MimeticSettings& settings) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(mix64(seed ^ kMimeticStream));
  const std::int64_t dim = config.dim;
  const double std = 1.0 / std::sqrt(static_cast<double>(dim));
  const at::Tensor identity = at::eye(dim, at::kDouble);
  std::vector<MimeticTargets> targets;
  for (std::int64_t block = 0; block < config.depth; ++block) {
    const at::Tensor query_key_z = at::empty({config.heads, dim, dim}, at::kDouble);
    query_key_z.normal_(0.0, std, generator);
    const at::Tensor value_proj_z = at::empty({dim, dim}, at::kDouble);
    value_proj_z.normal_(0.0, std, generator);
    targets.push_back(
        {settings.query_key_alpha * query_key_z + settings.query_key_beta * identity,
         settings.value_proj_alpha * value_proj_z - settings.value_proj_beta * identity});
  }
  return targets;
}

void set_mimetic_attention(const BlockWeights& block, const MimeticTargets& targets) {
  at::NoGradGuard no_grad;
  const std::int64_t heads = targets.query_key.size(0);
  const std::int64_t dim = targets.value_proj.size(0);
  const std::int64_t head_dim = dim / heads;
  // qkv.weight is [3·dim, dim]: the query rows, then the key rows, then the value rows.
  const at::Tensor query = block.qkv_weight.slice(0, 0, dim);
  const at::Tensor key = block.qkv_weight.slice(0, dim, 2 * dim);
  const at::Tensor value = block.qkv_weight.slice(0, 2 * dim, 3 * dim);
  for (std::int64_t h = 0; h < heads; ++h) {
    const auto [query_factor, key_factor] = split_factors(targets.query_key[h], head_dim);
    query.slice(0, h * head_dim, (h + 1) * head_dim).copy_(query_factor.transpose(0, 1));
    key.slice(0, h * head_dim, (h + 1) * head_dim).copy_(key_factor.transpose(0, 1));
  }
  // Full rank: head h takes singular triplets h·head_dim ... (h+1)·head_dim − 1, so the sum
  // over heads of W_v^hᵀ W_proj^hᵀ is value_proj itself.
  const auto [value_factor, proj_factor] = split_factors(targets.value_proj, dim);
  value.copy_(value_factor.transpose(0, 1));
  block.proj_weight.copy_(proj_factor);
}

}  // namespace tleg

// Mimetic initialisation (Trockman & Kolter, ICML 2023): attention weights set in closed form so
// that every head's query-key product is near the identity and the value-projection product
// near minus the identity, as in trained ViTs; no pre-trained weights. docs/method.md says what
// is drawn and how it is factored.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "model/vit_config.h"

namespace tleg {

struct BlockWeights;

// The paper's settings for ViTs: W_q W_kᵀ ≈ α₁Z + β₁I, W_v W_proj ≈ α₂Z − β₂I.
struct MimeticSettings {
  double query_key_alpha = 0.7, query_key_beta = 0.7;
  double value_proj_alpha = 0.4, value_proj_beta = 0.4;
};

// The products one block's attention is built to have, in float64, for inputs as row vectors
// (x ↦ x·T): per head h, query_key[h] = α₁Z_h + β₁I ([heads, dim, dim]); for all heads together,
// value_proj = α₂Z − β₂I ([dim, dim]); every Z drawn with entries N(0, 1/dim).
struct MimeticTargets {
  at::Tensor query_key, value_proj;
};

// The targets of every block of a `config` model, block by block from one generator seeded by
// `seed` (apart from the stream of scratch initialisation of the same seed).
std::vector<MimeticTargets> mimetic_targets(const VitConfig& config, std::uint64_t seed,
                                            const MimeticSettings& settings = {});

// Sets the query, key and value rows of `block`'s qkv weight and its projection weight (timm's
// layout, out x in) from `targets`: head h's query and key rows are its target's top head_dim
// singular triplets, U√S and V√S, so W_q^hᵀ W_k^h is that target's best rank-head_dim part; the
// value rows and projection columns are √S·Uᵀ and V√S of the full SVD of value_proj, split by
// head, so the heads' value-projection products sum to value_proj exactly. Biases are left as
// they are.
void set_mimetic_attention(const BlockWeights& block, const MimeticTargets& targets);

}  // namespace tleg

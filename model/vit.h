// The ViT of tleg (DeiT family: pre-norm blocks, no class token, mean pooling then final
// LayerNorm) and the auxiliary ViT whose blocks are points on the learngene's line.
// Parameter names follow timm's VisionTransformer so exported weights load without renaming.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model/classifier.h"
#include "model/vit_config.h"

namespace tleg {

// The 12 tensors of one block, in the order of docs/method.md §1.
struct BlockWeights {
  at::Tensor norm1_weight, norm1_bias;
  at::Tensor qkv_weight, qkv_bias;
  at::Tensor proj_weight, proj_bias;
  at::Tensor norm2_weight, norm2_bias;
  at::Tensor fc1_weight, fc1_bias;
  at::Tensor fc2_weight, fc2_bias;
};

// Parameter holders named like timm's modules ("attn.qkv.weight", ...). They hold tensors only:
// the forward pass is one function for every model, so the ViT and the auxiliary net cannot
// drift apart.
struct LinearParams : torch::nn::Module {
  LinearParams(std::int64_t in, std::int64_t out);
  at::Tensor weight, bias;
};
struct NormParams : torch::nn::Module {
  explicit NormParams(std::int64_t dim);
  at::Tensor weight, bias;
};
struct AttentionParams : torch::nn::Module {
  explicit AttentionParams(std::int64_t dim);
  std::shared_ptr<LinearParams> qkv, proj;
};
struct MlpParams : torch::nn::Module {
  MlpParams(std::int64_t dim, std::int64_t hidden);
  std::shared_ptr<LinearParams> fc1, fc2;
};
// One block's parameters: a ViT block, or θ_A / θ_B of a learngene.
struct BlockParams : torch::nn::Module {
  explicit BlockParams(const VitConfig& config);
  BlockWeights weights() const;
  std::shared_ptr<NormParams> norm1;
  std::shared_ptr<AttentionParams> attn;
  std::shared_ptr<NormParams> norm2;
  std::shared_ptr<MlpParams> mlp;
};
struct PatchEmbedParams : torch::nn::Module {
  explicit PatchEmbedParams(const VitConfig& config);
  at::Tensor proj_weight, proj_bias;  // registered as "proj.weight", "proj.bias"
};

// LayerNorm epsilon of every norm, in the ViT and the auxiliary net alike (docs/method.md §9:
// the released auxiliary net used 1e-5 and its descendants 1e-6; tleg uses 1e-6 for both so a
// depth-L descendant reproduces the auxiliary net exactly).
inline constexpr double kLayerNormEps = 1e-6;

// Rows shorter than this many tokens take their softmax in float32 when the scores are
// bfloat16: PyTorch's bfloat16 softmax kernel vectorises along the row, and a row shorter than
// one AVX-512 vector (32 bfloat16 values) leaves it mostly idle. Float32 probabilities rounded
// to bfloat16 are at least as accurate as the bfloat16 kernel's.
inline constexpr std::int64_t kFloatSoftmaxBelowTokens = 32;
// The attention weights softmax(scores) over the last dimension, in the scores' dtype.
at::Tensor attention_softmax(const at::Tensor& scores);
// softmax(q k^T / sqrt(head_dim)) v for q, k, v of [B, heads, N, head_dim], as a block computes
// it: batched products and attention_softmax.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// What the ViT and the auxiliary net share: patch and position embedding, final norm, head, and
// the forward pass. Subclasses say what the weights of block l are.
// With bf16 precision each pass casts every block weight once to bfloat16 (for the auxiliary
// net after forming W_B + (l/L)·W_A in float32, so the learngene's gradients are summed in
// float32), and autograd carries the gradients back into the float32 parameters.
class VitBase : public Classifier {
 public:
  explicit VitBase(const VitConfig& config);
  ~VitBase() override = default;

  const VitConfig& config() const { return config_; }
  std::int64_t depth() const override { return config_.depth; }
  std::int64_t classes() const override { return config_.classes; }
  std::int64_t channels() const override { return config_.channels; }
  std::int64_t image_size() const override { return config_.image_size; }
  std::string describe() const override { return config_.describe(); }
  std::int64_t image_forward_flops() const override { return forward_flops(config_); }
  virtual BlockWeights block_weights(std::int64_t index) const = 0;

  // images [B, C, H, W] -> logits [B, classes] in the parameters' dtype. `generator` drives drop
  // path in training (the default generator when none is given).
  at::Tensor forward(const at::Tensor& images,
                     std::optional<at::Generator> generator = {}) override;
  // The pooled, normalised features before the head, in the parameters' dtype.
  at::Tensor features(const at::Tensor& images, std::optional<at::Generator> generator = {});

  std::shared_ptr<PatchEmbedParams> patch_embed;
  at::Tensor pos_embed;  // [1, patches, dim]
  std::shared_ptr<NormParams> fc_norm;
  std::shared_ptr<LinearParams> head;

 protected:
  // The weights of every block for one pass in `compute`: the matrices and biases in `compute`,
  // the LayerNorm weights in the parameters' dtype. By default block_weights(l) cast block by
  // block; the auxiliary net forms all its blocks at once.
  virtual std::vector<BlockWeights> pass_weights(at::ScalarType compute) const;

  VitConfig config_;
};

// A plain ViT: `depth` independent blocks, "blocks.{i}.*".
class ViT : public VitBase {
 public:
  explicit ViT(const VitConfig& config);
  BlockWeights block_weights(std::int64_t index) const override;
  std::shared_ptr<BlockParams> block(std::int64_t index) const { return blocks_.at(index); }

 private:
  std::vector<std::shared_ptr<BlockParams>> blocks_;
};

// The auxiliary net of stage 1: its only block parameters are the learngene's θ_B ("theta_B.*")
// and θ_A ("theta_A.*"); block l of L uses W_B + (l/L)·W_A, computed on the fly (line_weights)
// so that autograd sums the blocks' gradients into the learngene.
class AuxViT : public VitBase {
 public:
  explicit AuxViT(const VitConfig& config);  // config.depth is L
  BlockWeights block_weights(std::int64_t index) const override;

  std::shared_ptr<BlockParams> theta_B;
  std::shared_ptr<BlockParams> theta_A;

 protected:
  std::vector<BlockWeights> pass_weights(at::ScalarType compute) const override;
};

// Initial values (docs/method.md §1): linear weights, position embedding and head from timm's
// trunc_normal_(std=.02) (bounds +-2 absolute); biases 0; norms weight 1, bias 0; for the auxiliary
// net the θ_A norm weights are 0 so every block starts with unit norms. The patch convolution keeps
// PyTorch's default (as timm does). Deterministic in `seed`.
void initialise(VitBase& model, std::uint64_t seed);

// Every block of a `depth`-deep net on the line: block i gets W_B + (i/depth)·W_A, each tensor
// of all blocks formed by one operation over a [depth, ...] stack (then its matrices and biases
// cast once to `compute`, the norms kept in the parameters' dtype), instead of depth additions
// and casts per tensor: 32 operations per pass instead of 228 for L = 12, and autograd sums the
// blocks' gradients into W_B and W_A by one reduction in the parameters' dtype. The auxiliary
// net's pass and expand() both use it, so a depth-L descendant gets the very bits the auxiliary
// net computed with.
std::vector<BlockWeights> line_weights(const BlockWeights& base, const BlockWeights& slope,
                                       std::int64_t depth, at::ScalarType compute);

// Copies every tensor of `from` into the matching tensor of `into` (without autograd).
void copy_block_weights(const BlockWeights& into, const BlockWeights& from);

// The drop-path rate of block `index` (timm's linspace(0, drop_path, depth)).
double drop_path_rate(const VitConfig& config, std::int64_t index);

}  // namespace tleg

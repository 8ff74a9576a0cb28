#include "model/vit.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/init.h>

#include <cmath>

#include "common/error.h"

namespace tleg {
namespace {

constexpr at::Tensor BlockWeights::*kBlockFields[] = {
    &BlockWeights::norm1_weight, &BlockWeights::norm1_bias,  &BlockWeights::qkv_weight,
    &BlockWeights::qkv_bias,     &BlockWeights::proj_weight, &BlockWeights::proj_bias,
    &BlockWeights::norm2_weight, &BlockWeights::norm2_bias,  &BlockWeights::fc1_weight,
    &BlockWeights::fc1_bias,     &BlockWeights::fc2_weight,  &BlockWeights::fc2_bias};

// Stochastic depth per sample, scaled by the keep probability (timm's DropPath).
at::Tensor drop_path(const at::Tensor& x, double rate, bool training,
                     const std::optional<at::Generator>& generator) {
  if (!training || rate == 0.0) return x;
  const double keep = 1.0 - rate;
  // Drawn in float32 whatever the compute dtype, so both precisions drop the same samples.
  at::Tensor mask =
      at::empty({x.size(0), 1, 1}, x.options().dtype(at::kFloat)).bernoulli_(keep, generator);
  return x * mask.to(x.scalar_type()).div_(keep);
}

at::Tensor block_forward(const at::Tensor& input, const BlockWeights& w, std::int64_t heads,
                         double drop_rate, bool training,
                         const std::optional<at::Generator>& generator) {
  const std::int64_t batch = input.size(0), tokens = input.size(1), dim = input.size(2);
  at::Tensor y = at::layer_norm(input, {dim}, w.norm1_weight, w.norm1_bias, kLayerNormEps);
  // [B, N, 3D] -> q, k, v of [B, heads, N, head_dim] (views; unbind, not three selects, so
  // backward stacks one gradient instead of summing three full-size zero-padded ones).
  const std::vector<at::Tensor> qkv = at::linear(y, w.qkv_weight, w.qkv_bias)
                                          .reshape({batch, tokens, 3, heads, dim / heads})
                                          .permute({2, 0, 3, 1, 4})
                                          .unbind(0);
  at::Tensor attended =
      attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape({batch, tokens, dim});
  attended = at::linear(attended, w.proj_weight, w.proj_bias);
  at::Tensor x = input + drop_path(attended, drop_rate, training, generator);

  y = at::layer_norm(x, {dim}, w.norm2_weight, w.norm2_bias, kLayerNormEps);
  y = at::linear(at::gelu(at::linear(y, w.fc1_weight, w.fc1_bias)), w.fc2_weight, w.fc2_bias);
  return x + drop_path(y, drop_rate, training, generator);
}

// The fields a pass casts to its compute dtype: the matrices and biases. The LayerNorm weights
// stay in the parameters' dtype, since the norm kernel takes a bfloat16 input with float32
// weights and keeps its statistics in float32.
bool cast_for_pass(at::Tensor BlockWeights::*field) {
  return field != &BlockWeights::norm1_weight && field != &BlockWeights::norm1_bias &&
         field != &BlockWeights::norm2_weight && field != &BlockWeights::norm2_bias;
}

// The block's weights for a pass in `dtype` (a no-op cast when they are already in it).
BlockWeights in_dtype(BlockWeights w, at::ScalarType dtype) {
  for (const auto field : kBlockFields)
    if (cast_for_pass(field)) w.*field = (w.*field).to(dtype);
  return w;
}

// timm's trunc_normal_(std=std) (PyTorch's nn.init.trunc_normal_ with its default bounds
// a = -2, b = 2 in absolute value, about +-100 std at 0.02: in effect an untruncated normal), by
// the same inverse transform sampling, driven by an explicit generator.
void truncated_normal_(at::Tensor& tensor, double std, at::Generator& generator) {
  constexpr double kBound = 2.0;
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double lower = cdf(-kBound / std), upper = cdf(kBound / std);
  tensor.uniform_(2 * lower - 1, 2 * upper - 1, generator).erfinv_().mul_(std * std::sqrt(2.0));
  tensor.clamp_(-kBound, kBound);
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// The measurement behind kFloatSoftmaxBelowTokens (model/vit.h), fwd+bwd on one thread (process
// CPU time, load ~13 on 2 cores): 16 tokens (the 28px demo, [64, 2, 16, 16]) 490 us in bfloat16
// against 185 us cast to float32 and back; 64 tokens (the 64px Ti, [64, 3, 64, 64]) 3.2 ms
// against 5.8 ms, so longer rows stay in bfloat16 (bench/step_bench's lever/attention).
at::Tensor attention_softmax(const at::Tensor& scores) {
  if (scores.scalar_type() != at::kBFloat16 || scores.size(-1) >= kFloatSoftmaxBelowTokens)
    return at::softmax(scores, -1);
  return at::softmax(scores, -1, at::kFloat).to(at::kBFloat16);
}

// Attention as batched products and a softmax, not SDPA's fused CPU kernel (flash attention):
// at these token counts (16 to 196) its blocked loops cost more than they save, above all in
// backward and in bfloat16 (fwd+bwd of the 64px Ti block: 34 ms against 137 ms in bf16, 64
// against 91 ms in fp32, one thread). Scaling q (head_dim^-0.5) first also makes it contiguous
// for the product.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return at::matmul(attention_softmax(at::matmul(q * scale, k.transpose(-2, -1))), v);
}

LinearParams::LinearParams(std::int64_t in, std::int64_t out) {
  weight = register_parameter("weight", at::empty({out, in}));
  bias = register_parameter("bias", at::zeros({out}));
}

NormParams::NormParams(std::int64_t dim) {
  weight = register_parameter("weight", at::ones({dim}));
  bias = register_parameter("bias", at::zeros({dim}));
}

AttentionParams::AttentionParams(std::int64_t dim) {
  qkv = register_module("qkv", std::make_shared<LinearParams>(dim, 3 * dim));
  proj = register_module("proj", std::make_shared<LinearParams>(dim, dim));
}

MlpParams::MlpParams(std::int64_t dim, std::int64_t hidden) {
  fc1 = register_module("fc1", std::make_shared<LinearParams>(dim, hidden));
  fc2 = register_module("fc2", std::make_shared<LinearParams>(hidden, dim));
}

BlockParams::BlockParams(const VitConfig& config) {
  norm1 = register_module("norm1", std::make_shared<NormParams>(config.dim));
  attn = register_module("attn", std::make_shared<AttentionParams>(config.dim));
  norm2 = register_module("norm2", std::make_shared<NormParams>(config.dim));
  mlp = register_module("mlp", std::make_shared<MlpParams>(config.dim, config.hidden()));
}

BlockWeights BlockParams::weights() const {
  return {norm1->weight,      norm1->bias,      attn->qkv->weight, attn->qkv->bias,
          attn->proj->weight, attn->proj->bias, norm2->weight,     norm2->bias,
          mlp->fc1->weight,   mlp->fc1->bias,   mlp->fc2->weight,  mlp->fc2->bias};
}

PatchEmbedParams::PatchEmbedParams(const VitConfig& config) {
  // A module "proj" holding only weight and bias, so the names are patch_embed.proj.*.
  struct Conv : torch::nn::Module {};
  auto proj = register_module("proj", std::make_shared<Conv>());
  proj_weight = proj->register_parameter(
      "weight", at::empty({config.dim, config.channels, config.patch_size, config.patch_size}));
  proj_bias = proj->register_parameter("bias", at::zeros({config.dim}));
}

VitBase::VitBase(const VitConfig& config) : config_(config) {
  config_.validate();
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbedParams>(config_));
  pos_embed = register_parameter("pos_embed", at::zeros({1, config_.patches(), config_.dim}));
  fc_norm = register_module("fc_norm", std::make_shared<NormParams>(config_.dim));
  head = register_module("head", std::make_shared<LinearParams>(config_.dim, config_.classes));
}

at::Tensor VitBase::features(const at::Tensor& images, std::optional<at::Generator> generator) {
  if (images.dim() != 4 || images.size(1) != config_.channels ||
      images.size(2) != config_.image_size || images.size(3) != config_.image_size)
    fail("model input has shape ", images.sizes(), " but the model expects [batch, ",
         config_.channels, ", ", config_.image_size, ", ", config_.image_size, "]");
  const at::ScalarType parameters = pos_embed.scalar_type();
  const at::ScalarType compute = precision_ == Precision::kBFloat16 ? at::kBFloat16 : parameters;
  // Patchify with the strided convolution, then [B, D, h, w] -> [B, N, D].
  at::Tensor x =
      at::conv2d(images.to(compute), patch_embed->proj_weight.to(compute),
                 patch_embed->proj_bias.to(compute), {config_.patch_size, config_.patch_size})
          .flatten(2)
          .transpose(1, 2);
  x = x + pos_embed.to(compute);
  const std::vector<BlockWeights> blocks = pass_weights(compute);
  for (std::int64_t l = 0; l < config_.depth; ++l) {
    x = block_forward(x, blocks[static_cast<std::size_t>(l)], config_.heads,
                      drop_path_rate(config_, l), is_training(), generator);
  }
  // No class token: mean-pool the tokens (accumulated and returned in the parameters' dtype),
  // then the final norm (timm's fc_norm).
  return at::layer_norm(x.mean(1, /*keepdim=*/false, parameters), {config_.dim}, fc_norm->weight,
                        fc_norm->bias, kLayerNormEps);
}

at::Tensor VitBase::forward(const at::Tensor& images, std::optional<at::Generator> generator) {
  return at::linear(features(images, std::move(generator)), head->weight, head->bias);
}

std::vector<BlockWeights> VitBase::pass_weights(at::ScalarType compute) const {
  std::vector<BlockWeights> blocks;
  for (std::int64_t l = 0; l < config_.depth; ++l)
    blocks.push_back(in_dtype(block_weights(l), compute));
  return blocks;
}

ViT::ViT(const VitConfig& config) : VitBase(config) {
  auto blocks = register_module("blocks", std::make_shared<torch::nn::Module>("Blocks"));
  for (std::int64_t i = 0; i < config_.depth; ++i) {
    blocks_.push_back(
        blocks->register_module(std::to_string(i), std::make_shared<BlockParams>(config_)));
  }
}

BlockWeights ViT::block_weights(std::int64_t index) const { return blocks_.at(index)->weights(); }

AuxViT::AuxViT(const VitConfig& config) : VitBase(config) {
  theta_B = register_module("theta_B", std::make_shared<BlockParams>(config_));
  theta_A = register_module("theta_A", std::make_shared<BlockParams>(config_));
}

BlockWeights AuxViT::block_weights(std::int64_t index) const {
  // The divisor is L, not L-1: the last block sits at (L-1)/L (docs/method.md §1). The whole
  // line, so that block l holds the bits a pass computes with.
  return line_weights(theta_B->weights(), theta_A->weights(), config_.depth,
                      pos_embed.scalar_type())
      .at(static_cast<std::size_t>(index));
}

std::vector<BlockWeights> AuxViT::pass_weights(at::ScalarType compute) const {
  // The divisor is L, not L-1: the last block sits at (L-1)/L (docs/method.md §1).
  return line_weights(theta_B->weights(), theta_A->weights(), config_.depth, compute);
}

std::vector<BlockWeights> line_weights(const BlockWeights& base, const BlockWeights& slope,
                                       std::int64_t depth, at::ScalarType compute) {
  std::vector<BlockWeights> blocks(static_cast<std::size_t>(depth));
  // i / depth rounded once to the parameters' dtype, as a scalar factor would be.
  const at::Tensor positions =
      at::arange(depth, at::TensorOptions(at::kDouble))
          .div_(static_cast<double>(depth))
          .to(base.qkv_weight.options().dtype(base.qkv_weight.scalar_type()));
  for (const auto field : kBlockFields) {
    const at::Tensor& b = base.*field;
    std::vector<std::int64_t> shape(static_cast<std::size_t>(b.dim()) + 1, 1);
    shape[0] = depth;
    at::Tensor stack =
        at::addcmul(b.unsqueeze(0), positions.view(shape), (slope.*field).unsqueeze(0));
    if (cast_for_pass(field)) stack = stack.to(compute);
    // unbind, not one select per block: backward stacks the blocks' gradients once instead of
    // summing depth zero-padded [depth, ...] tensors.
    const std::vector<at::Tensor> rows = stack.unbind(0);
    for (std::size_t i = 0; i < rows.size(); ++i) blocks[i].*field = rows[i];
  }
  return blocks;
}

void copy_block_weights(const BlockWeights& into, const BlockWeights& from) {
  at::NoGradGuard no_grad;
  for (const auto field : kBlockFields) (into.*field).copy_(from.*field);
}

double drop_path_rate(const VitConfig& config, std::int64_t index) {
  if (config.depth <= 1) return 0.0;
  return config.drop_path * static_cast<double>(index) / static_cast<double>(config.depth - 1);
}

void initialise(VitBase& model, std::uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  constexpr double kStd = 0.02;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& tensor = item.value();
    // Draw on the CPU in float32 so the values do not depend on device or dtype.
    at::Tensor values = at::empty(tensor.sizes(), at::kFloat);
    if (name == "patch_embed.proj.weight" || name == "patch_embed.proj.bias") {
      // PyTorch's Conv2d default (kaiming-uniform, a = sqrt(5)): U(-1/sqrt(fan_in), ...).
      const double fan_in = static_cast<double>(
          model.config().channels * model.config().patch_size * model.config().patch_size);
      const double bound = 1.0 / std::sqrt(fan_in);
      values.uniform_(-bound, bound, generator);
    } else if (name == "pos_embed") {
      truncated_normal_(values, kStd, generator);
    } else if (name.find("norm") != std::string::npos) {
      const bool slope = name.rfind("theta_A.", 0) == 0;
      values.fill_(ends_with(name, ".weight") && !slope ? 1.0 : 0.0);
    } else if (ends_with(name, ".bias")) {
      values.zero_();
    } else {
      truncated_normal_(values, kStd, generator);
    }
    tensor.copy_(values);
  }
}

}  // namespace tleg

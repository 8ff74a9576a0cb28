#include "model/vit_config.h"

#include "common/error.h"

namespace tleg {

void VitConfig::validate() const {
  auto positive = [](const char* name, std::int64_t value) {
    if (value <= 0) fail("model config: ", name, " must be positive, got ", value);
  };
  positive("image_size", image_size);
  positive("patch_size", patch_size);
  positive("channels", channels);
  positive("classes", classes);
  positive("dim", dim);
  positive("heads", heads);
  positive("depth", depth);
  positive("mlp_ratio", mlp_ratio);
  if (image_size % patch_size != 0)
    fail("model config: image_size ", image_size, " is not a multiple of patch_size ", patch_size);
  if (dim % heads != 0) fail("model config: dim ", dim, " is not a multiple of heads ", heads);
  if (drop_path < 0.0 || drop_path >= 1.0)
    fail("model config: drop_path must be in [0, 1), got ", drop_path);
}

std::string VitConfig::describe() const {
  return concat("ViT dim ", dim, ", heads ", heads, ", depth ", depth, ", patch ", patch_size,
                ", image ", image_size, "x", image_size, "x", channels, ", classes ", classes,
                ", mlp ratio ", mlp_ratio);
}

bool VitConfig::same_architecture(const VitConfig& other) const {
  return image_size == other.image_size && patch_size == other.patch_size &&
         channels == other.channels && classes == other.classes && dim == other.dim &&
         heads == other.heads && mlp_ratio == other.mlp_ratio;
}

VitConfig vit_preset(const std::string& size) {
  VitConfig config;
  if (size == "Ti" || size == "ti" || size == "tiny") {
    config.dim = 192, config.heads = 3;
  } else if (size == "S" || size == "s" || size == "small") {
    config.dim = 384, config.heads = 6;
  } else if (size == "B" || size == "b" || size == "base") {
    config.dim = 768, config.heads = 12;
  } else {
    fail("unknown model size '", size, "': use Ti, S or B, or give dim/heads explicitly");
  }
  return config;
}

std::int64_t block_parameter_count(const VitConfig& c) {
  const std::int64_t d = c.dim, h = c.hidden();
  const std::int64_t norms = 2 * (2 * d);
  const std::int64_t attention = (d * 3 * d + 3 * d) + (d * d + d);
  const std::int64_t mlp = (d * h + h) + (h * d + d);
  return norms + attention + mlp;
}

std::int64_t embedding_parameter_count(const VitConfig& c) {
  const std::int64_t patch_embed = c.dim * c.channels * c.patch_size * c.patch_size + c.dim;
  const std::int64_t position = c.patches() * c.dim;
  const std::int64_t final_norm = 2 * c.dim;
  return patch_embed + position + final_norm;
}

std::int64_t head_parameter_count(const VitConfig& c) { return c.dim * c.classes + c.classes; }

std::int64_t vit_parameter_count(const VitConfig& c) {
  return c.depth * block_parameter_count(c) + embedding_parameter_count(c) +
         head_parameter_count(c);
}

std::int64_t learngene_parameter_count(const VitConfig& c) {
  return 2 * block_parameter_count(c) + embedding_parameter_count(c) + head_parameter_count(c);
}

std::int64_t forward_flops(const VitConfig& c) {
  const std::int64_t n = c.patches(), d = c.dim, h = c.hidden();
  const std::int64_t patch_embed = 2 * n * d * c.channels * c.patch_size * c.patch_size;
  const std::int64_t qkv = 2 * n * d * 3 * d;
  const std::int64_t scores_and_mix = 2 * (2 * n * n * d);  // Q K^T and softmax(.) V, all heads
  const std::int64_t projection = 2 * n * d * d;
  const std::int64_t mlp = 2 * (2 * n * d * h);
  const std::int64_t head = 2 * d * c.classes;
  return patch_embed + c.depth * (qkv + scores_and_mix + projection + mlp) + head;
}

}  // namespace tleg

// The architecture of a ViT (DeiT family, no class token, mean pooling) and its analytical
// parameter and FLOP counts. No torch here: the launcher, the planner and the cost report use it.
#pragma once

#include <cstdint>
#include <string>

namespace tleg {

struct VitConfig {
  std::int64_t image_size = 224;
  std::int64_t patch_size = 16;
  std::int64_t channels = 3;
  std::int64_t classes = 1000;
  std::int64_t dim = 192;
  std::int64_t heads = 3;
  std::int64_t depth = 12;
  std::int64_t mlp_ratio = 4;
  double drop_path = 0.0;  // the rate of the last block; block l gets drop_path * l / (depth-1)

  std::int64_t patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  std::int64_t hidden() const { return dim * mlp_ratio; }
  // Throws tleg::Error naming the bad field.
  void validate() const;
  std::string describe() const;
  bool same_architecture(const VitConfig& other) const;  // all but depth and drop_path
};

// DeiT presets: "Ti" (192/3), "S" (384/6), "B" (768/12) at 224/16, 1000 classes, depth 12.
VitConfig vit_preset(const std::string& size);

// Parameter counts (docs/method.md §1).
std::int64_t block_parameter_count(const VitConfig& config);
std::int64_t embedding_parameter_count(const VitConfig& config);  // patch embed + pos + final norm
std::int64_t head_parameter_count(const VitConfig& config);
std::int64_t vit_parameter_count(const VitConfig& config);        // depth blocks + the rest
std::int64_t learngene_parameter_count(const VitConfig& config);  // 2 blocks + the rest

// Forward FLOPs for one image, counting a multiply-add as 2 FLOPs, over the matrix products and
// the patch convolution (the convention of fvcore/torch's FlopCounter; norms, GELU and softmax
// are left out). The auxiliary net of depth L costs what a depth-L ViT costs.
std::int64_t forward_flops(const VitConfig& config);
// A training step is forward + backward, which is about 3x the forward.
inline std::int64_t training_flops(const VitConfig& config) { return 3 * forward_flops(config); }

}  // namespace tleg

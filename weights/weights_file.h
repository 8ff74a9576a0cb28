// The on-disk form of a learngene, of a trained ViT and of a trained CNN: one HDF5 file with the
// architecture, provenance metadata, every tensor under its timm-style name, and a CRC-32 over the
// tensors. The layout is documented in weights/README.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/cnn_config.h"
#include "model/vit_config.h"

namespace torch::nn {
class Module;
}

namespace tleg {

inline constexpr std::int64_t kWeightsFormatVersion = 1;

struct WeightsFile {
  std::string kind;  // "learngene", "vit" or "cnn"
  VitConfig config;  // learngene or vit; for a learngene, config.depth is the auxiliary depth L
  CnnConfig cnn;     // cnn
  std::map<std::string, std::string> metadata;  // provenance: command, dataset, time, ...
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // timm names, CPU, contiguous

  const at::Tensor& tensor(const std::string& name) const;  // throws naming the missing one
  const at::Tensor* find(const std::string& name) const;    // nullptr when there is none
  std::int64_t parameter_count() const;
  std::string source;  // the path it was loaded from, for messages
};

// Writes to `path` through a temporary file and a rename, so a crash never leaves a file that
// looks complete.
void save_weights(const WeightsFile& weights, const std::string& path);
// Loads and verifies the format version and the checksum; errors name `path` and what is wrong.
WeightsFile load_weights(const std::string& path);

// The tensors of `module` as a WeightsFile payload (copied to contiguous CPU tensors): its
// parameters and its floating-point buffers (a CNN's BatchNorm running statistics).
std::vector<std::pair<std::string, at::Tensor>> module_tensors(const torch::nn::Module& module);
// Checks that `weights` holds exactly the tensors module_tensors stores, with the same shapes;
// the error names the file, the tensor and both shapes.
void check_matches(const WeightsFile& weights, const torch::nn::Module& module);
// Copies the tensors of `weights` into `module` (after check_matches).
void copy_into(const WeightsFile& weights, torch::nn::Module& module);

}  // namespace tleg

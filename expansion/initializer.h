// How a descendant ViT gets its initial weights, chosen by name: "tleg" (linear expansion of a
// learngene), "scratch" (random), "subset" (d layers of one pre-trained deeper model) and
// "prefin" (a pre-trained model of the same depth, fine-tuned further).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/vit_config.h"

namespace tleg {

class ViT;

struct InitSpec {
  std::string method = "scratch";
  std::string source;                   // learngene (tleg) or pre-trained model (subset, prefin)
  std::string subset_layers = "first";  // subset: "first" d layers or "spread" evenly
  std::uint64_t seed = 0;
};

class Initializer {
 public:
  virtual ~Initializer() = default;
  virtual void initialise(ViT& model) const = 0;
  // Parameters that must be kept on disk to produce this initialisation (cost report).
  virtual std::int64_t stored_parameters() const = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<Initializer> make_initializer(const InitSpec& spec);

// The pre-trained layer that block i of a depth-`depth` subset takes from a depth-`source_depth`
// model: the first `depth` layers, or `depth` layers spread evenly from the first to the last.
std::int64_t subset_layer(const std::string& layers, std::int64_t i, std::int64_t depth,
                          std::int64_t source_depth);

}  // namespace tleg

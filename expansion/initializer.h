// How a descendant ViT gets its initial weights, chosen by the initialiser's name (the methods
// table, methods.h): "tleg" (linear expansion of a learngene), "scratch" (random), "mimetic"
// (random, attention in closed form: mimetic.h), "subset" (d layers of one pre-trained deeper
// model), "prefin" (a pre-trained model of the same depth, fine-tuned further),
// "weight-selection" (elements of a larger pre-trained model: weight_selection.h), and the
// learngene baselines "heur-lg" and "auto-lg" (a pre-trained model's last or first blocks).
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
  std::string source;  // learngene (tleg) or pre-trained model (every method that needs one)
  std::string subset_layers = "first";  // subset: "first" d layers or "spread" evenly
  std::uint64_t seed = 0;
  // The head is not inherited but initialised as a scratch model's (a transfer: the source was
  // trained for another label space). Without it a source trained on another dataset (by its
  // recorded fingerprint) or for another class count is refused by the initialisers that
  // inherit the head (tleg, subset, prefin); weight-selection, heur-lg and auto-lg never do.
  bool new_head = false;
  std::string dataset_fingerprint;  // of the store the model will train on; "": not checked
};

// The dataset a source file (learngene, pre-trained model) was trained on, as it records it.
struct SourceDataset {
  std::string fingerprint, name;  // empty for scratch or a file without the record
};

class Initializer {
 public:
  virtual ~Initializer() = default;
  virtual void initialise(ViT& model) const = 0;
  // Parameters that must be kept on disk to produce this initialisation (cost report).
  virtual std::int64_t stored_parameters() const = 0;
  virtual std::string describe() const = 0;
  virtual SourceDataset source_dataset() const { return {}; }
};

std::unique_ptr<Initializer> make_initializer(const InitSpec& spec);

// The pre-trained layer that block i of a depth-`depth` subset takes from a depth-`source_depth`
// model: the first `depth` layers, or `depth` layers spread evenly from the first to the last.
std::int64_t subset_layer(const std::string& layers, std::int64_t i, std::int64_t depth,
                          std::int64_t source_depth);

// The blocks a learngene baseline inherits from a depth-`source_depth` model: heur-lg its last
// ⌈L/4⌉ blocks (3 of 12) as the model's last, auto-lg its first ⌈L/2⌉ (6 of 12) as the model's
// first; source block source_first + j becomes block model_first + j, j < count. A depth-`depth`
// model shallower than that takes the part that fits: heur-lg the source's last `depth` blocks,
// auto-lg its first `depth`.
struct InheritedBlocks {
  std::int64_t source_first = 0, model_first = 0, count = 0;
};
InheritedBlocks learngene_baseline_blocks(const std::string& method, std::int64_t source_depth,
                                          std::int64_t depth);

}  // namespace tleg

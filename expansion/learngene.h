// The learngene (θ_A, θ_B and the inherited embedding, position, final norm and head) and its
// linear expansion into ViTs of any depth (docs/method.md §1).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "weights/weights_file.h"
#include "model/vit.h"

namespace tleg {

// Loads a learngene file and checks that its tensors match its stated architecture.
WeightsFile load_learngene(const std::string& path);

// Fills `model` by linear expansion: block i of depth d gets W_B + (i/d)·W_A; patch and position
// embedding and final norm are inherited; the head too when the class counts match (otherwise
// the model keeps its own, freshly initialised head). With `new_head` the model keeps its own
// head whatever the classes (a transfer to another label space). The architecture (all but
// depth and classes) must match the learngene's.
void expand_into(const WeightsFile& learngene, ViT& model, bool new_head = false);
// A new depth-`depth` ViT expanded from `learngene`, with its classes and drop path.
std::shared_ptr<ViT> expand(const WeightsFile& learngene, std::int64_t depth,
                            double drop_path = 0.0);

}  // namespace tleg

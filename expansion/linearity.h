// The paper's observation as a measurement: every block tensor of a trained plain ViT fitted
// across layer positions as value ≈ a + b·(l/L), per element, by least squares in float64; and
// the fitted (θ_B, θ_A) = (a, b) written as a learngene. Layer l of L (counting from 0) sits at
// l/L, the position expansion gives it (docs/method.md §1), so a TLEG descendant before fine-tuning
// fits with R² = 1 and gives back its learngene.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "weights/weights_file.h"

namespace tleg {

// One element's values across depth with its fitted line (for the picture of the paper).
struct ElementTrace {
  std::string tensor;          // block tensor name
  std::int64_t index = 0;      // flat element index
  std::vector<double> values;  // layer 0..L-1
  double intercept = 0, slope = 0, r2 = 0;
};

// The fit of one block tensor type over the L layers.
struct TensorFit {
  std::string name;
  at::Tensor intercept, slope;  // float64, the tensor's shape: θ_B and θ_A
  std::int64_t elements = 0;
  std::int64_t constant_elements = 0;  // equal at every layer: R² undefined, left out of it
  double r2_mean = 0, r2_q1 = 0, r2_median = 0, r2_q3 = 0;  // over the non-constant elements
  double residual_vs_spread = 0;  // ||residual|| / ||value - mean over layers||
  double residual_vs_value = 0;   // ||residual|| / ||value||
};

struct LinearityFit {
  std::string source;
  std::int64_t depth = 0;
  std::vector<TensorFit> tensors;                        // block_tensor_names() order
  double residual_vs_spread = 0, residual_vs_value = 0;  // over every block element
  double r2_median = 0;                                  // over every non-constant block element
  std::vector<ElementTrace> traces;                      // a few elements, for the depth plot
};

// Fits every block tensor of `model` (its "blocks.{l}.<name>" tensors, l = 0..depth-1, at
// positions l/depth). Needs depth >= 3 (two points always lie on a line). `traces_per_tensor`
// elements of each of `trace_tensors` are kept: the ones that vary most across depth.
LinearityFit fit_linearity(const WeightsFile& model,
                           const std::vector<std::string>& trace_tensors = {"norm1.weight",
                                                                            "attn.qkv.weight",
                                                                            "mlp.fc1.weight",
                                                                            "mlp.fc2.bias"},
                           std::int64_t traces_per_tensor = 2);

// The fitted learngene: θ_B and θ_A from `fit`, patch and position embedding, final norm and head
// inherited from `model`, float64, with auxiliary depth L = model depth. `metadata` is recorded
// with the fit's source and what the file is. Refuses a model whose layout is not tleg's
// (class token, final norm before pooling, unknown head count) naming the tensor or option.
WeightsFile fitted_learngene(const WeightsFile& model, const LinearityFit& fit,
                             std::map<std::string, std::string> metadata);

}  // namespace tleg

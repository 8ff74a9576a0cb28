// AdamW with the recipes' parameter groups: weight decay on weight matrices only, none on
// biases, norms (1-D tensors) and the position embedding (timm's no_weight_decay list).
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <string>

namespace tleg {

struct AdamWSettings {
  double lr = 5e-4;
  double weight_decay = 0.05;
  double eps = 1e-8;
  double beta1 = 0.9, beta2 = 0.999;
};

bool uses_weight_decay(const std::string& name, const at::Tensor& parameter);
std::unique_ptr<torch::optim::AdamW> make_adamw(const torch::nn::Module& model,
                                                const AdamWSettings& settings);
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace tleg

// AdamW with the recipes' parameter groups: weight decay on weight matrices only, none on
// biases, norms (1-D tensors) and the position embedding (timm's no_weight_decay list).
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <string>

namespace tleg {

// lr and weight_decay come from the run's TrainSettings (train/trainer.h holds their defaults);
// eps and the betas are AdamW's, which no recipe changes.
struct AdamWSettings {
  double lr = 0;
  double weight_decay = 0;
  double eps = 1e-8;
  double beta1 = 0.9, beta2 = 0.999;
};

// torch::optim::AdamW whose step runs PyTorch's fused kernel (at::_fused_adamw_, one pass over
// each tensor per group) instead of the eight or so tensor operations per parameter of the
// reference loop. Same options and the same per-parameter state (AdamWParamState), so
// checkpoints of either load into the other; the update is the same formula, equal up to the
// rounding of float32 (a few ulp per step). amsgrad is not used by tleg and is refused.
class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  at::Tensor step(LossClosure closure = nullptr) override;
};

bool uses_weight_decay(const std::string& name, const at::Tensor& parameter);
std::unique_ptr<torch::optim::AdamW> make_adamw(const torch::nn::Module& model,
                                                const AdamWSettings& settings);
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace tleg

#include "train/optimizer.h"

#include <torch/nn/module.h>

namespace tleg {

bool uses_weight_decay(const std::string& name, const at::Tensor& parameter) {
  return parameter.dim() > 1 && !name.ends_with(".bias") && name != "pos_embed";
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const torch::nn::Module& model,
                                                const AdamWSettings& settings) {
  std::vector<at::Tensor> decayed, plain;
  for (const auto& item : model.named_parameters())
    (uses_weight_decay(item.key(), item.value()) ? decayed : plain).push_back(item.value());
  auto options = [&](double decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(settings.lr)
            .weight_decay(decay)
            .eps(settings.eps)
            .betas({settings.beta1, settings.beta2}));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, options(settings.weight_decay));
  groups.emplace_back(plain, options(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(settings.lr));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace tleg

#include "expansion/learngene.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "common/error.h"

namespace tleg {
namespace {

void check_kind(const WeightsFile& weights, const std::string& kind) {
  if (weights.kind != kind)
    fail(weights.source, ": this is a '", weights.kind, "' file, a '", kind, "' file is needed");
}

// Copies the tensors every descendant inherits.
void copy_shared(const WeightsFile& learngene, VitBase& model, bool with_head) {
  model.patch_embed->proj_weight.copy_(learngene.tensor("patch_embed.proj.weight"));
  model.patch_embed->proj_bias.copy_(learngene.tensor("patch_embed.proj.bias"));
  model.pos_embed.copy_(learngene.tensor("pos_embed"));
  model.fc_norm->weight.copy_(learngene.tensor("fc_norm.weight"));
  model.fc_norm->bias.copy_(learngene.tensor("fc_norm.bias"));
  if (with_head) {
    model.head->weight.copy_(learngene.tensor("head.weight"));
    model.head->bias.copy_(learngene.tensor("head.bias"));
  }
}

}  // namespace

WeightsFile load_learngene(const std::string& path) {
  WeightsFile learngene = load_weights(path);
  check_kind(learngene, "learngene");
  AuxViT reference(learngene.config);
  check_matches(learngene, reference);
  return learngene;
}

void expand_into(const WeightsFile& learngene, ViT& model) {
  check_kind(learngene, "learngene");
  VitConfig wanted = model.config();
  wanted.classes = learngene.config.classes;
  if (!wanted.same_architecture(learngene.config))
    fail(learngene.source, ": learngene of ", learngene.config.describe(),
         " cannot be expanded into ", model.config().describe(),
         " (only depth and class count may differ)");
  at::NoGradGuard no_grad;
  const std::int64_t depth = model.depth();
  // θ_B and θ_A as BlockWeights, to reuse the one interpolation of the auxiliary net.
  BlockParams base(learngene.config), slope(learngene.config);
  for (auto& item : base.named_parameters())
    item.value().copy_(learngene.tensor("theta_B." + item.key()));
  for (auto& item : slope.named_parameters())
    item.value().copy_(learngene.tensor("theta_A." + item.key()));
  // The auxiliary net's own formation of its blocks (line_weights), so a depth-L descendant
  // holds the very weights the auxiliary net computed with.
  const std::vector<BlockWeights> expanded =
      line_weights(base.weights(), slope.weights(), depth, base.weights().qkv_weight.scalar_type());
  for (std::int64_t i = 0; i < depth; ++i)
    copy_block_weights(model.block(i)->weights(), expanded[static_cast<std::size_t>(i)]);
  copy_shared(learngene, model, model.config().classes == learngene.config.classes);
}

std::shared_ptr<ViT> expand(const WeightsFile& learngene, std::int64_t depth, double drop_path) {
  VitConfig config = learngene.config;
  config.depth = depth;
  config.drop_path = drop_path;
  auto model = std::make_shared<ViT>(config);
  if (learngene.tensors.front().second.scalar_type() == at::kDouble) model->to(at::kDouble);
  expand_into(learngene, *model);
  return model;
}

}  // namespace tleg

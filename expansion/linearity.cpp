#include "expansion/linearity.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "model/vit.h"
#include "weights/state_dict.h"

namespace tleg {
namespace {

// Quantile q of the sorted values (linear interpolation, numpy's default).
double sorted_quantile(const at::Tensor& sorted, double q) {
  const std::int64_t n = sorted.numel();
  if (n == 0) return std::nan("");
  const double position = q * static_cast<double>(n - 1);
  const auto low = static_cast<std::int64_t>(std::floor(position));
  const std::int64_t high = std::min(low + 1, n - 1);
  const double* data = sorted.data_ptr<double>();
  return data[low] + (position - static_cast<double>(low)) * (data[high] - data[low]);
}

}  // namespace

LinearityFit fit_linearity(const WeightsFile& model, const std::vector<std::string>& trace_tensors,
                           std::int64_t traces_per_tensor) {
  const std::int64_t depth = model.config.depth;
  if (depth < 3)
    fail(model.source, ": depth ", depth,
         " is too shallow to test linearity (two points always "
         "lie on a line); at least 3 blocks are needed");
  LinearityFit fit;
  fit.source = model.source;
  fit.depth = depth;
  // Positions l/L, l = 0..L-1: where expansion puts block l (docs/method.md §1).
  const at::Tensor x =
      at::arange(depth, at::TensorOptions().dtype(at::kDouble)) / static_cast<double>(depth);
  const at::Tensor xc = (x - x.mean()).unsqueeze(1);  // [L, 1]
  const double sxx = (xc * xc).sum().item<double>();
  double residual_total = 0, spread_total = 0, value_total = 0;
  std::vector<at::Tensor> all_r2;
  for (const std::string& name : block_tensor_names()) {
    std::vector<at::Tensor> layers;
    for (std::int64_t l = 0; l < depth; ++l) {
      const std::string key = "blocks." + std::to_string(l) + "." + name;
      const at::Tensor* tensor = model.find(key);
      if (tensor == nullptr) fail(model.source, ": tensor '", key, "' is missing");
      if (l > 0 && tensor->sizes() != model.tensor("blocks.0." + name).sizes())
        fail(model.source, ": tensor '", key, "' has another shape than blocks.0.", name);
      layers.push_back(tensor->to(at::kDouble).reshape({-1}));
    }
    const at::Tensor y = at::stack(layers);  // [L, n]
    const at::Tensor mean = y.mean(0);
    const at::Tensor centred = y - mean;
    const at::Tensor slope = (xc * centred).sum(0) / sxx;
    const at::Tensor intercept = mean - slope * x.mean();
    const at::Tensor residual = y - intercept - x.unsqueeze(1) * slope;
    const at::Tensor ss_res = (residual * residual).sum(0);
    const at::Tensor ss_tot = (centred * centred).sum(0);
    // An element equal at every layer (a bias that never moved) has no variation to explain.
    // Decided on the values, not on ss_tot, which the rounding of the mean can leave at 1e-34.
    const at::Tensor varies = y.amax(0) > y.amin(0);
    const at::Tensor r2 = (1 - ss_res / ss_tot).masked_select(varies);
    const at::Tensor sorted = std::get<0>(r2.sort());
    TensorFit t;
    t.name = name;
    t.intercept = intercept.reshape(model.tensor("blocks.0." + name).sizes());
    t.slope = slope.reshape(t.intercept.sizes());
    t.elements = y.size(1);
    t.constant_elements = t.elements - r2.numel();
    t.r2_mean = r2.numel() > 0 ? r2.mean().item<double>() : std::nan("");
    t.r2_q1 = sorted_quantile(sorted, 0.25);
    t.r2_median = sorted_quantile(sorted, 0.5);
    t.r2_q3 = sorted_quantile(sorted, 0.75);
    const double res = ss_res.sum().item<double>(), spread = ss_tot.sum().item<double>(),
                 value = (y * y).sum().item<double>();
    t.residual_vs_spread = spread > 0 ? std::sqrt(res / spread) : 0.0;
    t.residual_vs_value = value > 0 ? std::sqrt(res / value) : 0.0;
    residual_total += res;
    spread_total += spread;
    value_total += value;
    all_r2.push_back(r2);
    if (std::find(trace_tensors.begin(), trace_tensors.end(), name) != trace_tensors.end()) {
      const at::Tensor order = ss_tot.argsort(/*dim=*/0, /*descending=*/true);
      const at::Tensor r2_all = 1 - ss_res / ss_tot;
      for (std::int64_t k = 0; k < std::min(traces_per_tensor, t.elements); ++k) {
        const std::int64_t index = order[k].item<std::int64_t>();
        ElementTrace trace{name,
                           index,
                           {},
                           intercept[index].item<double>(),
                           slope[index].item<double>(),
                           r2_all[index].item<double>()};
        for (std::int64_t l = 0; l < depth; ++l) trace.values.push_back(y[l][index].item<double>());
        fit.traces.push_back(std::move(trace));
      }
    }
    fit.tensors.push_back(std::move(t));
  }
  fit.residual_vs_spread = spread_total > 0 ? std::sqrt(residual_total / spread_total) : 0.0;
  fit.residual_vs_value = value_total > 0 ? std::sqrt(residual_total / value_total) : 0.0;
  fit.r2_median = sorted_quantile(std::get<0>(at::cat(all_r2).sort()), 0.5);
  return fit;
}

WeightsFile fitted_learngene(const WeightsFile& model, const LinearityFit& fit,
                             std::map<std::string, std::string> metadata) {
  if (model.config.heads <= 0)
    fail(model.source, ": the head count cannot be read from a state dict; give it with --heads");
  for (const char* name : {"cls_token", "norm.weight", "dist_token", "reg_token"})
    if (model.find(name) != nullptr)
      fail(model.source, ": tensor '", name,
           "' belongs to a layout tleg's learngene does not "
           "have (no class token, mean pooling then fc_norm: timm's VisionTransformer("
           "class_token=False, global_pool='avg', fc_norm=True)); the fit report works on it, a "
           "learngene cannot be made from it");
  WeightsFile learngene;
  learngene.kind = "learngene";
  learngene.config = model.config;
  learngene.config.drop_path = 0.0;
  learngene.config.validate();
  learngene.metadata = std::move(metadata);
  learngene.metadata["fitted_from"] = fit.source;
  learngene.metadata["fit"] = concat(
      "least squares per element of blocks.l.* against l/", fit.depth, ", l = 0..", fit.depth - 1,
      " (tleg linearity); theta_B = intercept, theta_A = slope; embeddings, fc_norm and head "
      "inherited from the model");
  for (const TensorFit& t : fit.tensors) {
    learngene.tensors.emplace_back("theta_B." + t.name, t.intercept.clone());
    learngene.tensors.emplace_back("theta_A." + t.name, t.slope.clone());
  }
  for (const char* name : {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed",
                           "fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}) {
    const at::Tensor* tensor = model.find(name);
    if (tensor == nullptr) fail(model.source, ": tensor '", name, "' is missing");
    learngene.tensors.emplace_back(name, tensor->to(at::kDouble).contiguous());
  }
  // The same names, shapes and order as an auxiliary net of this architecture, so that
  // load_learngene, expand and distill --init-learngene accept it.
  AuxViT reference(learngene.config);
  learngene.source = fit.source;
  check_matches(learngene, reference);
  std::vector<std::pair<std::string, at::Tensor>> ordered;
  for (const auto& item : reference.named_parameters())
    ordered.emplace_back(item.key(), learngene.tensor(item.key()));
  learngene.tensors = std::move(ordered);
  return learngene;
}

}  // namespace tleg

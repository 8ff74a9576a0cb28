#include "model/cnn.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/error.h"

namespace tleg {
namespace {

constexpr double kBatchNormEps = 1e-5, kBatchNormMomentum = 0.1;  // PyTorch's BatchNorm2d

}  // namespace

void CnnConfig::validate() const {
  auto positive = [](const char* name, std::int64_t value) {
    if (value <= 0) fail("cnn config: ", name, " must be positive, got ", value);
  };
  positive("image_size", image_size);
  positive("channels", channels);
  positive("classes", classes);
  positive("convs", convs);
  if (widths.empty()) fail("cnn config: widths must list at least one stage, e.g. 32,64,128");
  for (const auto width : widths) positive("every width", width);
  if (side(widths.size() - 1) < 1)
    fail("cnn config: ", widths.size(), " stages pool a ", image_size,
         "-pixel image below 1 pixel; ",
         "give fewer widths (each stage but the last halves the side)");
}

std::string CnnConfig::describe() const {
  return concat("CNN widths ", widths_text(widths), ", ", convs, " conv(s) per stage, image ",
                image_size, "x", image_size, "x", channels, ", classes ", classes);
}

std::int64_t CnnConfig::side(std::size_t stage) const {
  std::int64_t s = image_size;
  for (std::size_t i = 0; i < stage; ++i) s /= 2;
  return s;
}

std::vector<std::int64_t> parse_widths(const std::string& text, const std::string& what) {
  std::vector<std::int64_t> widths;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    std::size_t used = 0;
    std::int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || value <= 0)
      fail(what, " must be comma-separated positive channel counts such as 32,64,128, got '", text,
           "'");
    widths.push_back(value);
    start = end + 1;
  }
  return widths;
}

std::string widths_text(const std::vector<std::int64_t>& widths) {
  std::string text;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(widths[i]);
  }
  return text;
}

std::int64_t cnn_parameter_count(const CnnConfig& c) {
  std::int64_t total = 0, in = c.channels;
  for (const auto width : c.widths)
    for (std::int64_t j = 0; j < c.convs; ++j, in = width) total += width * in * 9 + 2 * width;
  return total + in * c.classes + c.classes;
}

std::int64_t forward_flops(const CnnConfig& c) {
  std::int64_t total = 0, in = c.channels;
  for (std::size_t s = 0; s < c.widths.size(); ++s) {
    const std::int64_t pixels = c.side(s) * c.side(s);
    for (std::int64_t j = 0; j < c.convs; ++j, in = c.widths[s])
      total += 2 * pixels * c.widths[s] * in * 9;
  }
  return total + 2 * in * c.classes;
}

Cnn::Cnn(const CnnConfig& config) : config_(config) {
  config_.validate();
  auto convs = register_module("convs", std::make_shared<torch::nn::Module>("Convs"));
  auto norms = register_module("norms", std::make_shared<torch::nn::Module>("Norms"));
  std::int64_t in = config_.channels;
  for (const auto width : config_.widths) {
    for (std::int64_t j = 0; j < config_.convs; ++j, in = width) {
      const std::string index = std::to_string(convs_.size());
      convs_.push_back(convs->register_module(
          index, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, width, 3).padding(1).bias(false))));
      norms_.push_back(norms->register_module(
          index,
          torch::nn::BatchNorm2d(
              torch::nn::BatchNormOptions(width).eps(kBatchNormEps).momentum(kBatchNormMomentum))));
    }
  }
  head_ = register_module("head", torch::nn::Linear(in, config_.classes));
}

at::Tensor Cnn::forward(const at::Tensor& images, std::optional<at::Generator>) {
  if (images.dim() != 4 || images.size(1) != config_.channels ||
      images.size(2) != config_.image_size || images.size(3) != config_.image_size)
    fail("model input has shape ", images.sizes(), " but the model expects [batch, ",
         config_.channels, ", ", config_.image_size, ", ", config_.image_size, "]");
  const at::ScalarType parameters = head_->weight.scalar_type();
  const at::ScalarType compute = precision_ == Precision::kBFloat16 ? at::kBFloat16 : parameters;
  at::Tensor x = images.to(compute);
  std::size_t layer = 0;
  for (std::size_t s = 0; s < config_.widths.size(); ++s) {
    for (std::int64_t j = 0; j < config_.convs; ++j, ++layer) {
      x = at::conv2d(x, convs_[layer]->weight.to(compute), {}, 1, 1);
      // The norm kernel takes a bfloat16 input with float32 parameters and statistics.
      const auto& norm = norms_[layer];
      x = at::relu(at::batch_norm(x, norm->weight, norm->bias, norm->running_mean,
                                  norm->running_var, is_training(), kBatchNormMomentum,
                                  kBatchNormEps, /*cudnn_enabled=*/true));
    }
    if (s + 1 < config_.widths.size()) x = at::max_pool2d(x, {2, 2});
  }
  // Global average pooling accumulated in the parameters' dtype, then the head.
  return at::linear(x.mean({2, 3}, /*keepdim=*/false, parameters), head_->weight, head_->bias);
}

void initialise(Cnn& model, std::uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& tensor = item.value();
    // Drawn on the CPU in float32 so the values do not depend on device or dtype.
    at::Tensor values = at::empty(tensor.sizes(), at::kFloat);
    if (name.rfind("convs.", 0) == 0) {
      const double fan_out = static_cast<double>(tensor.size(0) * 9);
      values.normal_(0.0, std::sqrt(2.0 / fan_out), generator);
    } else if (name.rfind("norms.", 0) == 0) {
      values.fill_(name.ends_with(".weight") ? 1.0 : 0.0);
    } else if (name == "head.weight") {
      const double bound = 1.0 / std::sqrt(static_cast<double>(tensor.size(1)));
      values.uniform_(-bound, bound, generator);
    } else {
      values.zero_();
    }
    tensor.copy_(values);
  }
  for (auto& item : model.named_buffers()) {
    if (item.key().ends_with("running_var"))
      item.value().fill_(1.0);
    else
      item.value().zero_();
  }
}

}  // namespace tleg

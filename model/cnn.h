// tleg's convolutional teacher for small images (CnnConfig): convnet teachers distil best into
// ViTs (DeiT), and one trains to a strong teacher on 28x28 images in a few CPU minutes.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <vector>

#include "model/classifier.h"
#include "model/cnn_config.h"

namespace tleg {

// Parameters named "convs.{i}.weight", "norms.{i}.{weight,bias}" (buffers running_mean,
// running_var, num_batches_tracked) for the i-th convolution counted over all stages, and
// "head.{weight,bias}".
class Cnn : public Classifier {
 public:
  explicit Cnn(const CnnConfig& config);

  // bf16: the convolutions run in bfloat16 over float32 weights; BatchNorm keeps float32
  // statistics and parameters, pooling and the head run in float32, as in the ViT.
  at::Tensor forward(const at::Tensor& images,
                     std::optional<at::Generator> generator = {}) override;
  std::int64_t classes() const override { return config_.classes; }
  std::int64_t channels() const override { return config_.channels; }
  std::int64_t image_size() const override { return config_.image_size; }
  std::int64_t depth() const override { return config_.conv_layers(); }
  std::string describe() const override { return config_.describe(); }
  std::int64_t image_forward_flops() const override { return forward_flops(config_); }
  const CnnConfig& config() const { return config_; }

 private:
  CnnConfig config_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
  torch::nn::Linear head_{nullptr};
};

// Initial values, deterministic in `seed`: convolutions He-normal (fan-out, ReLU gain, as
// torchvision's ResNet), BatchNorm weight 1 and bias 0, the head PyTorch's Linear default
// (uniform +-1/sqrt(fan_in)) with bias 0.
void initialise(Cnn& model, std::uint64_t seed);

}  // namespace tleg

// What training, evaluation and a live teacher need of a network, whatever its architecture (the
// ViTs of vit.h, the convolutional teacher of cnn.h): images in, logits out, and what the cost
// ledger and the messages say about it.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <optional>
#include <string>

#include "model/precision.h"

namespace tleg {

class Classifier : public torch::nn::Module {
 public:
  ~Classifier() override = default;

  // images [B, C, H, W] -> logits [B, classes] in the parameters' dtype. `generator` drives the
  // network's random choices in training (drop path), the default generator when none is given.
  virtual at::Tensor forward(const at::Tensor& images,
                             std::optional<at::Generator> generator = {}) = 0;
  virtual std::int64_t classes() const = 0;
  virtual std::int64_t channels() const = 0;
  virtual std::int64_t image_size() const = 0;
  // The depth the cost ledger records (a ViT's blocks, a CNN's convolutions).
  virtual std::int64_t depth() const = 0;
  virtual std::string describe() const = 0;
  // Forward FLOPs per image, a multiply-add counted as 2 (vit_config.h's convention).
  virtual std::int64_t image_forward_flops() const = 0;

  // What forward() computes in (see Precision); the parameters keep their dtype either way.
  void set_precision(Precision precision) { precision_ = precision; }
  Precision precision() const { return precision_; }

 protected:
  Precision precision_ = Precision::kFloat32;
};

}  // namespace tleg

// The architecture of tleg's convolutional teacher (cnn.h) and its analytical parameter and FLOP
// counts. No torch here: the launcher and the weights file use it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tleg {

// Stages of `convs` 3x3 convolutions (padding 1, no bias) each followed by BatchNorm and ReLU;
// a 2x2 max-pool after every stage but the last, then global average pooling and a linear head.
// The defaults suit 28x28 grey images: 28 -> 14 -> 7 pixels at 32, 64, 128 channels.
struct CnnConfig {
  std::int64_t image_size = 28;
  std::int64_t channels = 1;
  std::int64_t classes = 10;
  std::vector<std::int64_t> widths{32, 64, 128};  // output channels of each stage
  std::int64_t convs = 2;                         // convolutions per stage

  // Throws tleg::Error naming the bad field.
  void validate() const;
  std::string describe() const;
  std::int64_t conv_layers() const { return static_cast<std::int64_t>(widths.size()) * convs; }
  // The side of stage `stage`'s feature maps (each pool halves it, rounding down).
  std::int64_t side(std::size_t stage) const;
};

// "32,64,128" <-> {32, 64, 128}; parse throws naming `what` when the text is not a list of
// positive integers.
std::vector<std::int64_t> parse_widths(const std::string& text, const std::string& what);
std::string widths_text(const std::vector<std::int64_t>& widths);

std::int64_t cnn_parameter_count(const CnnConfig& config);  // weights and BatchNorm affine
// Forward FLOPs for one image over the convolutions and the head (2 per multiply-add; BatchNorm,
// ReLU and pooling left out, as forward_flops of a VitConfig leaves out norms and GELU).
std::int64_t forward_flops(const CnnConfig& config);

}  // namespace tleg

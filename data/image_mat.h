// An Image as an OpenCV matrix over the same pixels, and a new Image of a size: what the view
// renderer and RandAugment both work with. Private to tleg_loader (OpenCV in the signature).
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>

#include "data/jpeg_codec.h"

namespace tleg {

inline cv::Mat as_mat(Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels), image.pixels.data());
}

inline Image make_image(int height, int width, int channels) {
  Image image{height, width, channels, {}};
  image.pixels.resize(static_cast<std::size_t>(height) * width * channels);
  return image;
}

}  // namespace tleg

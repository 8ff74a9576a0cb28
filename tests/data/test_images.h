// Small textured test images (smooth waves plus fine noise, not flat colours), so that JPEG,
// resampling and augmentation have something real to work on.
#pragma once

#include <cmath>
#include <cstdint>

#include "data/counter_rng.h"
#include "data/jpeg_codec.h"

namespace tleg::testing {

inline Image textured_image(int height, int width, int channels, std::uint64_t seed) {
  Image image{height, width, channels, {}};
  image.pixels.resize(static_cast<std::size_t>(height) * width * channels);
  CounterRng rng{seed, 0};
  const double fx = rng.uniform(0.02, 0.08), fy = rng.uniform(0.02, 0.08);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        const double wave = 110 + 70 * std::sin(fx * x * (c + 1) + fy * y) +
                            40 * std::cos(0.013 * x * y / (c + 1.0) + seed);
        const double value = wave + 12 * (rng.uniform() - 0.5);
        image.row(y)[x * channels + c] = static_cast<std::uint8_t>(std::clamp(value, 0.0, 255.0));
      }
  return image;
}

}  // namespace tleg::testing

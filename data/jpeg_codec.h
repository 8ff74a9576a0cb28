// JPEG decode and encode with libjpeg-turbo (TurboJPEG API). Decoding can use DCT-domain
// scaling (1/8 .. 1) so a large image that will be shrunk is never decoded at full size.
// Thread-safe: each thread keeps its own codec handles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tleg {

// An 8-bit image, rows of width * channels bytes (HWC; channels 1 = grey, 3 = RGB, 4 = CMYK,
// which only encode_jpeg accepts: it exists to make the CMYK files ImageNet contains).
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  std::uint8_t* row(int y) {
    return pixels.data() + static_cast<std::size_t>(y) * width * channels;
  }
  const std::uint8_t* row(int y) const {
    return pixels.data() + static_cast<std::size_t>(y) * width * channels;
  }
};

struct JpegSize {
  int width = 0, height = 0;
};

// The size stored in the header; throws tleg::Error with libjpeg-turbo's reason.
JpegSize jpeg_size(const std::uint8_t* data, std::size_t size);

// The largest DCT scale factor num/8 (num in 1..8) that keeps the decoded image at least
// min_width x min_height; the full size when the image is already smaller.
int jpeg_scale_eighths(JpegSize size, int min_width, int min_height);

// Decodes to `channels` (1 or 3) at scale eighths/8. `strict` turns libjpeg warnings (a
// truncated file, corrupt data that libjpeg would paper over) into errors: used when importing.
// CMYK/YCCK JPEGs (a few in ImageNet) are converted to RGB with libjpeg-turbo's convention
// that stored CMYK is inverted (Adobe), as Pillow does for the same files.
Image decode_jpeg(const std::uint8_t* data, std::size_t size, int channels, int eighths = 8,
                  bool strict = false);

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality);

}  // namespace tleg

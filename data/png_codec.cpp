#include "data/png_codec.h"

#include <png.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace tleg {
namespace {

std::uint32_t png_format(int channels) {
  if (channels == 1) return PNG_FORMAT_GRAY;
  if (channels == 3) return PNG_FORMAT_RGB;
  fail("PNG: ", channels, " channels requested; only 1 (grey) and 3 (RGB) are supported");
}

// Frees libpng's state on every path out.
struct PngImage {
  png_image image{};
  PngImage() { image.version = PNG_IMAGE_VERSION; }
  ~PngImage() { png_image_free(&image); }
};

}  // namespace

bool is_png(const std::uint8_t* data, std::size_t size) {
  return size >= 8 && png_sig_cmp(data, 0, 8) == 0;
}

Image decode_png(const std::uint8_t* data, std::size_t size, int channels) {
  PngImage png;
  if (!png_image_begin_read_from_memory(&png.image, data, size))
    fail("corrupt PNG: ", png.image.message);
  // Read with alpha and drop it afterwards, as Pillow's convert("RGB") does (libpng would
  // compose it over a background instead).
  png.image.format = png_format(channels) | PNG_FORMAT_FLAG_ALPHA;
  std::vector<std::uint8_t> with_alpha(PNG_IMAGE_SIZE(png.image));
  if (!png_image_finish_read(&png.image, /*background=*/nullptr, with_alpha.data(),
                             /*row_stride=*/0, /*colormap=*/nullptr))
    fail("corrupt PNG: ", png.image.message);
  Image image;
  image.width = static_cast<int>(png.image.width);
  image.height = static_cast<int>(png.image.height);
  image.channels = channels;
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  image.pixels.resize(pixels * channels);
  for (std::size_t i = 0; i < pixels; ++i)
    std::memcpy(image.pixels.data() + i * channels, with_alpha.data() + i * (channels + 1),
                channels);
  return image;
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  PngImage png;
  png.image.width = static_cast<png_uint_32>(image.width);
  png.image.height = static_cast<png_uint_32>(image.height);
  png.image.format = png_format(image.channels);
  png_alloc_size_t size = 0;
  if (!png_image_write_get_memory_size(png.image, size, 0, image.pixels.data(), 0, nullptr))
    fail("PNG encode: ", png.image.message);
  std::vector<std::uint8_t> bytes(size);
  if (!png_image_write_to_memory(&png.image, bytes.data(), &size, 0, image.pixels.data(), 0,
                                 nullptr))
    fail("PNG encode: ", png.image.message);
  bytes.resize(size);
  return bytes;
}

}  // namespace tleg

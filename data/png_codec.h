// PNG decode and encode with libpng's simplified API: ImageNet's train split holds a PNG saved
// as .JPEG, which the importer decodes and stores like any other image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/jpeg_codec.h"

namespace tleg {

// True when the bytes start with the PNG signature.
bool is_png(const std::uint8_t* data, std::size_t size);

// Decodes to `channels` (1 or 3): palettes expanded, 16-bit samples reduced to 8, alpha dropped
// as Pillow's convert("RGB") drops it; throws tleg::Error with libpng's reason.
Image decode_png(const std::uint8_t* data, std::size_t size, int channels);

// 8-bit grey or RGB to PNG bytes (tests make their PNG inputs with it).
std::vector<std::uint8_t> encode_png(const Image& image);

}  // namespace tleg

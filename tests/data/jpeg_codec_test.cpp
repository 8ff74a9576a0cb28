// JPEG round trip, DCT-scaled decode, and strict decoding of a truncated file.
#include <gtest/gtest.h>

#include <cmath>

#include "data/jpeg_codec.h"

namespace tleg {
namespace {

Image gradient(int height, int width, int channels) {
  Image image{height, width, channels, {}};
  image.pixels.resize(static_cast<std::size_t>(height) * width * channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.row(y)[x * channels + c] =
            static_cast<std::uint8_t>((x + y) * 200 / (width + height) + 20 * c);
  return image;
}

TEST(JpegCodec, RoundTripIsCloseAndScaledDecodeShrinks) {
  const Image original = gradient(120, 200, 3);
  const auto bytes = encode_jpeg(original, 95);
  EXPECT_EQ(jpeg_size(bytes.data(), bytes.size()).width, 200);
  const Image decoded = decode_jpeg(bytes.data(), bytes.size(), 3);
  ASSERT_EQ(decoded.pixels.size(), original.pixels.size());
  double error = 0;
  for (std::size_t i = 0; i < decoded.pixels.size(); ++i)
    error += std::abs(int(decoded.pixels[i]) - int(original.pixels[i]));
  EXPECT_LT(error / decoded.pixels.size(), 3.0);  // q95 of a smooth image: ~1 level on average

  EXPECT_EQ(jpeg_scale_eighths({200, 120}, 50, 30), 2);  // 1/4 gives 50x30
  EXPECT_EQ(jpeg_scale_eighths({200, 120}, 51, 30), 3);
  EXPECT_EQ(jpeg_scale_eighths({200, 120}, 400, 400), 8);
  const Image quarter = decode_jpeg(bytes.data(), bytes.size(), 1, 2);
  EXPECT_EQ(quarter.width, 50);
  EXPECT_EQ(quarter.height, 30);
  EXPECT_EQ(quarter.channels, 1);
}

TEST(JpegCodec, TruncatedAndGarbageInputsAreErrors) {
  const auto bytes = encode_jpeg(gradient(256, 256, 3), 90);
  // Cut inside the entropy-coded data (the headers take the first few hundred bytes).
  const std::vector<std::uint8_t> truncated(bytes.begin(), bytes.begin() + bytes.size() * 3 / 4);
  EXPECT_THROW(decode_jpeg(truncated.data(), truncated.size(), 3, 8, /*strict=*/true),
               std::exception);
  EXPECT_NO_THROW(decode_jpeg(truncated.data(), truncated.size(), 3, 8, /*strict=*/false));
  const std::vector<std::uint8_t> garbage(100, 7);
  EXPECT_THROW(decode_jpeg(garbage.data(), garbage.size(), 3), std::exception);
  EXPECT_THROW(jpeg_size(garbage.data(), 0), std::exception);
}

}  // namespace
}  // namespace tleg

#include "data/jpeg_codec.h"

#include <turbojpeg.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace tleg {
namespace {

struct HandleCloser {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using Handle = std::unique_ptr<void, HandleCloser>;

// One decompressor and one compressor per thread: creating them per image costs more than a
// small decode. A handle that reported an error is replaced: TurboJPEG leaves it unusable
// ("Invalid argument" on the next call).
Handle& decompressor_slot() {
  thread_local Handle handle;
  if (!handle) handle.reset(tjInitDecompress());
  if (!handle) fail("libjpeg-turbo: cannot create a decompressor");
  return handle;
}
tjhandle decompressor() { return decompressor_slot().get(); }

[[noreturn]] void fail_decoding(const char* what) {
  const std::string reason = tjGetErrorStr2(decompressor());
  decompressor_slot().reset();
  fail(what, reason);
}

tjhandle compressor() {
  thread_local Handle handle(tjInitCompress());
  if (!handle) fail("libjpeg-turbo: cannot create a compressor");
  return handle.get();
}

struct JpegHeader {
  JpegSize size;
  int colorspace = 0;  // TJCS_*
};

JpegHeader read_header(const std::uint8_t* data, std::size_t size) {
  JpegHeader header;
  int subsampling = 0;
  if (tjDecompressHeader3(decompressor(), data, static_cast<unsigned long>(size),
                          &header.size.width, &header.size.height, &subsampling,
                          &header.colorspace) != 0)
    fail_decoding("not a readable JPEG: ");
  return header;
}

// libjpeg-turbo's cmyk_to_rgb (cmyk.h): stored values are inverted, so R = C * K / 255.
void cmyk_to_rgb(const std::vector<std::uint8_t>& cmyk, Image& image) {
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* in = &cmyk[4 * i];
    const int k = in[3];
    std::uint8_t rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<std::uint8_t>((in[c] * k + 127) / 255);
    if (image.channels == 3) {
      std::copy(rgb, rgb + 3, &image.pixels[3 * i]);
    } else {  // ITU-R BT.601 luma, as libjpeg's RGB -> grey
      image.pixels[i] =
          static_cast<std::uint8_t>((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
    }
  }
}

}  // namespace

JpegSize jpeg_size(const std::uint8_t* data, std::size_t size) {
  return read_header(data, size).size;
}

int jpeg_scale_eighths(JpegSize size, int min_width, int min_height) {
  for (int eighths = 1; eighths < 8; ++eighths) {
    if (TJSCALED(size.width, (tjscalingfactor{eighths, 8})) >= min_width &&
        TJSCALED(size.height, (tjscalingfactor{eighths, 8})) >= min_height)
      return eighths;
  }
  return 8;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, int channels, int eighths,
                  bool strict) {
  if (channels != 1 && channels != 3) fail("JPEG decode: channels must be 1 or 3, got ", channels);
  const JpegHeader header = read_header(data, size);
  const tjscalingfactor factor{eighths, 8};
  Image image;
  image.width = TJSCALED(header.size.width, factor);
  image.height = TJSCALED(header.size.height, factor);
  image.channels = channels;
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * channels);
  // libjpeg-turbo cannot convert CMYK to RGB or grey itself: decode the four channels.
  const bool cmyk = header.colorspace == TJCS_CMYK || header.colorspace == TJCS_YCCK;
  std::vector<std::uint8_t> cmyk_pixels(
      cmyk ? static_cast<std::size_t>(image.width) * image.height * 4 : 0);
  // The accurate integer IDCT, as Pillow decodes (the released pipeline's loader).
  const int flags = strict ? TJFLAG_STOPONWARNING : 0;
  if (tjDecompress2(decompressor(), data, static_cast<unsigned long>(size),
                    cmyk ? cmyk_pixels.data() : image.pixels.data(), image.width, 0, image.height,
                    cmyk            ? TJPF_CMYK
                    : channels == 3 ? TJPF_RGB
                                    : TJPF_GRAY,
                    flags) != 0) {
    // Without `strict`, a warning (e.g. premature end of data) still yields a usable image.
    if (strict || tjGetErrorCode(decompressor()) != TJERR_WARNING) fail_decoding("corrupt JPEG: ");
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels, image);
  return image;
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (image.channels != 1 && image.channels != 3 && image.channels != 4)
    fail("JPEG encode: channels must be 1, 3 or 4, got ", image.channels);
  const int pixel_format = image.channels == 4   ? TJPF_CMYK
                           : image.channels == 3 ? TJPF_RGB
                                                 : TJPF_GRAY;
  const int subsampling = image.channels == 4   ? TJSAMP_444
                          : image.channels == 3 ? TJSAMP_420
                                                : TJSAMP_GRAY;
  if (tjCompress2(compressor(), image.pixels.data(), image.width, 0, image.height, pixel_format,
                  &buffer, &size, subsampling, quality, TJFLAG_FASTDCT) != 0) {
    tjFree(buffer);
    fail("JPEG encode failed: ", tjGetErrorStr2(compressor()));
  }
  std::vector<std::uint8_t> bytes(buffer, buffer + size);
  tjFree(buffer);
  return bytes;
}

}  // namespace tleg

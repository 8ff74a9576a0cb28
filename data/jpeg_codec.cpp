#include "data/jpeg_codec.h"

#include <turbojpeg.h>

#include <memory>
#include <string>

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

}  // namespace

JpegSize jpeg_size(const std::uint8_t* data, std::size_t size) {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(decompressor(), data, static_cast<unsigned long>(size), &width, &height,
                          &subsampling, &colorspace) != 0)
    fail_decoding("not a readable JPEG: ");
  return {width, height};
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
  const JpegSize full = jpeg_size(data, size);
  const tjscalingfactor factor{eighths, 8};
  Image image;
  image.width = TJSCALED(full.width, factor);
  image.height = TJSCALED(full.height, factor);
  image.channels = channels;
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * channels);
  const int flags = TJFLAG_FASTDCT | (strict ? TJFLAG_STOPONWARNING : 0);
  if (tjDecompress2(decompressor(), data, static_cast<unsigned long>(size), image.pixels.data(),
                    image.width, 0, image.height, channels == 3 ? TJPF_RGB : TJPF_GRAY,
                    flags) != 0) {
    // Without `strict`, a warning (e.g. premature end of data) still yields a usable image.
    if (strict || tjGetErrorCode(decompressor()) != TJERR_WARNING) fail_decoding("corrupt JPEG: ");
  }
  return image;
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(compressor(), image.pixels.data(), image.width, 0, image.height,
                  image.channels == 3 ? TJPF_RGB : TJPF_GRAY, &buffer, &size,
                  image.channels == 3 ? TJSAMP_420 : TJSAMP_GRAY, quality, TJFLAG_FASTDCT) != 0) {
    tjFree(buffer);
    fail("JPEG encode failed: ", tjGetErrorStr2(compressor()));
  }
  std::vector<std::uint8_t> bytes(buffer, buffer + size);
  tjFree(buffer);
  return bytes;
}

}  // namespace tleg

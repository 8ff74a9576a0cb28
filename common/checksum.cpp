#include "common/checksum.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

namespace tleg {

void Crc32::update(const void* data, std::size_t size) {
  // zlib's crc32 takes a uInt length: feed large buffers in pieces.
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const std::size_t piece = std::min<std::size_t>(size, std::numeric_limits<uInt>::max());
    crc_ = static_cast<std::uint32_t>(crc32(crc_, bytes, static_cast<uInt>(piece)));
    bytes += piece;
    size -= piece;
  }
}

}  // namespace tleg

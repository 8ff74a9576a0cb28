#include "common/checksum.h"

#include <libdeflate.h>

namespace tleg {

void Crc32::update(const void* data, std::size_t size) {
  crc_ = libdeflate_crc32(crc_, data, size);
}

}  // namespace tleg

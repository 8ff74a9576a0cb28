// CRC-32 (zlib's polynomial and conventions, computed by libdeflate with carry-less multiplies)
// for detecting corrupted files; incremental so large payloads need no copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tleg {

class Crc32 {
 public:
  void update(const void* data, std::size_t size);
  void update(const std::string& text) { update(text.data(), text.size()); }
  std::uint32_t value() const { return crc_; }

 private:
  std::uint32_t crc_ = 0;
};

}  // namespace tleg

// Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or plain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tleg {

struct IdxArray {
  std::vector<std::int64_t> shape;  // e.g. {60000, 28, 28} or {60000}
  std::vector<std::uint8_t> values;
};

// Reads an unsigned-byte IDX file (magic 0x0000080N); errors name the file.
IdxArray read_idx(const std::string& path);

}  // namespace tleg

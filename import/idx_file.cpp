#include "import/idx_file.h"

#include <zlib.h>

#include <memory>

#include "common/error.h"

namespace tleg {

IdxArray read_idx(const std::string& path) {
  // gzread reads plain files as they are, so one path serves .gz and uncompressed files.
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (!file) fail(path, ": cannot open the IDX file");
  auto read_exactly = [&](void* out, unsigned size, const char* what) {
    const int got = gzread(file.get(), out, size);
    if (got != static_cast<int>(size))
      fail(path, ": truncated IDX file (", what, " ends early); download it again");
  };
  unsigned char magic[4];
  read_exactly(magic, 4, "header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08)
    fail(path, ": not an unsigned-byte IDX file (magic ", int(magic[0]), " ", int(magic[1]), " ",
         int(magic[2]), " ", int(magic[3]), ")");
  IdxArray array;
  std::uint64_t total = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char size[4];
    read_exactly(size, 4, "dimensions");
    const std::int64_t n =
        (std::int64_t{size[0]} << 24) | (size[1] << 16) | (size[2] << 8) | size[3];
    array.shape.push_back(n);
    total *= static_cast<std::uint64_t>(n);
  }
  array.values.resize(total);
  std::uint64_t done = 0;
  while (done < total) {  // gzread takes an unsigned int: read in pieces
    const auto piece = static_cast<unsigned>(std::min<std::uint64_t>(total - done, 1u << 30));
    read_exactly(array.values.data() + done, piece, "data");
    done += piece;
  }
  return array;
}

}  // namespace tleg

// Importers that turn a dataset on disk into a tleg dataset store.
#pragma once

#include <cstdint>
#include <string>

namespace tleg {

struct ImportSummary {
  std::string path, fingerprint;
  std::uint64_t train = 0, val = 0, bad = 0;
};

// Fashion-MNIST from its four IDX files (gzip or plain), as Debian's dataset-fashion-mnist
// installs them: raw 28x28x1 images, splits "train" (60,000) and "val" (10,000).
ImportSummary prepare_fashion_mnist(const std::string& source_dir, const std::string& out,
                                    std::int64_t images_per_shard);

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace tleg

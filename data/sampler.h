// Which samples each rank sees, and in which order: a per-epoch permutation derived from
// (seed, epoch) alone, cut into equal per-rank shares, so every rank computes its share without
// talking to the others and a resumed run continues at any step. With repeated augmentation
// (DeiT's RASampler) each sample appears `repeats` times per epoch, spread over ranks.
#pragma once

#include <cstdint>
#include <vector>

namespace tleg {

struct SamplerOptions {
  std::uint64_t seed = 0;
  bool shuffle = true;
  // Samples that do not divide evenly: pad by wrapping around (every sample seen at least
  // once, as DistributedSampler) or drop the tail (every rank still gets the same count).
  bool drop_last = false;
  std::int64_t repeats = 1;  // repeated augmentation: 3 in the DeiT recipe
};

class DistributedSampler {
 public:
  DistributedSampler(std::uint64_t dataset_size, std::int64_t ranks, std::int64_t rank,
                     SamplerOptions options);
  // The number of samples rank gets per epoch (equal on every rank).
  std::uint64_t per_rank() const { return per_rank_; }
  // This rank's samples of `epoch`, in order; a resumed run skips step * batch of them.
  std::vector<std::uint64_t> epoch_indices(std::uint64_t epoch) const;

 private:
  std::uint64_t size_;
  std::int64_t ranks_, rank_;
  SamplerOptions options_;
  std::uint64_t per_rank_;
};

// A permutation of [0, n) from a counter-based generator keyed by `key` (identical on every
// platform and standard library).
std::vector<std::uint64_t> permutation(std::uint64_t n, std::uint64_t key);

}  // namespace tleg

#include "data/sampler.h"

#include <numeric>
#include <utility>

#include "common/error.h"
#include "common/hash.h"

namespace tleg {

std::vector<std::uint64_t> permutation(std::uint64_t n, std::uint64_t key) {
  std::vector<std::uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with draw i = mix64(key, i); the bound is reached by 128-bit multiplication
  // (Lemire), whose bias of at most n / 2^64 is immaterial here.
  for (std::uint64_t i = n; i > 1; --i) {
    const std::uint64_t draw = mix64(key ^ mix64(i));
    const auto j = static_cast<std::uint64_t>((static_cast<unsigned __int128>(draw) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

DistributedSampler::DistributedSampler(std::uint64_t dataset_size, std::int64_t ranks,
                                       std::int64_t rank, SamplerOptions options)
    : size_(dataset_size), ranks_(ranks), rank_(rank), options_(options) {
  if (ranks_ <= 0 || rank_ < 0 || rank_ >= ranks_)
    fail("sampler: rank ", rank_, " is not in a world of ", ranks_);
  if (options_.repeats < 1) fail("sampler: repeats must be at least 1, got ", options_.repeats);
  const auto r = static_cast<std::uint64_t>(ranks_);
  if (options_.repeats > 1) {
    // RASampler: every rank sees size/ranks samples per epoch, drawn from the repeated list.
    per_rank_ = (size_ + r - 1) / r;
  } else {
    per_rank_ = options_.drop_last ? size_ / r : (size_ + r - 1) / r;
  }
  if (per_rank_ == 0) fail("sampler: ", size_, " samples cannot feed ", ranks_, " ranks");
}

std::vector<std::uint64_t> DistributedSampler::epoch_indices(std::uint64_t epoch) const {
  const std::uint64_t key = mix64(options_.seed ^ mix64(epoch + 1));
  std::vector<std::uint64_t> order;
  if (options_.shuffle)
    order = permutation(size_, key);
  else {
    order.resize(size_);
    std::iota(order.begin(), order.end(), 0);
  }
  const auto r = static_cast<std::uint64_t>(ranks_);
  const auto repeats = static_cast<std::uint64_t>(options_.repeats);
  // With repeats, sample k occupies positions k*repeats .. k*repeats+repeats-1 of the repeated
  // list, so its copies land on consecutive ranks (different augmentations, same batch step).
  const std::uint64_t total = per_rank_ * r;
  std::vector<std::uint64_t> mine;
  mine.reserve(per_rank_);
  for (std::uint64_t position = static_cast<std::uint64_t>(rank_); position < total;
       position += r) {
    const std::uint64_t slot = position / repeats;
    mine.push_back(order[slot % size_]);  // wraps around to pad when needed
  }
  return mine;
}

}  // namespace tleg

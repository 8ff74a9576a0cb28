// SplitMix64, the one hash tleg derives every random key from (samplers, views, Mixup, drop
// path): a fixed function, so keys are the same on every platform and standard library.
#pragma once

#include <cstdint>

namespace tleg {

// A well-mixed 64-bit function of its input.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace tleg

// A counter-based random generator: draw n of a key is mix64(key + n), so any draw can be
// recomputed anywhere from (key, n) alone. Every random choice of the data pipeline comes from
// one of these, keyed by what it belongs to (seed, epoch, sample, view or step), never from
// generator state that depends on thread count or visiting order.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <numbers>

#include "common/hash.h"

namespace tleg {

// A key from a list of parts (seed, epoch, sample, ...): each part goes through mix64 before
// being folded in, so (1, 2) and (2, 1) give unrelated keys.
inline std::uint64_t counter_key(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t key = 0x5d1f3c2b9a8e7d65ULL;
  for (const std::uint64_t part : parts) key = mix64(key ^ mix64(part));
  return key;
}

struct CounterRng {
  std::uint64_t key = 0;
  std::uint64_t counter = 0;

  std::uint64_t next_u64() { return mix64(key ^ mix64(counter++)); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [low, high] (both inclusive), Lemire's multiply: bias ≤ range / 2^64.
  std::int64_t uniform_int(std::int64_t low, std::int64_t high) {
    const auto range = static_cast<std::uint64_t>(high - low) + 1;
    return low +
           static_cast<std::int64_t>((static_cast<unsigned __int128>(next_u64()) * range) >> 64);
  }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal by Box-Muller from two draws; the pair's second value is dropped so the
  // generator holds no cached state beyond (key, counter).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Gamma(shape, 1) by Marsaglia-Tsang; shape < 1 through Gamma(shape + 1) * U^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) {
      const double boost = std::pow(1.0 - uniform(), 1.0 / shape);
      return gamma(shape + 1.0) * boost;
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = 1.0 - uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }
};

}  // namespace tleg

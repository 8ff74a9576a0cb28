// Elapsed time as the loops and benchmarks measure it: a monotonic clock, in seconds.
#pragma once

#include <chrono>

namespace tleg {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace tleg

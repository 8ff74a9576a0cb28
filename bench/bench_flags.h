// The benchmark programs' own flags, "--name=value", read after Google Benchmark has removed
// the ones it knows.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace tleg::bench {

// Sets `value` and returns true when `arg` is "--name=...".
inline bool parse_flag(std::string_view arg, std::string_view name, std::int64_t& value) {
  const std::string prefix = "--" + std::string(name) + "=";
  if (!arg.starts_with(prefix)) return false;
  value = std::strtoll(std::string(arg.substr(prefix.size())).c_str(), nullptr, 10);
  return true;
}

inline bool parse_flag(std::string_view arg, std::string_view name, std::string& value) {
  const std::string prefix = "--" + std::string(name) + "=";
  if (!arg.starts_with(prefix)) return false;
  value = arg.substr(prefix.size());
  return true;
}

}  // namespace tleg::bench

// The exception type of tleg: a message that says what failed, where, and what to do. The
// launcher prints it as one line and exits non-zero. (A run stopped on request is dist::Stopped,
// dist/stop.h.)
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tleg {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a message from any streamable pieces: concat("file ", path, ": ", n, " rows").
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(concat(std::forward<Parts>(parts)...));
}

}  // namespace tleg

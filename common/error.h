// The exception types of tleg: a message that says what failed, where, and what to do; and a run
// stopped on request.
// The launcher prints it as one line and exits non-zero.
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

// A run stopped on request (SIGTERM, SIGUSR1, SIGINT) at a step every rank of it agreed on, with a
// checkpoint of that step written: not a failure. All ranks throw it together, so none needs
// ending by force (no MPI_Abort); dist::run_or_abort turns it into one message (from the rank
// that reports) saying how the run goes on, and exit code 128 + the signal.
class Stopped : public Error {
 public:
  Stopped(const std::string& what, int signal, bool report)
      : Error(what), signal_(signal), report_(report) {}
  int signal() const { return signal_; }
  bool report() const { return report_; }

 private:
  int signal_;
  bool report_;
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

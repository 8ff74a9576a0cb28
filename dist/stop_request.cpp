#include "dist/stop_request.h"

#include <atomic>

#include "common/error.h"
#include "dist/communicator.h"

namespace tleg::dist {
namespace {

constexpr int kSignals[3] = {SIGTERM, SIGUSR1, SIGINT};

std::atomic<int> received_signal{0};
std::atomic<bool> installed{false};
extern "C" void request_stop(int signal) { received_signal.store(signal); }

}  // namespace

StopRequest::StopRequest(Communicator& comm) : comm_(comm) {
  if (installed.exchange(true)) fail("internal: two StopRequests at once in one process");
  received_signal.store(0);
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous_[i]);
}

StopRequest::~StopRequest() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  installed.store(false);
}

bool StopRequest::agreed() {
  if (agreed_) return true;
  const bool here = received_signal.load() != 0;
  if (comm_.size() == 1) return agreed_ = here;
  // The answer of the OR started at the previous call: every rank reads the same one.
  if (in_flight_) agreed_ = in_flight_->wait();
  in_flight_.reset();
  if (!agreed_) in_flight_ = comm_.any_async(here);
  return agreed_;
}

void StopRequest::finish() {
  if (in_flight_) in_flight_->wait();
  in_flight_.reset();
}

int StopRequest::signal() const {
  const int signal = received_signal.load();
  return signal != 0 ? signal : SIGTERM;
}

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGINT:
      return "SIGINT";
    default:
      return concat("signal ", signal);
  }
}

}  // namespace tleg::dist

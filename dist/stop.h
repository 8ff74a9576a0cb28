// Stopping a run, all of it in one place (Slurm's half, the job that requeues itself before its
// time limit, is slurm/lib.sh's on_time_limit). SIGTERM (Slurm's time limit, scancel, requeue),
// SIGUSR1 (sbatch --signal) and SIGINT (Ctrl-C) ask every rank to stop at the same step, with a
// checkpoint.
// A signal handler can only set a flag; the ranks agree on it at every step with a host-side OR
// (Communicator::any_async) started at one step and read at the next, so no step waits for the
// others or for the device, and every rank sees the request at the same step: at most two steps
// after the signal reached the last rank, whatever the log and checkpoint intervals.
#pragma once

#include <csignal>
#include <memory>
#include <string>

#include "common/error.h"

namespace tleg::dist {

class Communicator;
class PendingFlag;

class StopRequest {
 public:
  // Installs the handlers of the three signals; the destructor puts back the previous ones.
  // One at a time per process.
  explicit StopRequest(Communicator& comm);
  ~StopRequest();
  StopRequest(const StopRequest&) = delete;
  StopRequest& operator=(const StopRequest&) = delete;

  // Collective, at the same points on every rank (once per step, once per evaluation batch):
  // whether every rank stops now. True on every rank at the same call, and from then on.
  bool agreed();
  // Collective: completes the agreement in flight, before the ranks go on to other collectives
  // without calling agreed() again (a run's normal end).
  void finish();
  // The signal this rank received, or SIGTERM for a rank stopped for another rank's: launchers
  // and Slurm signal every rank alike, so it is the same signal.
  int signal() const;

 private:
  Communicator& comm_;
  std::unique_ptr<PendingFlag> in_flight_;
  bool agreed_ = false;
  struct sigaction previous_[3]{};
};

// "SIGTERM", "SIGUSR1", "SIGINT" (or "signal N").
std::string signal_name(int signal);

// A run stopped on request at a step every rank of it agreed on, with a checkpoint of that step
// written: not a failure. All ranks throw it together, so none needs ending by force (no
// MPI_Abort); dist::run_or_abort turns it into one message (from the rank that reports) saying
// how the run goes on, and exit code 128 + the signal.
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

// What a stopped run tells its user: "tleg distill: stopped by SIGTERM after step 62 of 300;
// the checkpoint ... Job 7 was cancelled or reached its time limit; resume with: ...". Under
// Slurm, nothing to do when the job was requeued (it resumes by itself), else the command that
// resumes it (submit.sh's, or this process's own command line with --resume); elsewhere, the
// same command with --resume.
std::string stop_message(const Stopped& stop);

}  // namespace tleg::dist

// What a run stopped by a signal tells its user: what happened and what to do next. Under Slurm,
// nothing when the job was requeued (it resumes by itself), else the command that resumes it;
// elsewhere, the same command with --resume.
#pragma once

#include <string>

#include "common/error.h"

namespace tleg::dist {

// "tleg distill: stopped by SIGTERM after step 62 of 300; the checkpoint ... Job 7 was
// cancelled or reached its time limit; resume with: ..." The command line is this process's
// own (/proc/self/cmdline).
std::string stop_message(const Stopped& stop);

}  // namespace tleg::dist

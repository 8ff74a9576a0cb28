// `tleg sweep`: many depths of one initialisation method (or a baseline) in one job. The ranks are
// split into groups (sub-communicators) sized by each depth's cost (sweep_plan.h); each group
// expands or initialises its depths in turn and fine-tunes them data-parallel, in the run folders
// RUN_DIR/<method>/depth-<d>; prefin first pre-trains each depth from scratch in
// RUN_DIR/prefin-pretrain/depth-<d> (or reuses another sweep's runs, --prefin-from). Finished
// depths (run.json present) are skipped, so a rerun with --resume completes what is missing. The
// Slurm job array runs this for one depth per task.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stages/stage.h"

namespace tleg {

struct SweepSettings {
  StageSettings stage;  // the fine-tuning settings of every depth; stage.train.run_dir: RUN_DIR
  InitSettings init;    // init.depth is unused: the depths are below
  std::vector<std::int64_t> depths;
  std::int64_t pretrain_epochs = 0;  // prefin: epochs of each depth's own pre-training (0: same)
  // prefin: take each depth's pre-trained model from PRETRAINED_RUNS/depth-<d> (the runs of
  // another sweep, e.g. RUN_DIR/scratch-long, when the pre-training recipe is that sweep's)
  // instead of pre-training it here; empty: pre-train in RUN_DIR/prefin-pretrain.
  std::string pretrained_runs;
};

// The run folder of one depth of `method`: RUN_DIR/<method>/depth-<d>.
std::string sweep_run_dir(const std::string& run_dir, const std::string& method,
                          std::int64_t depth);

// Runs the sweep over the ranks of `world` (the job's communicator and this rank's device). After
// each depth the ranks of its group agree on how it ended: a depth that failed on every rank is
// reported (failed.txt in its folder, removed when it later succeeds) and the group goes on; a
// failure on some ranks only ends the job with the failing rank's message; SIGTERM/SIGUSR1
// (checkpointed by the Trainer) ends the group's part of the sweep. The groups then wait for each
// other with no deadline, and rank 0 prints every depth's outcome. Returns 1 when a depth failed
// or the sweep was stopped by a signal (rerun with --resume), else 0.
int run_sweep(const SweepSettings& settings, const StageContext& world);

}  // namespace tleg

// The report's training curves: each run's metrics.jsonl (written by train/trainer.cpp's
// TrainingLog through MetricsLog) read back, and one figure per run of its loss, learning rate
// and top-1 against the step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/plots.h"
#include "report/runs.h"

namespace tleg::report {

// Where the figures go, in the report's folder.
inline constexpr char kCurvesFolder[] = "curves";

// A "train" line: the mean loss over one log interval, and the learning rate of its last step.
struct TrainPoint {
  std::int64_t step = 0, epoch = 0;
  double loss = 0, lr = 0;
};

// An "eval" line: one evaluation at an epoch's end. Fractions; the loss is absent from logs
// written before evaluations recorded it.
struct EvalPoint {
  std::int64_t step = 0, epoch = 0;
  double top1 = 0, top5 = 0;
  std::optional<double> loss;
};

// One metrics.jsonl, by step. A resumed run repeats the steps logged after its checkpoint: the
// later line of a step is the one the run continued from, and replaces the earlier.
struct TrainingCurves {
  std::vector<TrainPoint> train;
  std::vector<EvalPoint> evaluations;
  // Lines that are no metrics line: a run killed mid-write leaves a cut line (which a resume
  // then continues on the same line). Left out and counted, so that the report can say so.
  std::size_t unreadable_lines = 0;
};

// Empty when `path` does not exist.
std::optional<TrainingCurves> read_training_curves(const std::string& path);

// One run's curves and, when there is anything to draw, its figure.
struct RunCurves {
  const LoadedRun* run = nullptr;
  std::string name;                      // the run's folder below the folder common to all runs
  std::string metrics_file;              // beside its run.json
  std::optional<TrainingCurves> curves;  // empty: no metrics.jsonl
  std::optional<PlotFiles> figure;       // STEM.dat and STEM.gp for the curves folder
};

// Every run of `data`, in its order, with its figure: panels of the loss (training and
// evaluation) and the learning rate against the step, and of top-1 at each evaluation (with the
// accuracy as inherited at step 0 where run.json has it); no panel without data, no figure
// without a panel. Figure stems are unique and safe as file names.
std::vector<RunCurves> training_curves(const ReportData& data);

// report.md's section on them: a row per run, linking its figure or saying why it has none.
std::string curves_md(const std::vector<RunCurves>& runs);

}  // namespace tleg::report

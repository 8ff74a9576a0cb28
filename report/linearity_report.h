// `tleg linearity`'s report: the fits of several trained ViTs side by side (R² distribution and
// relative residual per block tensor type), as Markdown, CSV and gnuplot plots, with what the
// numbers say stated from them.
#pragma once

#include <string>
#include <vector>

#include "expansion/linearity.h"

namespace tleg {

struct LabelledFit {
  std::string label;  // the model as the user named it
  LinearityFit fit;
};

// Writes linearity.md, linearity.csv, linearity_r2.{dat,gp,png,svg} and, per model k,
// linearity_elements_k.{dat,gp,png,svg} into `out_dir` (created). Returns the files written,
// relative to `out_dir`. Needs gnuplot.
std::vector<std::string> write_linearity_report(const std::vector<LabelledFit>& fits,
                                                const std::string& out_dir);
// The report's plain statement of what the numbers say, one line per model (also in the .md).
std::vector<std::string> linearity_findings(const std::vector<LabelledFit>& fits);

}  // namespace tleg

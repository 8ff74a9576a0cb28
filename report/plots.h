// The report's plots: for each, a gnuplot script and its data file (kept, so that a user can
// restyle and rerun them), then gnuplot run on them to draw PNG and SVG.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "report/runs.h"

namespace tleg::report {

struct PlotFiles {
  std::string stem, data, script;  // STEM.dat and STEM.gp, drawing STEM.png and STEM.svg
};

// Accuracy against depth and against cumulative cost, cost against models produced, parameters
// stored; none without families.
std::vector<PlotFiles> make_plots(const ReportData& data);
// A script's first lines: what it draws, what its data file holds (`data_layout`, e.g. "one
// block per method, in the order of the plot command"), how to rerun it, then the common style.
std::string script_header(const std::string& stem, const std::string& job,
                          const std::string& data_layout);
// The ending of a script: `plot` drawn as STEM.png, then replotted as STEM.svg.
std::string render_both(const std::string& stem, const std::string& plot);
// A figure's size in pixels and its font's in points.
struct FigureSize {
  int width = 1000, height = 650, font = 11;
};
// The ending of a script whose figure takes several commands (a multiplot, which `replot` would
// redraw only in part): `drawing` written twice, for STEM.png and STEM.svg.
std::string render_figure(const std::string& stem, const std::string& drawing,
                          const FigureSize& size);
// A string literal for a gnuplot script, whatever the text holds (a method name, a title).
std::string gnuplot_string(const std::string& text);
// Runs gnuplot on the scripts inside `dir`, so their relative file names resolve there.
void run_gnuplot(const std::filesystem::path& dir, const std::vector<std::string>& scripts);

}  // namespace tleg::report

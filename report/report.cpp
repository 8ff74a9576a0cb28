// The cost report: reads the run ledgers (runs), computes the paper's comparisons
// (ratios) and a verdict on each claim (verdicts), writes the tables
// (tables), the plots (plots) and each run's training curves (curves) into one folder.
#include "report/report.h"

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "report/curves.h"
#include "report/plots.h"
#include "report/ratios.h"
#include "report/runs.h"
#include "report/tables.h"
#include "report/transfer.h"
#include "report/verdicts.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text, ReportSummary& summary,
                const fs::path& out_dir) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) fail(path.string(), ": cannot write");
  summary.files.push_back(fs::relative(path, out_dir).string());
}

// Each plot's .dat and .gp into `dir`, then gnuplot's PNG and SVG of them.
void write_plots(const std::vector<report::PlotFiles>& plots, const fs::path& dir,
                 ReportSummary& summary, const fs::path& out_dir) {
  if (plots.empty()) return;
  std::vector<std::string> scripts;
  for (const auto& plot : plots) {
    write_file(dir / (plot.stem + ".dat"), plot.data, summary, out_dir);
    write_file(dir / (plot.stem + ".gp"), plot.script, summary, out_dir);
    scripts.push_back(plot.stem + ".gp");
  }
  report::run_gnuplot(dir, scripts);
  for (const auto& plot : plots)
    for (const char* extension : {".png", ".svg"}) {
      const fs::path image = dir / (plot.stem + extension);
      if (!fs::exists(image) || fs::file_size(image) == 0)
        fail(image.string(), ": gnuplot did not write it (scripts are in ", dir.string(), ")");
      summary.files.push_back(fs::relative(image, out_dir).string());
    }
}

}  // namespace

ReportSummary write_report(const std::vector<std::string>& runs, const std::string& out_dir) {
  using namespace report;
  ReportData data = load_report_data(runs);
  add_ratios(data);

  const fs::path dir(out_dir);
  std::error_code error;
  fs::create_directories(dir, error);
  if (!fs::is_directory(dir))
    fail(out_dir, ": cannot create the report folder (", error.message(), ")");
  ReportSummary summary;
  summary.run_files = data.runs.size();
  summary.ratios = data.ratios;
  summary.verdicts = verdicts_of(data);
  write_file(dir / "runs.csv", runs_csv(data), summary, dir);
  write_file(dir / "runs.md", runs_md(data), summary, dir);
  write_file(dir / "totals.csv", totals_csv(data), summary, dir);
  write_file(dir / "totals.md", totals_md(data), summary, dir);
  write_file(dir / "ratios.csv", ratios_csv(data), summary, dir);
  // A transfer's runs (initialised from another task's store) test the transfer claim only;
  // the paper's cost claims need the source task's family beside them, which a report of one
  // dataset cannot hold.
  const std::string transfer = transfer_md(data);
  if (const auto verdict = transfer_verdict(data)) summary.verdicts = {*verdict};
  if (!transfer.empty()) write_file(dir / "transfer.md", "# " + transfer.substr(3), summary, dir);
  write_file(dir / "verdicts.md", verdicts_md(summary.verdicts), summary, dir);

  const std::vector<PlotFiles> plots = make_plots(data);
  write_plots(plots, dir, summary, dir);
  std::vector<std::string> stems;
  for (const auto& plot : plots) stems.push_back(plot.stem);

  const std::vector<RunCurves> curves = training_curves(data);
  std::vector<PlotFiles> figures;
  for (const auto& run : curves)
    if (run.figure) figures.push_back(*run.figure);
  if (!figures.empty()) fs::create_directories(dir / report::kCurvesFolder);
  write_plots(figures, dir / report::kCurvesFolder, summary, dir);
  write_file(dir / "report.md", report_md(data, summary, stems, curves_md(curves)) + transfer,
             summary, dir);
  return summary;
}

}  // namespace tleg

// The report's tables: CSV for machines, Markdown for people (runs, totals per family, ratios),
// and report.md, the page that ties them and the plots together.
#pragma once

#include <string>
#include <vector>

#include "report/runs.h"

namespace tleg::report {

// A run's depth as the tables show it: a ViT's depth, "CNN" or "-" (no model).
std::string depth_cell(const RunLedger& run);
std::string runs_csv(const ReportData& data);
std::string runs_md(const ReportData& data);
std::string totals_csv(const ReportData& data);
std::string totals_md(const ReportData& data);
std::string ratios_csv(const ReportData& data);
// report.md, listing `summary`'s files, showing the plots of `plot_stems`, with the section on
// the training curves (curves.h's curves_md).
std::string report_md(const ReportData& data, const ReportSummary& summary,
                      const std::vector<std::string>& plot_stems,
                      const std::string& curves_section);

}  // namespace tleg::report

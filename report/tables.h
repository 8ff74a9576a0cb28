// The report's tables: CSV for machines, Markdown for people (runs, totals per family, ratios),
// and report.md, the page that ties them and the plots together.
#pragma once

#include <string>
#include <vector>

#include "report/runs.h"

namespace tleg::report {

std::string runs_csv(const ReportData& data);
std::string runs_md(const ReportData& data);
std::string totals_csv(const ReportData& data);
std::string totals_md(const ReportData& data);
std::string ratios_csv(const ReportData& data);
// report.md, listing `summary`'s files and showing the plots of `plot_stems`.
std::string report_md(const ReportData& data, const ReportSummary& summary,
                      const std::vector<std::string>& plot_stems);

}  // namespace tleg::report

// The paper's comparisons between the families of a report: cost ratios (baseline / TLEG) and
// accuracy differences, each with its accounting spelled out or the reason it cannot be computed.
#pragma once

#include <string>

#include "report/runs.h"

namespace tleg::report {

// Appends every comparison to data.ratios.
void add_ratios(ReportData& data);
// "2.50x", "+1.20 points" or "n/a".
std::string value_text(const ReportRatio& ratio);

}  // namespace tleg::report

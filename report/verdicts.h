// The verdicts of a report: each of the paper's claims decided on the runs by a criterion stated
// here, before any result is seen (docs and README quote these criteria). Internal to experiments/.
#pragma once

#include <string>
#include <vector>

#include "report/runs.h"

namespace tleg::report {

// "Comparable" top-1: TLEG's mean top-1 at most this many points below the other method's, at
// every depth both have.
inline constexpr double kComparablePoints = 1.0;
// A ratio claim of the paper (2x, 19x, 5x, 2.9x) holds when the measured ratio reaches this
// share of the paper's figure (1.8x for the paper's 2x).
inline constexpr double kRatioShare = 0.9;

// One verdict per claim: (a) TLEG at B vs scratch-long (accuracy; training cost without and with
// the teacher), (b) vs Pre-Fin (parameters stored, pre-training cost, accuracy), (c) vs one
// pre-trained model (parameters stored), (d) TLEG vs scratch at equal budget B.
std::vector<ReportVerdict> verdicts_of(const ReportData& data);
// verdicts.md: the criteria, then one line per verdict.
std::string verdicts_md(const std::vector<ReportVerdict>& verdicts);

}  // namespace tleg::report

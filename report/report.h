// The cost report (`tleg report`): reads the run.json ledgers of a family of runs and writes the
// tables, the paper's ratios with their accounting, and gnuplot plots into one folder.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tleg {

// One of the paper's comparisons. `value` is empty when it cannot be computed (a method is
// missing); `accounting` then says why, otherwise it spells out the numbers behind the value.
struct ReportRatio {
  std::string name;  // e.g. "TLEG vs scratch: total training FLOPs"
  std::optional<double> value;
  std::string unit;  // "x" (baseline / TLEG, >1 means TLEG needs less) or "points"
  std::string accounting;
};

// One of the paper's claims tested on the runs of a report: what the paper says, what was
// measured (the numbers and their accounting), the criterion stated before any result was seen,
// and whether the measurement meets it. Computed from the runs (verdicts.h,
// transfer.h), never by hand.
struct ReportVerdict {
  std::string claim;      // e.g. "(a) accuracy: TLEG at B vs scratch-long"
  std::string paper;      // what the paper reports
  std::string measured;   // the numbers behind the decision, or why they could not be measured
  std::string criterion;  // the rule that decides `holds`
  bool holds = false;     // decided by the criterion; false when not measurable
  // false when the runs the claim needs are missing (`measured` says which): the claim is then
  // not measured, neither holding nor failing.
  bool measurable = true;
};

struct ReportSummary {
  std::size_t run_files = 0;       // run.json files read
  std::vector<std::string> files;  // what was written, relative to the output folder
  std::vector<ReportRatio> ratios;
  std::vector<ReportVerdict> verdicts;  // one per claim, also in verdicts.md and report.md
};

// "(a) ... : measured ...; criterion ...: holds here" (or "does not hold here", or "not measured
// here" when its runs are missing): one line.
std::string verdict_line(const ReportVerdict& verdict);

// `runs` are run.json files or folders searched recursively for run.json. Throws tleg::Error
// when an argument holds no run.json, a record is unreadable, or runs of different datasets,
// fingerprints or class counts are mixed. Needs gnuplot for the plots.
ReportSummary write_report(const std::vector<std::string>& runs, const std::string& out_dir);

}  // namespace tleg

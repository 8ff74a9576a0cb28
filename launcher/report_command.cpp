// `tleg report`: the cost report of a family of runs (tables, ratios, verdicts, plots) from their
// run.json.
#include <iostream>

#include "experiments/report.h"
#include "launcher/command.h"

namespace tleg {
namespace {

int report_command(const std::vector<std::string>& runs, const std::string& out) {
  const ReportSummary summary = write_report(runs, out);
  std::cout << "read " << summary.run_files << " run.json file(s); wrote " << summary.files.size()
            << " files to " << out << " (start with " << out << "/report.md)\n";
  for (const auto& ratio : summary.ratios) {
    std::cout << "  " << ratio.name << ": ";
    if (!ratio.value)
      std::cout << ratio.accounting << "\n";
    else if (ratio.unit == "x")
      std::cout << *ratio.value << "x\n";
    else
      std::cout << (*ratio.value >= 0 ? "+" : "") << *ratio.value << " " << ratio.unit << "\n";
  }
  std::cout << "verdicts (" << out << "/verdicts.md):\n";
  for (const auto& verdict : summary.verdicts) std::cout << "  " << verdict_line(verdict) << "\n";
  return 0;
}

}  // namespace

std::vector<Command> report_commands() {
  return {
      {"report", "cost report of finished runs: accuracy, cost, stored parameters, ratios, plots",
       "RUNS...",
       [](po::options_description& o, po::positional_options_description& p) {
         o.add_options()("runs", po::value<std::vector<std::string>>()->required()->multitoken(),
                         "run.json files, or folders searched recursively for run.json")(
             "out", po::value<std::string>()->required(),
             "output folder (created): runs.csv/.md, totals.csv/.md, ratios.csv, verdicts.md, "
             "report.md, plots as .png/.svg with their .dat and .gp files");
         p.add("runs", -1);
       },
       [](Options& o) {
         return [runs = o.get<std::vector<std::string>>("runs"), out = o.get<std::string>("out")] {
           return report_command(runs, out);
         };
       }},
  };
}

}  // namespace tleg

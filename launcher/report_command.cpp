// `tleg report`: the cost report of a family of runs (tables, ratios, verdicts, plots) from their
// run.json; `tleg linearity`: how far trained models' blocks lie on a line across depth.
#include <iostream>

#include "common/error.h"
#include "common/format.h"
#include "expansion/linearity.h"
#include "weights/state_dict.h"
#include "report/linearity_report.h"
#include "report/report.h"
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

struct LinearitySettings {
  std::vector<std::string> models;
  std::string out, learngene;
  std::int64_t heads = 0;
};

int linearity_command(const LinearitySettings& s) {
  std::vector<LabelledFit> fits;
  WeightsFile first;
  for (const std::string& path : s.models) {
    WeightsFile model = load_trained_vit(path, s.heads);
    fits.push_back({path, fit_linearity(model)});
    if (fits.size() == 1) first = std::move(model);
  }
  const auto files = write_linearity_report(fits, s.out);
  std::cout << "fitted " << fits.size() << " model(s); wrote " << files.size() << " files to "
            << s.out << " (start with " << s.out << "/linearity.md)\n";
  for (const auto& line : linearity_findings(fits)) std::cout << "  " << line << "\n";
  if (!s.learngene.empty()) {
    save_weights(fitted_learngene(
                     first, fits.front().fit,
                     {{"command", concat("tleg linearity --model ", s.models.front(), " --heads ",
                                         s.heads, " --write-learngene ", s.learngene)}}),
                 s.learngene);
    std::cout << "wrote " << s.learngene << ": the fitted learngene (theta_B, theta_A) of "
              << s.models.front() << ", auxiliary depth " << fits.front().fit.depth << "\n";
  }
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
             "report.md, plots as .png/.svg with their .dat and .gp files, and curves/: each "
             "run's training curves from the metrics.jsonl beside its run.json");
         p.add("runs", -1);
       },
       [](Options& o) {
         return [runs = o.get<std::vector<std::string>>("runs"), out = o.get<std::string>("out")] {
           return report_command(runs, out);
         };
       }},
      {"linearity",
       "fit trained ViTs' blocks across depth as a + b*(l/L): R^2 and residual per tensor type", "",
       [](po::options_description& o, po::positional_options_description&) {
         o.add_options()("model", po::value<std::vector<std::string>>()->required()->multitoken(),
                         "trained ViTs: tleg model files (.h5) or timm state dicts (.pt from "
                         "torch.save(model.state_dict()) or tleg export, .safetensors)")(
             "out", po::value<std::string>()->required(),
             "output folder (created): linearity.md/.csv, plots as .png/.svg with .dat and .gp")(
             "heads", po::value<std::int64_t>()->default_value(0),
             "attention heads of a state dict (shapes do not tell; needed for --write-learngene)")(
             "write-learngene", po::value<std::string>()->default_value(""),
             "also write the fitted (theta_B, theta_A) of the one --model as a learngene file");
       },
       [](Options& o) {
         LinearitySettings s{.models = o.get<std::vector<std::string>>("model"),
                             .out = o.get<std::string>("out"),
                             .learngene = o.get<std::string>("write-learngene"),
                             .heads = o.get<std::int64_t>("heads")};
         if (!s.learngene.empty() && s.models.size() != 1)
           fail("--write-learngene fits one model; give exactly one --model (got ", s.models.size(),
                ")");
         return [s] { return linearity_command(s); };
       }},
  };
}

}  // namespace tleg

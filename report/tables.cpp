#include "report/tables.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "report/curves.h"
#include "report/ratios.h"
#include "report/verdicts.h"

namespace tleg::report {
namespace {

std::string csv_number(double value) { return format_number("%.10g", value); }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string runs_table(const ReportData& data) {
  std::ostringstream out;
  out << "| method | depth | n | top-1 % (best epoch) | top-5 % (best epoch) | top-1 % (last "
         "epoch) | epochs | images | training FLOPs | device-hours | parameters trained | "
         "parameters stored to initialise it |\n"
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& g : data.groups) {
    const auto accuracy = [&](double mean, double std) {
      if (g.n_evaluated == 0) return std::string("no evaluation");
      return format_number("%.2f", 100 * mean) +
             (g.n_evaluated < 2 ? std::string() : " ± " + format_number("%.2f", 100 * std));
    };
    out << "| " << g.method << " | " << depth_cell(g.runs.front()->ledger) << " | " << g.n()
        << " | " << accuracy(g.top1_mean, g.top1_std) << " | " << accuracy(g.top5_mean, g.top5_std)
        << " | " << accuracy(g.last_top1_mean, g.last_top1_std) << " | "
        << format_number("%g", g.cost.epochs) << " | " << grouped(std::llround(g.cost.images))
        << " | " << format_number("%.4g", g.cost.flops) << " | "
        << format_number("%.4g", g.cost.device_seconds / 3600) << " | "
        << grouped(g.parameters_trained) << " | " << grouped(g.parameters_stored) << " |\n";
  }
  return out.str();
}

// "TLEG, fine-tuned 2 epochs (120,000 images)": a family's name with its models' budget.
std::string family_title(const Family& f) {
  if (f.models.empty()) return display_name(f.method);
  const RunGroup& first = *f.models.front();
  return display_name(f.method) + (f.method == "prefin" ? ", then fine-tuned " : ", trained ") +
         format_number("%g", first.cost.epochs) + " epoch(s), " +
         grouped(std::llround(first.cost.images)) + " images";
}

// Top-1 of every family by depth, TLEG's descendants before fine-tuning first: the table the
// README and the demo's output show.
std::string accuracy_table(const ReportData& data) {
  std::vector<std::int64_t> depths;
  for (const auto& f : data.families)
    for (const RunGroup* model : f.models)
      if (std::find(depths.begin(), depths.end(), model->depth) == depths.end())
        depths.push_back(model->depth);
  std::sort(depths.begin(), depths.end());
  std::ostringstream out;
  out << "| top-1 % (best epoch; mean ± std over seeds) | n |";
  for (const auto depth : depths) out << " d=" << depth << " |";
  out << "\n|---|---:|";
  for (std::size_t i = 0; i < depths.size(); ++i) out << "---:|";
  out << "\n";
  const auto row = [&](const std::string& name, const Family& f, bool initial) {
    std::size_t n = 0;
    for (const RunGroup* model : f.models) n = std::max(n, initial ? model->n_initial : model->n());
    out << "| " << name << " | " << n << " |";
    for (const auto depth : depths) {
      std::string cell = "–";
      for (const RunGroup* m : f.models)
        if (m->depth == depth && (!initial || m->n_initial > 0)) {
          const double mean = initial ? m->initial_top1_mean : m->top1_mean;
          const double std = initial ? m->initial_top1_std : m->top1_std;
          const std::size_t seeds = initial ? m->n_initial : m->n();
          cell = format_number("%.2f", 100 * mean) +
                 (seeds < 2 ? std::string() : " ± " + format_number("%.2f", 100 * std));
        }
      out << " " << cell << " |";
    }
    out << "\n";
  };
  for (const auto& f : data.families) {
    if (f.method == "tleg") row("TLEG before fine-tuning (as inherited)", f, true);
    row(family_title(f), f, false);
  }
  return out.str();
}

std::string ratios_table(const ReportData& data) {
  std::ostringstream out;
  out << "| comparison | value | accounting |\n|---|---:|---|\n";
  for (const auto& r : data.ratios)
    out << "| " << r.name << " | " << value_text(r) << " | " << r.accounting << " |\n";
  return out.str();
}

std::string teacher_note(const ReportData& data) {
  std::string note;
  if (data.teacher)
    note = "Teacher: " + data.teacher->description + ", " +
           format_number("%.4g", data.teacher->cost.flops) + " FLOPs, " +
           format_number("%.4g", data.teacher->cost.device_seconds / 3600) +
           " device-hours. Its training is shared by every TLEG descendant through stage 1; it "
           "is NOT included in TLEG's pre-training cost above, and the ratios marked \"teacher's "
           "training included\" add it.";
  else
    note =
        "No teacher run among the inputs: the teacher's training is not counted anywhere (as "
        "for an already-trained, external teacher).";
  for (const RunGroup* aux : groups_of(data.groups, "aux")) {
    const auto& extra = aux->runs.front()->ledger.extra;
    const auto found = extra.find("teacher_flops_per_image");
    if (found != extra.end())
      note += concat(
          " The aux run's FLOPs include the teacher's forward passes during "
          "distillation: ",
          found->second,
          " FLOPs per image as recorded (0 when the run could not count "
          "them, e.g. a TorchScript teacher).");
  }
  return note;
}

}  // namespace

// The CNN teacher's conv layers are no ViT depth; the teacher-logits job trains nothing.
std::string depth_cell(const RunLedger& run) {
  if (run.method == "teacher-logits") return "-";
  if (run.model.starts_with("CNN")) return "CNN";
  return std::to_string(run.depth);
}

std::string runs_csv(const ReportData& data) {
  std::ostringstream out;
  out << "method,depth,n,top1_percent_mean,top1_percent_std,top5_percent_mean,top5_percent_std,"
         "last_top1_percent_mean,last_top1_percent_std,"
         "epochs,images,flops,device_hours,parameters_trained,parameters_stored,"
         "initial_top1_percent_mean,initial_top1_percent_std,run_files\n";
  for (const auto& g : data.groups) {
    std::vector<std::string> files;
    for (const LoadedRun* run : g.runs) files.push_back(run->file);
    // No evaluation: empty accuracy fields, never 0.
    const auto mean_field = [&](double fraction) {
      return g.n_evaluated == 0 ? std::string() : csv_number(100 * fraction);
    };
    const auto std_field = [&](double fraction) {
      return g.n_evaluated < 2 ? std::string() : csv_number(100 * fraction);
    };
    out << g.method << "," << g.depth << "," << g.n() << "," << mean_field(g.top1_mean) << ","
        << std_field(g.top1_std) << "," << mean_field(g.top5_mean) << "," << std_field(g.top5_std)
        << "," << mean_field(g.last_top1_mean) << "," << std_field(g.last_top1_std) << ","
        << csv_number(g.cost.epochs) << "," << csv_number(g.cost.images) << ","
        << csv_number(g.cost.flops) << "," << csv_number(g.cost.device_seconds / 3600) << ","
        << g.parameters_trained << "," << g.parameters_stored << ","
        << (g.n_initial ? csv_number(100 * g.initial_top1_mean) : std::string()) << ","
        << (g.n_initial >= 2 ? csv_number(100 * g.initial_top1_std) : std::string()) << ","
        << csv_field(join(files, ";")) << "\n";
  }
  return out.str();
}

std::string runs_md(const ReportData& data) {
  return "# Runs\n\nOne row per method and depth. Accuracy is the best epoch's, as in the "
         "paper's tables (DeiT evaluates every epoch and reports the maximum), with the last "
         "epoch's top-1 beside it; every accuracy in this report is the best epoch's unless it "
         "says last. Each is the mean over the seeds (± the "
         "sample standard deviation when n ≥ 2); costs are those of one run (the mean over the "
         "seeds). FLOPs count a training step as 3 × the forward pass; device-hours are wall "
         "time × ranks.\n\n" +
         runs_table(data);
}

std::string totals_csv(const ReportData& data) {
  std::ostringstream out;
  out << "method,depths,models";
  for (const char* part : {"pretraining", "finetuning", "total"})
    for (const char* measure : {"flops", "device_hours", "images", "epochs"})
      out << "," << part << "_" << measure;
  out << ",parameters_stored,pretraining_accounting,stored_accounting\n";
  const auto costs = [&](const std::optional<Cost>& cost) {
    std::string fields;
    for (const auto& measure : cost_measures()) {
      fields += ',';
      if (cost) fields += csv_number(measure.of(*cost));
    }
    return fields;
  };
  for (const auto& f : data.families)
    out << f.method << "," << join(f.depth_list(), ";") << "," << f.models.size()
        << costs(f.pretraining) << costs(f.finetuning)
        << costs(f.pretraining ? std::optional<Cost>(f.total()) : std::nullopt) << ","
        << f.parameters_stored << "," << csv_field(f.pretraining_accounting) << ","
        << csv_field(f.stored_accounting) << "\n";
  if (data.teacher)
    out << "teacher,,0" << costs(data.teacher->cost) << costs(Cost{}) << costs(data.teacher->cost)
        << ",0,"
        << csv_field(data.teacher->description +
                     "; shared by every TLEG descendant "
                     "through stage 1, not in tleg's row")
        << ",\n";
  return out.str();
}

std::string ratios_csv(const ReportData& data) {
  std::ostringstream out;
  out << "ratio,value,unit,accounting\n";
  for (const auto& r : data.ratios)
    out << csv_field(r.name) << "," << (r.value ? csv_number(*r.value) : std::string()) << ","
        << r.unit << "," << csv_field(r.accounting) << "\n";
  return out.str();
}

std::string totals_md(const ReportData& data) {
  std::ostringstream out;
  out << "# Totals per method and the paper's ratios\n\n"
         "Each family counts one model per depth (costs are the mean over seeds). Pre-training: "
         "TLEG = the aux run (stage 1); Pre-Fin = the sum of its prefin-pretrain runs; "
         "pre-trained subset = its source run (method 'pretrained'); scratch = 0.\n\n"
         "| method | depths | pre-training FLOPs | fine-tuning FLOPs | total FLOPs | "
         "pre-training device-h | fine-tuning device-h | total device-h | pre-training images | "
         "fine-tuning images | total images | parameters stored |\n"
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  const auto amount = [](const CostMeasure& measure, const std::optional<Cost>& cost) {
    return cost ? measure.format(measure.of(*cost)) : std::string("unknown");
  };
  const auto& flops = cost_measures()[0];
  const auto& hours = cost_measures()[1];
  const auto& images = cost_measures()[2];
  for (const auto& f : data.families) {
    const std::optional<Cost> total = f.pretraining ? std::optional<Cost>(f.total()) : std::nullopt;
    out << "| " << display_name(f.method) << " | " << join(f.depth_list(), ", ") << " | ";
    for (const auto* measure : {&flops, &hours, &images})
      out << amount(*measure, f.pretraining) << " | " << amount(*measure, f.finetuning) << " | "
          << amount(*measure, total) << " | ";
    out << grouped(f.parameters_stored) << " |\n";
  }
  out << "\n## What is counted\n\n| method | pre-training | parameters stored |\n|---|---|---|\n";
  for (const auto& f : data.families)
    out << "| " << display_name(f.method) << " | " << f.pretraining_accounting << " | "
        << f.stored_accounting << " |\n";
  out << "\n"
      << teacher_note(data) << "\n\n## Ratios\n\n"
      << "A ratio is the baseline's amount over TLEG's: above 1, TLEG needs less. Accuracy "
         "differences are TLEG minus scratch in percentage points.\n\n"
      << ratios_table(data);
  return out.str();
}

std::string report_md(const ReportData& data, const ReportSummary& summary,
                      const std::vector<std::string>& plot_stems,
                      const std::string& curves_section) {
  std::ostringstream out;
  out << "# TLEG cost report\n\n"
      << summary.run_files << " run.json files, dataset '" << data.runs.front().ledger.dataset
      << "' (fingerprint " << data.runs.front().ledger.dataset_fingerprint << ", "
      << data.runs.front().ledger.classes << " classes).\n\n"
      << "## Files\n\n"
         "- `runs.csv`, `runs.md`: one row per method and depth (accuracy mean/std over seeds, "
         "cost of one run, parameters trained and stored)\n"
         "- `totals.csv`, `totals.md`: per method, pre-training, fine-tuning and total cost and "
         "parameters stored for the family of depths; the ratios with their accounting\n"
         "- `ratios.csv`: the ratios alone, machine-readable\n";
  for (const auto& stem : plot_stems)
    out << "- `" << stem << ".png`, `.svg`: made by `" << stem << ".gp` from `" << stem
        << ".dat` (rerun `gnuplot " << stem << ".gp` here to restyle)\n";
  if (plot_stems.empty())
    out << "- no plots: no fine-tuned models (of a method `tleg methods` lists) among the runs\n";
  if (std::any_of(summary.files.begin(), summary.files.end(), [](const std::string& file) {
        return file.starts_with(std::string(kCurvesFolder) + "/");
      }))
    out << "- `" << kCurvesFolder << "/`: each run's training curves (see *Training curves*)\n";
  out << "- `verdicts.md`: the verdict on each of the paper's claims\n";
  out << "\n## Accuracy\n\n"
      << accuracy_table(data)
      << "\n## Runs\n\nAccuracy: mean (± sample std when n ≥ 2) over seeds; costs of one run.\n\n"
      << runs_table(data) << "\n## Ratios\n\nA ratio is the baseline's amount over TLEG's (above "
      << "1, TLEG needs less); see `totals.md` for the totals behind them.\n\n"
      << teacher_note(data) << "\n\n"
      << ratios_table(data) << "\n";
  if (!plot_stems.empty()) out << "## Plots\n\n";
  for (const auto& stem : plot_stems) out << "![" << stem << "](" << stem << ".png)\n\n";
  out << curves_section << "\n";
  // Last, as the demo's output ends with them.
  std::string verdicts = verdicts_md(summary.verdicts);
  out << "#" << verdicts;  // "# Verdicts" becomes the section "## Verdicts"
  return out.str();
}

}  // namespace tleg::report

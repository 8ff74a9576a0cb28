#include "report/curves.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "report/tables.h"

namespace tleg::report {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::optional<double> number_at(const json& line, const char* key) {
  const auto found = line.find(key);
  if (found == line.end() || !found->is_number()) return std::nullopt;  // NaN is written as null
  return found->get<double>();
}

// One line of metrics.jsonl into the curves by step (a later line of a step replaces the
// earlier); false when it is no metrics line.
bool add_line(const json& line, std::map<std::int64_t, TrainPoint>& train,
              std::map<std::int64_t, EvalPoint>& evaluations) {
  if (!line.is_object() || !line.contains("phase") || !line["phase"].is_string()) return false;
  const auto step_value = number_at(line, "step");
  if (!step_value) return false;
  const auto step = static_cast<std::int64_t>(*step_value);
  const auto epoch = static_cast<std::int64_t>(number_at(line, "epoch").value_or(0));
  const auto phase = line["phase"].get<std::string>();
  if (phase == "train") {
    const auto loss = number_at(line, "loss"), lr = number_at(line, "lr");
    if (!loss || !lr) return false;
    train[step] = {step, epoch, *loss, *lr};
    return true;
  }
  if (phase == "eval") {
    const auto top1 = number_at(line, "top1"), top5 = number_at(line, "top5");
    if (!top1 || !top5) return false;
    evaluations[step] = {step, epoch, *top1, *top5, number_at(line, "loss")};
    return true;
  }
  return false;
}

std::string exact(double value) { return format_number("%.10g", value); }

// Folders as the user would name them: below the folder that holds every run.
std::vector<std::string> run_names(const std::vector<LoadedRun>& runs) {
  std::vector<fs::path> folders;
  for (const auto& run : runs)
    folders.push_back(fs::absolute(run.file).parent_path().lexically_normal());
  fs::path common = folders.front();
  for (const auto& folder : folders) {
    fs::path shared;
    for (auto a = common.begin(), b = folder.begin();
         a != common.end() && b != folder.end() && *a == *b; ++a, ++b)
      shared /= *a;
    common = shared;
  }
  std::vector<std::string> names;
  for (const auto& folder : folders) {
    const fs::path below = folder.lexically_relative(common);
    names.push_back(below.empty() || below == "." ? folder.filename().string()
                                                  : below.generic_string());
  }
  return names;
}

// A file stem for gnuplot's quoted file names and any file system: letters, digits, '.', '-',
// and '_' for anything else (the folder separator included); made unique with -2, -3, ...
std::string unique_stem(const std::string& name, std::set<std::string>& taken) {
  std::string stem;
  for (const char c : name)
    stem += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  if (stem.empty()) stem = "run";
  std::string candidate = stem;
  for (int n = 2; !taken.insert(candidate).second; ++n) candidate = concat(stem, "-", n);
  return candidate;
}

// A panel's y range: gnuplot's own, but around a value that never changes (one point, a
// constant learning rate), whose empty range gnuplot would warn about.
std::string y_range(const std::vector<double>& values) {
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  if (*low != *high) return "set autoscale y\n";
  const double margin = *low != 0 ? std::abs(*low) * 0.1 : 1;
  return concat("set yrange [", exact(*low - margin), ":", exact(*low + margin), "]\n");
}

PlotFiles figure_of(const RunCurves& run, const std::string& stem) {
  const TrainingCurves& curves = *run.curves;
  const RunLedger& ledger = run.run->ledger;
  std::ostringstream dat;
  int blocks = 0;
  const auto file = "'" + stem + ".dat' index ";
  std::string train_block, eval_block, inherited_block;
  std::int64_t last_step = ledger.steps;
  if (!curves.train.empty()) {
    dat << "# training: one line per log interval (its mean loss, its last step's learning "
           "rate)\n# step epoch loss lr\n";
    for (const TrainPoint& p : curves.train)
      dat << p.step << " " << p.epoch << " " << exact(p.loss) << " " << exact(p.lr) << "\n";
    dat << "\n\n";
    train_block = file + std::to_string(blocks++);
    last_step = std::max(last_step, curves.train.back().step);
  }
  bool eval_loss = false;
  if (!curves.evaluations.empty()) {
    dat << "# evaluations: one per epoch end\n# step epoch top1_percent top5_percent loss\n";
    for (const EvalPoint& p : curves.evaluations) {
      dat << p.step << " " << p.epoch << " " << exact(100 * p.top1) << " " << exact(100 * p.top5)
          << " " << (p.loss ? exact(*p.loss) : "NaN") << "\n";
      eval_loss = eval_loss || p.loss.has_value();
    }
    dat << "\n\n";
    eval_block = file + std::to_string(blocks++);
    last_step = std::max(last_step, curves.evaluations.back().step);
    if (ledger.initial_top1) {
      dat << "# as inherited: before the first step (run.json's initial_top1, initial_top5)\n"
             "# step top1_percent top5_percent\n0 "
          << exact(100 * *ledger.initial_top1) << " "
          << (ledger.initial_top5 ? exact(100 * *ledger.initial_top5) : "NaN") << "\n\n\n";
      inherited_block = file + std::to_string(blocks++);
    }
  }

  // The panels, top to bottom, sharing the step axis.
  std::vector<std::pair<std::string, std::string>> panels;  // settings, plot command
  const auto lines = [](std::size_t points) {
    return points > 1 ? std::string("lines") : std::string("points pt 7");
  };
  if (!train_block.empty()) {
    std::vector<double> losses, rates;
    for (const TrainPoint& p : curves.train) {
      losses.push_back(p.loss);
      rates.push_back(p.lr);
    }
    std::string loss = train_block + " using 1:3 with " + lines(curves.train.size()) +
                       " lw 2 lc rgb '#1f77b4' title 'training (mean over each log interval)'";
    if (eval_loss) {
      loss += ", " + eval_block +
              " using 1:5 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'evaluation'";
      for (const EvalPoint& p : curves.evaluations)
        if (p.loss) losses.push_back(*p.loss);
    }
    panels.emplace_back("set ylabel 'loss'\nset key inside top right vertical\n" + y_range(losses),
                        loss);
    panels.emplace_back(
        "set ylabel 'learning rate'\nset format y '%.1e'\nunset key\n" + y_range(rates),
        train_block + " using 1:4 with " + lines(curves.train.size()) +
            " lw 2 lc rgb '#555555' notitle");
  }
  if (!eval_block.empty()) {
    std::vector<double> accuracies;
    for (const EvalPoint& p : curves.evaluations) accuracies.push_back(100 * p.top1);
    if (ledger.initial_top1) accuracies.push_back(100 * *ledger.initial_top1);
    std::string top1 = eval_block +
                       " using 1:3 with linespoints lw 2 pt 7 lc rgb '#2ca02c' title 'each "
                       "evaluation'";
    if (!inherited_block.empty())
      top1 += ", " + inherited_block +
              " using 1:2 with points pt 9 ps 1.8 lc rgb '#ff7f0e' title 'as inherited (before "
              "the first step)'";
    // Accuracy rises: the key goes where the curve starts low.
    panels.emplace_back("set ylabel 'top-1 accuracy (%)'\nset key inside bottom right vertical\n" +
                            y_range(accuracies),
                        top1);
  }

  std::ostringstream drawing;
  drawing << "unset xlabel\nset format y '%g'\nset multiplot layout " << panels.size()
          << ",1 title "
          << gnuplot_string(concat(run.name, ": ", display_name(ledger.method), ", depth ",
                                   depth_cell(ledger)))
          << "\n";
  for (std::size_t i = 0; i < panels.size(); ++i) {
    if (i + 1 == panels.size()) drawing << "set xlabel 'step'\n";
    drawing << panels[i].first << "plot " << panels[i].second << "\nset format y '%g'\n";
  }
  drawing << "unset multiplot\n";
  PlotFiles plot{stem, dat.str(), ""};
  plot.script =
      script_header(stem, "training curves of " + run.name + ", from " + run.metrics_file,
                    "blocks: training log lines, evaluations, the accuracy as inherited; those "
                    "the run has, in that order, each with its columns named") +
      "set key box opaque\nset lmargin 12\nset rmargin 4\n" +
      (last_step > 0 ? concat("set xrange [0:", last_step, "]\n") : "") +
      render_figure(stem, drawing.str(), {1000, 90 + 260 * static_cast<int>(panels.size()), 11});
  return plot;
}

}  // namespace

std::optional<TrainingCurves> read_training_curves(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (fs::exists(path)) fail(path, ": cannot read the metrics log");
    return std::nullopt;
  }
  std::map<std::int64_t, TrainPoint> train;
  std::map<std::int64_t, EvalPoint> evaluations;
  TrainingCurves curves;
  std::string text;
  while (std::getline(in, text))
    if (!text.empty() &&
        !add_line(json::parse(text, nullptr, /*allow_exceptions=*/false), train, evaluations))
      ++curves.unreadable_lines;
  for (const auto& [step, point] : train) curves.train.push_back(point);
  for (const auto& [step, point] : evaluations) curves.evaluations.push_back(point);
  return curves;
}

std::vector<RunCurves> training_curves(const ReportData& data) {
  std::vector<RunCurves> runs;
  const std::vector<std::string> names = run_names(data.runs);
  std::set<std::string> stems;
  for (std::size_t i = 0; i < data.runs.size(); ++i) {
    RunCurves run;
    run.run = &data.runs[i];
    run.name = names[i];
    run.metrics_file = (fs::path(data.runs[i].file).parent_path() / "metrics.jsonl").string();
    run.curves = read_training_curves(run.metrics_file);
    if (run.curves && (!run.curves->train.empty() || !run.curves->evaluations.empty()))
      run.figure = figure_of(run, unique_stem(run.name, stems));
    runs.push_back(std::move(run));
  }
  return runs;
}

std::string curves_md(const std::vector<RunCurves>& runs) {
  const std::string folder = kCurvesFolder;
  std::ostringstream out;
  out << "## Training curves\n\n";
  if (std::any_of(runs.begin(), runs.end(), [](const RunCurves& run) { return run.figure; }))
    out << "From each run's `metrics.jsonl`: the training loss (mean over each log interval) and "
           "the learning rate against the step, and the loss and top-1 of each evaluation, one "
           "figure per run in `"
        << folder << "/` (its SVG, `.gp` script and `.dat` data beside each PNG).\n\n";
  else
    out << "No figures: no run has a `metrics.jsonl` with a line to draw.\n\n";
  out << "| run | method | depth | log lines | evaluations | curves "
         "|\n|---|---|---|---:|---:|---|\n";
  for (const RunCurves& run : runs) {
    const RunLedger& ledger = run.run->ledger;
    out << "| " << run.name << " | " << display_name(ledger.method) << " | " << depth_cell(ledger)
        << " | ";
    if (!run.curves) {
      out << "- | - | no metrics.jsonl beside its run.json |\n";
      continue;
    }
    out << run.curves->train.size() << " | " << run.curves->evaluations.size() << " | ";
    if (run.figure)
      out << "[PNG](" << folder << "/" << run.figure->stem << ".png), [SVG](" << folder << "/"
          << run.figure->stem << ".svg)";
    else
      out << "nothing logged";
    if (run.curves->unreadable_lines > 0)
      out << " (" << run.curves->unreadable_lines
          << " unreadable line(s) left out: a run killed while writing one)";
    out << " |\n";
  }
  return out.str();
}

}  // namespace tleg::report

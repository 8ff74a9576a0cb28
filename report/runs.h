// The cost report's data: the run ledgers it reads, grouped by (method, depth), and the families
// of models being compared with what each cost before its first fine-tuning and what it keeps on
// disk. Internal to experiments/ (report.h is the public face).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"
#include "train/run_record.h"

namespace tleg::report {

// The families of models being compared: the methods table's (expansion/methods.h), in its
// order. "scratch" is scratch trained for the descendants' budget B (what the learngene buys at
// equal budget), "scratch-long" scratch trained for its own, longer budget (the paper's
// comparison).
std::vector<std::string> family_methods();
// Every method a run.json may carry, in the order the tables list them: the run kinds that
// produce what a family starts from, then the families.
std::vector<std::string> run_methods();

std::string display_name(const std::string& method);
std::string join(const std::vector<std::string>& items, const std::string& separator);

struct Cost {
  double flops = 0, device_seconds = 0, images = 0, epochs = 0;
  Cost& operator+=(const Cost& other) {
    flops += other.flops;
    device_seconds += other.device_seconds;
    images += other.images;
    epochs += other.epochs;
    return *this;
  }
  friend Cost operator+(Cost a, const Cost& b) { return a += b; }
};

// The measures a cost is reported in, each with how its amounts are written.
struct CostMeasure {
  std::string name;
  std::function<double(const Cost&)> of;
  std::function<std::string(double)> format;
};

// FLOPs, device-hours, images, epochs, in that order.
const std::vector<CostMeasure>& cost_measures();

struct LoadedRun {
  std::string file;  // as found from the user's argument
  RunLedger ledger;
};

// The runs of one method at one depth: the seeds of one model. Costs are those of one run (the
// mean over seeds), so a family's total counts each depth once.
struct RunGroup {
  std::string method;
  std::int64_t depth = 0;
  std::vector<const LoadedRun*> runs;
  // Fractions; std from n >= 2. top1/top5 are the best epoch's (the paper's tables are
  // best-epoch, DeiT's "max accuracy"), last_top1 the last epoch's.
  double top1_mean = 0, top1_std = 0, top5_mean = 0, top5_std = 0;
  double last_top1_mean = 0, last_top1_std = 0;
  // TLEG descendants: top-1 before the first step (as inherited); n_initial runs recorded it.
  double initial_top1_mean = 0, initial_top1_std = 0;
  std::size_t n_initial = 0;
  // Runs with an evaluation (a family's must all have one; the teacher-logits job has none):
  // the accuracies above are over these, and read "no evaluation" when there are none.
  std::size_t n_evaluated = 0;
  Cost cost;
  std::int64_t parameters_trained = 0, parameters_stored = 0;
  std::size_t n() const { return runs.size(); }
};

// A sum over stage runs (normally one): the teacher, the aux net, or a pre-trained source.
struct StageCost {
  Cost cost;
  std::string description;  // "aux (depth 12, 150 epochs)"
};

// One method's models for all its depths, with what it cost before the first fine-tuning and
// what it keeps on disk to initialise them.
struct Family {
  std::string method;
  std::vector<const RunGroup*> models;  // by depth
  std::optional<Cost> pretraining;      // empty: the pre-trained source is not among the runs
  std::string pretraining_accounting;
  // Pre-Fin: the runs that pre-trained each depth (prefin-pretrain, or another family's runs
  // reused as pre-training, e.g. scratch-long) and that method.
  std::vector<const RunGroup*> pretraining_runs;
  std::string pretraining_method;
  Cost finetuning;
  std::int64_t parameters_stored = 0;
  std::string stored_accounting;
  // cumulative[i]: the cost paid when the first i models (by depth) are ready; [0] is what is
  // paid before any (TLEG's stage 1, the subset's source). Unknown pre-training counts as 0.
  std::vector<Cost> cumulative;

  std::vector<std::string> depth_list() const {
    std::vector<std::string> depths;
    for (const RunGroup* model : models) depths.push_back(std::to_string(model->depth));
    return depths;
  }
  Cost total() const { return pretraining.value_or(Cost{}) + finetuning; }
};

// Everything the tables and plots are written from.
struct ReportData {
  std::vector<LoadedRun> runs;
  std::vector<RunGroup> groups;
  std::vector<Family> families;  // family_methods() order, those with runs
  std::optional<StageCost> teacher;
  std::vector<ReportRatio> ratios;

  const Family* family(const std::string& method) const {
    for (const auto& f : families)
      if (f.method == method) return &f;
    return nullptr;
  }
};

// Reads the run.json files named or found below folders (each once); checks that they are of
// one dataset and known methods.
std::vector<LoadedRun> load_runs(const std::vector<std::string>& arguments);
std::vector<RunGroup> group_runs(const std::vector<LoadedRun>& runs);
std::vector<const RunGroup*> groups_of(const std::vector<RunGroup>& groups,
                                       const std::string& method);
std::optional<StageCost> stage_cost(const std::vector<RunGroup>& groups, const std::string& method);
Family make_family(const std::string& method, const std::vector<RunGroup>& groups);
// The runs of `arguments`, grouped, with their families and the teacher's cost (no ratios yet).
ReportData load_report_data(const std::vector<std::string>& arguments);

}  // namespace tleg::report

// The cost report: groups run ledgers by (method, depth), sums them per family of depths, writes
// the paper's ratios with their accounting, and plots with gnuplot (data and scripts kept).
#include "experiments/report.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "train/run_record.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;

// Every method a run.json may carry, in the order the tables list them. The first four produce
// what a family starts from; the last four are the families of models being compared.
const std::vector<std::string> kMethods = {"teacher", "aux",     "pretrained", "prefin-pretrain",
                                           "tleg",    "scratch", "prefin",     "subset"};
const std::vector<std::string> kFamilyMethods = {"tleg", "scratch", "prefin", "subset"};

std::string display_name(const std::string& method) {
  if (method == "tleg") return "TLEG";
  if (method == "scratch") return "Scratch";
  if (method == "prefin") return "Pre-Fin";
  if (method == "subset") return "Pre-trained subset";
  return method;
}

// Colours fixed per method so that every plot reads the same way.
std::string colour_of(const std::string& method) {
  if (method == "tleg") return "#d62728";
  if (method == "scratch") return "#1f77b4";
  if (method == "prefin") return "#2ca02c";
  return "#9467bd";
}

// ---- formatting ----

std::string printf_format(const char* spec, double value) {
  char text[64];
  std::snprintf(text, sizeof text, spec, value);
  return text;
}

std::string grouped(std::int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string csv_number(double value) { return printf_format("%.10g", value); }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// ---- costs ----

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

const std::vector<CostMeasure>& cost_measures() {
  static const std::vector<CostMeasure> measures = {
      {"FLOPs", [](const Cost& c) { return c.flops; },
       [](double v) { return printf_format("%.4g", v); }},
      {"device-hours", [](const Cost& c) { return c.device_seconds / 3600; },
       [](double v) { return printf_format("%.4g", v); }},
      {"images", [](const Cost& c) { return c.images; },
       [](double v) { return grouped(std::llround(v)); }},
      {"epochs", [](const Cost& c) { return c.epochs; },
       [](double v) { return printf_format("%g", v); }},
  };
  return measures;
}

// ---- runs and groups ----

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
  Cost cost;
  std::int64_t parameters_trained = 0, parameters_stored = 0;
  std::size_t n() const { return runs.size(); }
};

std::vector<LoadedRun> load_runs(const std::vector<std::string>& arguments) {
  if (arguments.empty()) fail("no runs given: pass run.json files or folders that hold them");
  std::vector<std::string> files;
  std::set<fs::path> seen;  // a run named twice (itself and its folder) counts once
  for (const auto& argument : arguments) {
    std::vector<std::string> found;
    if (fs::is_directory(argument)) {
      for (const auto& entry : fs::recursive_directory_iterator(argument))
        if (entry.is_regular_file() && entry.path().filename() == "run.json")
          found.push_back(entry.path().string());
      if (found.empty())
        fail(argument,
             ": no run.json in this folder or below it (a run writes run.json when it "
             "finishes; pass the folders of finished runs)");
      std::sort(found.begin(), found.end());
    } else if (fs::is_regular_file(argument)) {
      found.push_back(argument);
    } else {
      fail(argument, ": no such file or folder");
    }
    for (const auto& file : found)
      if (seen.insert(fs::weakly_canonical(file)).second) files.push_back(file);
  }
  std::vector<LoadedRun> runs;
  for (const auto& file : files) runs.push_back({file, read_run_ledger(file)});
  return runs;
}

std::string quoted(const std::string& value) { return "'" + value + "'"; }
std::string quoted(std::int64_t value) { return std::to_string(value); }

// Costs and accuracies of different datasets cannot be compared or summed.
void check_consistent(const std::vector<LoadedRun>& runs) {
  const LoadedRun& first = runs.front();
  for (const auto& run : runs) {
    if (std::find(kMethods.begin(), kMethods.end(), run.ledger.method) == kMethods.end())
      fail(run.file, ": unknown method ", quoted(run.ledger.method), " (the report knows ",
           join(kMethods, ", "), ")");
    const auto check = [&](const std::string& what, const auto& mine, const auto& theirs) {
      if (mine != theirs)
        fail("runs of different ", what, " mixed: ", first.file, " has ", quoted(theirs), ", ",
             run.file, " has ", quoted(mine), "; report each dataset's runs separately");
    };
    check("datasets", run.ledger.dataset, first.ledger.dataset);
    check("dataset fingerprints", run.ledger.dataset_fingerprint, first.ledger.dataset_fingerprint);
    check("class counts", run.ledger.classes, first.ledger.classes);
  }
}

std::pair<double, double> mean_and_std(const std::vector<double>& values) {
  double sum = 0;
  for (const double v : values) sum += v;
  const double mean = sum / static_cast<double>(values.size());
  if (values.size() < 2) return {mean, 0.0};
  double squares = 0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / static_cast<double>(values.size() - 1))};  // sample std
}

std::vector<RunGroup> group_runs(const std::vector<LoadedRun>& runs) {
  std::map<std::pair<std::size_t, std::int64_t>, RunGroup> by_key;  // (method order, depth)
  for (const auto& run : runs) {
    const auto order = static_cast<std::size_t>(
        std::find(kMethods.begin(), kMethods.end(), run.ledger.method) - kMethods.begin());
    RunGroup& group = by_key[{order, run.ledger.depth}];
    if (!group.runs.empty()) {
      const RunLedger& other = group.runs.front()->ledger;
      if (other.parameters_trained != run.ledger.parameters_trained ||
          other.parameters_stored != run.ledger.parameters_stored)
        fail("runs of the same method and depth (", run.ledger.method, ", depth ", run.ledger.depth,
             ") differ in parameters trained/stored: ", group.runs.front()->file, " has ",
             other.parameters_trained, "/", other.parameters_stored, ", ", run.file, " has ",
             run.ledger.parameters_trained, "/", run.ledger.parameters_stored,
             "; they are not seeds of one model");
    }
    group.method = run.ledger.method;
    group.depth = run.ledger.depth;
    group.parameters_trained = run.ledger.parameters_trained;
    group.parameters_stored = run.ledger.parameters_stored;
    group.runs.push_back(&run);
  }
  std::vector<RunGroup> groups;
  for (auto& [key, group] : by_key) {
    std::vector<double> top1, top5, last_top1;
    Cost sum;
    for (const LoadedRun* run : group.runs) {
      top1.push_back(run->ledger.best_top1);
      top5.push_back(run->ledger.best_top5);
      last_top1.push_back(run->ledger.top1);
      sum += {run->ledger.flops, run->ledger.device_seconds,
              static_cast<double>(run->ledger.images), static_cast<double>(run->ledger.epochs)};
    }
    std::tie(group.top1_mean, group.top1_std) = mean_and_std(top1);
    std::tie(group.top5_mean, group.top5_std) = mean_and_std(top5);
    std::tie(group.last_top1_mean, group.last_top1_std) = mean_and_std(last_top1);
    const auto n = static_cast<double>(group.n());
    group.cost = {sum.flops / n, sum.device_seconds / n, sum.images / n, sum.epochs / n};
    groups.push_back(std::move(group));
  }
  return groups;
}

std::vector<const RunGroup*> groups_of(const std::vector<RunGroup>& groups,
                                       const std::string& method) {
  std::vector<const RunGroup*> found;
  for (const auto& group : groups)
    if (group.method == method) found.push_back(&group);
  return found;
}

// A sum over stage runs (normally one): the teacher, the aux net, or a pre-trained source.
struct StageCost {
  Cost cost;
  std::string description;  // "aux (depth 12, 150 epochs)"
};

std::optional<StageCost> stage_cost(const std::vector<RunGroup>& groups,
                                    const std::string& method) {
  const auto found = groups_of(groups, method);
  if (found.empty()) return std::nullopt;
  StageCost stage;
  std::vector<std::string> parts;
  for (const RunGroup* group : found) {
    stage.cost += group->cost;
    parts.push_back(concat(method, " (depth ", group->depth, ", ",
                           printf_format("%g", group->cost.epochs), " epochs)"));
  }
  stage.description = join(parts, " + ");
  return stage;
}

// ---- families ----

// One method's models for all its depths, with what it cost before the first fine-tuning and
// what it keeps on disk to initialise them.
struct Family {
  std::string method;
  std::vector<const RunGroup*> models;  // by depth
  std::optional<Cost> pretraining;      // empty: the pre-trained source is not among the runs
  std::string pretraining_accounting;
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

Family make_family(const std::string& method, const std::vector<RunGroup>& groups) {
  Family family;
  family.method = method;
  family.models = groups_of(groups, method);
  for (const RunGroup* model : family.models) family.finetuning += model->cost;
  std::vector<Cost> own_pretraining(family.models.size());  // Pre-Fin: one per depth
  Cost shared_pretraining;
  if (method == "tleg") {
    const auto aux = stage_cost(groups, "aux");
    if (aux) {
      family.pretraining = aux->cost;
      shared_pretraining = aux->cost;
      family.pretraining_accounting = "stage 1: " + aux->description + "; teacher not included";
    } else {
      family.pretraining_accounting = "unknown: no aux run among the inputs";
    }
    for (const RunGroup* model : family.models)
      family.parameters_stored = std::max(family.parameters_stored, model->parameters_stored);
    family.stored_accounting =
        "the learngene (theta_A, theta_B and the shared embedding, "
        "position, final norm and head), one for every depth";
  } else if (method == "scratch") {
    family.pretraining = Cost{};
    family.pretraining_accounting = "none: every depth starts from random init";
    family.stored_accounting = "nothing: random init";
  } else if (method == "prefin") {
    std::vector<std::string> missing, terms, stored_terms;
    Cost sum;
    for (std::size_t i = 0; i < family.models.size(); ++i) {
      const RunGroup* model = family.models[i];
      family.parameters_stored += model->parameters_stored;
      stored_terms.push_back(
          concat("depth ", model->depth, ": ", grouped(model->parameters_stored)));
      bool found = false;
      for (const RunGroup* pretrain : groups_of(groups, "prefin-pretrain"))
        if (pretrain->depth == model->depth) {
          own_pretraining[i] = pretrain->cost;
          sum += pretrain->cost;
          found = true;
        }
      if (found)
        terms.push_back(std::to_string(model->depth));
      else
        missing.push_back(std::to_string(model->depth));
    }
    if (missing.empty()) {
      family.pretraining = sum;
      family.pretraining_accounting =
          "the sum of the prefin-pretrain runs of depths " + join(terms, ", ");
    } else {
      family.pretraining_accounting =
          "unknown: no prefin-pretrain run for depth(s) " + join(missing, ", ");
    }
    family.stored_accounting =
        "one pre-trained model per depth, summed (" + join(stored_terms, " + ") + ")";
  } else {  // subset
    const auto source = stage_cost(groups, "pretrained");
    if (source) {
      family.pretraining = source->cost;
      shared_pretraining = source->cost;
      family.pretraining_accounting = "the pre-trained source: " + source->description;
    } else {
      family.pretraining_accounting =
          "unknown: the pre-trained source (a run of method 'pretrained') is not among the inputs";
    }
    for (const RunGroup* model : family.models)
      family.parameters_stored = std::max(family.parameters_stored, model->parameters_stored);
    family.stored_accounting = "the one pre-trained model whose layers initialise every depth";
  }
  family.cumulative.push_back(shared_pretraining);
  for (std::size_t i = 0; i < family.models.size(); ++i)
    family.cumulative.push_back(family.cumulative.back() + own_pretraining[i] +
                                family.models[i]->cost);
  return family;
}

// ---- ratios ----

std::string times(double value) { return printf_format("%.2f", value) + "x"; }

std::string cannot(const std::string& why) { return "cannot be computed: " + why; }

// baseline / TLEG for one measure, with the sum behind each side written out.
ReportRatio cost_ratio(const std::string& name, const CostMeasure& measure,
                       const std::string& baseline_words, const Cost& baseline,
                       const std::string& tleg_words, const Cost& tleg) {
  const double b = measure.of(baseline), t = measure.of(tleg);
  ReportRatio ratio{name + " (" + measure.name + ")", std::nullopt, "x", ""};
  const std::string sides = baseline_words + " = " + measure.format(b) + " " + measure.name + "; " +
                            tleg_words + " = " + measure.format(t) + " " + measure.name;
  if (t <= 0) {
    ratio.accounting = cannot("TLEG's side is 0 in the run records (" + sides + ")");
    return ratio;
  }
  ratio.value = b / t;
  ratio.accounting =
      sides + "; " + measure.format(b) + " / " + measure.format(t) + " = " + times(*ratio.value);
  return ratio;
}

// "TLEG: aux 3e+14 + fine-tuning (depths 3, 6) 3e+13" for one measure.
std::string tleg_total_words(const Family& tleg, const CostMeasure& measure,
                             const std::optional<StageCost>& teacher) {
  std::string words = "TLEG: aux " + measure.format(measure.of(*tleg.pretraining));
  if (teacher) words += " + teacher " + measure.format(measure.of(teacher->cost));
  return words + " + fine-tuning (depths " + join(tleg.depth_list(), ", ") + ") " +
         measure.format(measure.of(tleg.finetuning));
}

struct ReportData {
  std::vector<LoadedRun> runs;
  std::vector<RunGroup> groups;
  std::vector<Family> families;  // kFamilyMethods order, those with runs
  std::optional<StageCost> teacher;
  std::vector<ReportRatio> ratios;

  const Family* family(const std::string& method) const {
    for (const auto& f : families)
      if (f.method == method) return &f;
    return nullptr;
  }
};

void add_scratch_ratios(ReportData& data) {
  const Family* tleg = data.family("tleg");
  const Family* scratch = data.family("scratch");
  const std::string name = "TLEG vs scratch: total training cost";
  std::string missing;
  if (!tleg)
    missing = "no tleg runs among the inputs";
  else if (!tleg->pretraining)
    missing = "no aux run among the inputs (TLEG's stage-1 cost)";
  else if (!scratch)
    missing = "no scratch runs among the inputs";
  if (!missing.empty()) {
    data.ratios.push_back({name, std::nullopt, "x", cannot(missing)});
    return;
  }
  std::string family_note;
  if (tleg->depth_list() != scratch->depth_list())
    family_note = " (the families differ: TLEG depths " + join(tleg->depth_list(), ", ") +
                  ", scratch depths " + join(scratch->depth_list(), ", ") + ")";
  for (const auto& measure : cost_measures()) {
    const std::string scratch_words =
        "scratch: depths " + join(scratch->depth_list(), ", ") + " from random init" + family_note;
    data.ratios.push_back(cost_ratio(name, measure, scratch_words, scratch->total(),
                                     tleg_total_words(*tleg, measure, std::nullopt),
                                     tleg->total()));
  }
  if (data.teacher) {
    const auto& flops = cost_measures().front();
    data.ratios.push_back(
        cost_ratio(name + ", teacher's training included", flops,
                   "scratch: depths " + join(scratch->depth_list(), ", ") + " from random init",
                   scratch->total(), tleg_total_words(*tleg, flops, data.teacher),
                   tleg->total() + data.teacher->cost));
  }
}

void add_prefin_ratios(ReportData& data) {
  const Family* tleg = data.family("tleg");
  const Family* prefin = data.family("prefin");
  const std::string stored_name = "TLEG vs Pre-Fin: parameters stored";
  const std::string pretraining_name = "TLEG vs Pre-Fin: pre-training cost";
  std::string missing;
  if (!tleg)
    missing = "no tleg runs among the inputs";
  else if (!prefin)
    missing = "no prefin runs among the inputs";
  if (!missing.empty()) {
    data.ratios.push_back({stored_name, std::nullopt, "x", cannot(missing)});
    data.ratios.push_back({pretraining_name, std::nullopt, "x", cannot(missing)});
    return;
  }
  ReportRatio stored{stored_name, std::nullopt, "x", ""};
  const std::string stored_sides = "Pre-Fin: " + prefin->stored_accounting + " = " +
                                   grouped(prefin->parameters_stored) +
                                   "; TLEG: the learngene = " + grouped(tleg->parameters_stored);
  if (tleg->parameters_stored <= 0) {
    stored.accounting = cannot("the tleg runs record 0 parameters stored (" + stored_sides + ")");
  } else {
    stored.value = static_cast<double>(prefin->parameters_stored) /
                   static_cast<double>(tleg->parameters_stored);
    stored.accounting = stored_sides + "; " + grouped(prefin->parameters_stored) + " / " +
                        grouped(tleg->parameters_stored) + " = " + times(*stored.value);
  }
  data.ratios.push_back(stored);

  if (!tleg->pretraining || !prefin->pretraining) {
    data.ratios.push_back({pretraining_name, std::nullopt, "x",
                           cannot(!tleg->pretraining ? "no aux run among the inputs"
                                                     : "Pre-Fin's pre-training is " +
                                                           prefin->pretraining_accounting)});
    return;
  }
  const std::string prefin_words =
      "Pre-Fin: pre-training of depths " + join(prefin->depth_list(), ", ") + ", one model each";
  for (const auto& measure : cost_measures())
    data.ratios.push_back(cost_ratio(pretraining_name, measure, prefin_words, *prefin->pretraining,
                                     "TLEG: the aux run (stage 1)", *tleg->pretraining));
  if (data.teacher)
    data.ratios.push_back(cost_ratio(pretraining_name + ", teacher's training included",
                                     cost_measures().front(), prefin_words, *prefin->pretraining,
                                     "TLEG: the aux run + the teacher's training",
                                     *tleg->pretraining + data.teacher->cost));
}

void add_pretrained_model_ratio(ReportData& data) {
  const std::string name = "TLEG vs a pre-trained model: parameters stored";
  const Family* tleg = data.family("tleg");
  const Family* subset = data.family("subset");
  const auto pretrains = groups_of(data.groups, "prefin-pretrain");
  std::int64_t source_parameters = 0;
  std::string source_words;
  if (subset) {
    source_parameters = subset->parameters_stored;
    source_words = "the pre-trained model the subset runs start from";
  } else if (!pretrains.empty()) {
    const RunGroup* largest = *std::max_element(
        pretrains.begin(), pretrains.end(), [](const RunGroup* a, const RunGroup* b) {
          return a->parameters_trained < b->parameters_trained;
        });
    source_parameters = largest->parameters_trained;
    source_words = concat("the largest Pre-Fin pre-trained model (depth ", largest->depth,
                          "; no subset runs among the inputs)");
  }
  if (!tleg || tleg->parameters_stored <= 0 || source_words.empty()) {
    data.ratios.push_back({name, std::nullopt, "x",
                           cannot(!tleg ? "no tleg runs among the inputs"
                                  : tleg->parameters_stored <= 0
                                      ? "the tleg runs record 0 parameters stored"
                                      : "no subset or prefin-pretrain runs among the inputs")});
    return;
  }
  const double value =
      static_cast<double>(source_parameters) / static_cast<double>(tleg->parameters_stored);
  data.ratios.push_back({name, value, "x",
                         source_words + " = " + grouped(source_parameters) +
                             " parameters (all of it, head included); TLEG: the learngene = " +
                             grouped(tleg->parameters_stored) + "; " + grouped(source_parameters) +
                             " / " + grouped(tleg->parameters_stored) + " = " + times(value)});
}

std::string percent(double fraction) { return printf_format("%.2f", 100 * fraction) + "%"; }

void add_accuracy_differences(ReportData& data) {
  const std::string name = "TLEG vs scratch: top-1 at equal fine-tuning budget";
  const Family* tleg = data.family("tleg");
  const Family* scratch = data.family("scratch");
  if (!tleg || !scratch) {
    data.ratios.push_back(
        {name, std::nullopt, "points",
         cannot(!tleg ? "no tleg runs among the inputs" : "no scratch runs among the inputs")});
    return;
  }
  bool any = false;
  for (const RunGroup* mine : tleg->models)
    for (const RunGroup* theirs : scratch->models) {
      if (mine->depth != theirs->depth) continue;
      any = true;
      const double points = 100 * (mine->top1_mean - theirs->top1_mean);
      const std::string budget =
          mine->cost.epochs == theirs->cost.epochs
              ? "equal budget: both trained " + printf_format("%g", mine->cost.epochs) + " epochs"
              : "NOT an equal budget: TLEG fine-tuned " + printf_format("%g", mine->cost.epochs) +
                    " epochs, scratch trained " + printf_format("%g", theirs->cost.epochs);
      data.ratios.push_back({concat(name, ", depth ", mine->depth), points, "points",
                             concat("TLEG ", percent(mine->top1_mean), " (n=", mine->n(),
                                    ") - scratch ", percent(theirs->top1_mean), " (n=", theirs->n(),
                                    ") = ", printf_format("%+.2f", points), " points; ", budget)});
    }
  if (!any)
    data.ratios.push_back({name, std::nullopt, "points",
                           cannot("no depth has both tleg and scratch runs (TLEG depths " +
                                  join(tleg->depth_list(), ", ") + ", scratch depths " +
                                  join(scratch->depth_list(), ", ") + ")")});
}

// ---- writing ----

void write_file(const fs::path& path, const std::string& text, ReportSummary& summary,
                const fs::path& out_dir) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) fail(path.string(), ": cannot write");
  summary.files.push_back(fs::relative(path, out_dir).string());
}

std::string value_text(const ReportRatio& ratio) {
  if (!ratio.value) return "n/a";
  return ratio.unit == "x" ? times(*ratio.value) : printf_format("%+.2f", *ratio.value) + " points";
}

std::string runs_csv(const ReportData& data) {
  std::ostringstream out;
  out << "method,depth,n,top1_percent_mean,top1_percent_std,top5_percent_mean,top5_percent_std,"
         "last_top1_percent_mean,last_top1_percent_std,"
         "epochs,images,flops,device_hours,parameters_trained,parameters_stored,run_files\n";
  for (const auto& g : data.groups) {
    std::vector<std::string> files;
    for (const LoadedRun* run : g.runs) files.push_back(run->file);
    const auto std_field = [&](double fraction) {
      return g.n() < 2 ? std::string() : csv_number(100 * fraction);
    };
    out << g.method << "," << g.depth << "," << g.n() << "," << csv_number(100 * g.top1_mean) << ","
        << std_field(g.top1_std) << "," << csv_number(100 * g.top5_mean) << ","
        << std_field(g.top5_std) << "," << csv_number(100 * g.last_top1_mean) << ","
        << std_field(g.last_top1_std) << "," << csv_number(g.cost.epochs) << ","
        << csv_number(g.cost.images) << "," << csv_number(g.cost.flops) << ","
        << csv_number(g.cost.device_seconds / 3600) << "," << g.parameters_trained << ","
        << g.parameters_stored << "," << csv_field(join(files, ";")) << "\n";
  }
  return out.str();
}

std::string runs_table(const ReportData& data) {
  std::ostringstream out;
  out << "| method | depth | n | top-1 % (best epoch) | top-5 % (best epoch) | top-1 % (last "
         "epoch) | epochs | images | training FLOPs | device-hours | parameters trained | "
         "parameters stored to initialise it |\n"
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& g : data.groups) {
    const auto accuracy = [&](double mean, double std) {
      return printf_format("%.2f", 100 * mean) +
             (g.n() < 2 ? std::string() : " ± " + printf_format("%.2f", 100 * std));
    };
    out << "| " << g.method << " | " << g.depth << " | " << g.n() << " | "
        << accuracy(g.top1_mean, g.top1_std) << " | " << accuracy(g.top5_mean, g.top5_std) << " | "
        << accuracy(g.last_top1_mean, g.last_top1_std) << " | "
        << printf_format("%g", g.cost.epochs) << " | " << grouped(std::llround(g.cost.images))
        << " | " << printf_format("%.4g", g.cost.flops) << " | "
        << printf_format("%.4g", g.cost.device_seconds / 3600) << " | "
        << grouped(g.parameters_trained) << " | " << grouped(g.parameters_stored) << " |\n";
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
           printf_format("%.4g", data.teacher->cost.flops) + " FLOPs, " +
           printf_format("%.4g", data.teacher->cost.device_seconds / 3600) +
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

// ---- plots ----

// A unit prefix that keeps axis numbers short: 3.2 PFLOP rather than 3.2e15.
struct AxisScale {
  double factor;
  std::string prefix;
};

AxisScale axis_scale(double largest) {
  for (const auto& [factor, prefix] : std::vector<std::pair<double, std::string>>{
           {1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}})
    if (largest >= factor) return {factor, prefix};
  return {1, ""};
}

// The ending of every script: the same plot as PNG and SVG.
std::string render_both(const std::string& stem, const std::string& plot) {
  return "set terminal pngcairo size 1000,650 noenhanced font 'sans,11'\nset output '" + stem +
         ".png'\nplot " + plot +
         "\nset terminal svg size 1000,650 noenhanced font 'sans,11' background '#ffffff'\n"
         "set output '" +
         stem + ".svg'\nreplot\nunset output\n";
}

std::string script_header(const std::string& stem, const std::string& job) {
  return "# " + stem + ".gp: " + job + "\n# Data: " + stem +
         ".dat (one block per method, in the order of the plot command). Rerun with: gnuplot " +
         stem + ".gp\nreset\nset grid\nset key above center horizontal box\n";
}

// A string literal for a gnuplot script, whatever the text holds (a method name, a title).
std::string gnuplot_string(const std::string& text) {
  std::string literal = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  return literal + "\"";
}

struct PlotFiles {
  std::string stem, data, script;
};

PlotFiles accuracy_vs_depth(const ReportData& data) {
  PlotFiles plot{"accuracy_vs_depth", "", ""};
  std::ostringstream dat;
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < data.families.size(); ++i) {
    const Family& f = data.families[i];
    dat << "# " << display_name(f.method) << "\n# depth top1_percent_mean top1_percent_std n\n";
    for (const RunGroup* m : f.models)
      dat << m->depth << " " << 100 * m->top1_mean << " " << 100 * m->top1_std << " " << m->n()
          << "\n";
    dat << "\n\n";
    commands.push_back(concat(
        "'accuracy_vs_depth.dat' index ", i, " using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '",
        colour_of(f.method), "' title ", gnuplot_string(display_name(f.method))));
  }
  plot.data = dat.str();
  plot.script = script_header(plot.stem, "top-1 accuracy against depth, one line per method") +
                "set title 'Top-1 accuracy of each depth, per method (error bars: std over "
                "seeds)'\nset xlabel 'depth (number of transformer blocks)'\n"
                "set ylabel 'top-1 accuracy (%)'\nset xtics 1\nset offsets 0.5, 0.5, 0, 0\n" +
                render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles accuracy_vs_cost(const ReportData& data, const AxisScale& scale) {
  PlotFiles plot{"accuracy_vs_cost", "", ""};
  std::ostringstream dat, marks;
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < data.families.size(); ++i) {
    const Family& f = data.families[i];
    dat << "# " << display_name(f.method)
        << "\n# cumulative_training_flops top1_percent depth (models added by increasing depth)\n";
    for (std::size_t m = 0; m < f.models.size(); ++m)
      dat << csv_number(f.cumulative[m + 1].flops) << " " << 100 * f.models[m]->top1_mean << " "
          << f.models[m]->depth << "\n";
    dat << "\n\n";
    std::string title = display_name(f.method);
    if (!f.pretraining) title += " (pre-training unknown, not counted)";
    commands.push_back(concat("'accuracy_vs_cost.dat' index ", i, " using ($1/", scale.factor,
                              "):2 with linespoints lw 2 pt 7 lc rgb '", colour_of(f.method),
                              "' title ", gnuplot_string(title), ", '' index ", i, " using ($1/",
                              scale.factor,
                              "):2:(sprintf('d=%d', $3)) with labels offset 0,1 notitle"));
    if (f.cumulative.front().flops > 0)  // a curve that starts after a shared stage
      marks << "set arrow from " << f.cumulative.front().flops / scale.factor << ", graph 0 to "
            << f.cumulative.front().flops / scale.factor << ", graph 1 nohead dt 2 lc rgb '"
            << colour_of(f.method) << "'\nset label "
            << gnuplot_string(display_name(f.method) +
                              (f.method == "tleg" ? " stage 1 (aux) done" : " source pre-trained"))
            << " at " << f.cumulative.front().flops / scale.factor
            << ", graph 0.04 rotate by 90 offset -0.8,0 textcolor rgb '" << colour_of(f.method)
            << "'\n";
  }
  plot.data = dat.str();
  plot.script = script_header(plot.stem,
                              "accuracy of each model against the family's cumulative "
                              "training cost when it is ready") +
                "set title 'Top-1 accuracy against cumulative training cost of the family "
                "(models added by increasing depth)'\nset xlabel 'cumulative training compute "
                "(" +
                scale.prefix +
                "FLOP, pre-training included)'\nset ylabel 'top-1 accuracy "
                "of the model just added (%)'\nset xrange [0:*]\nset offsets 0, graph 0.05, "
                "graph 0.08, graph 0.05\n" +
                marks.str() + render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles cost_vs_models(const ReportData& data, const AxisScale& scale) {
  PlotFiles plot{"cost_vs_models", "", ""};
  std::ostringstream dat;
  std::vector<std::string> commands;
  const auto block = [&](const std::string& title, const std::vector<Cost>& cumulative,
                         const std::string& style) {
    dat << "# " << title << "\n# models_produced cumulative_training_flops\n";
    for (std::size_t m = 0; m < cumulative.size(); ++m)
      dat << m << " " << csv_number(cumulative[m].flops) << "\n";
    dat << "\n\n";
    commands.push_back(concat("'cost_vs_models.dat' index ", commands.size(), " using 1:($2/",
                              scale.factor, ") with linespoints ", style, " title ",
                              gnuplot_string(title)));
  };
  for (const Family& f : data.families) {
    std::string title = display_name(f.method);
    if (f.method == "tleg") title += " (aux + fine-tunings)";
    if (f.method == "prefin") title += " (pre-train + fine-tune each)";
    if (!f.pretraining) title += " (pre-training unknown, not counted)";
    block(title, f.cumulative, "lw 2 pt 7 lc rgb '" + colour_of(f.method) + "'");
    if (f.method == "tleg" && data.teacher) {
      std::vector<Cost> with_teacher = f.cumulative;
      for (Cost& cost : with_teacher) cost += data.teacher->cost;
      block("TLEG with the teacher's training", with_teacher,
            "lw 2 dt 2 pt 6 lc rgb '" + colour_of(f.method) + "'");
    }
  }
  std::size_t most_models = 0;
  for (const Family& f : data.families) most_models = std::max(most_models, f.models.size());
  plot.data = dat.str();
  plot.script =
      script_header(plot.stem, "cumulative training cost against the number of models produced") +
      "set title 'Cumulative training cost against the number of models produced "
      "(one per depth, by increasing depth)'\nset xlabel 'models produced (0 = before the "
      "first: shared pre-training only)'\nset ylabel 'cumulative training compute (" +
      scale.prefix + "FLOP)'\n" + concat("set xrange [-0.2:", most_models, ".2]\n") +
      "set xtics 1\nset yrange [0:*]\n" + render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles stored_parameters(const ReportData& data) {
  PlotFiles plot{"stored_parameters", "", ""};
  std::int64_t largest = 0;
  for (const Family& f : data.families) largest = std::max(largest, f.parameters_stored);
  const AxisScale scale = axis_scale(static_cast<double>(largest));
  const std::string unit = scale.prefix == "M"   ? "millions"
                           : scale.prefix == "k" ? "thousands"
                           : scale.prefix == "G" ? "billions"
                                                 : "count";
  std::ostringstream dat;
  dat << "# method parameters_stored colour label\n";
  for (const Family& f : data.families)
    dat << gnuplot_string(display_name(f.method)) << " " << f.parameters_stored << " 0x"
        << colour_of(f.method).substr(1) << " " << gnuplot_string(grouped(f.parameters_stored))
        << "\n";
  plot.data = dat.str();
  const std::string bars = concat("'stored_parameters.dat' using 0:($2/", scale.factor,
                                  "):3:xtic(1) with boxes lc rgb variable notitle, '' using 0:($2/",
                                  scale.factor, "):4 with labels offset 0,1 notitle");
  plot.script =
      script_header(plot.stem, "parameters kept on disk to initialise the family, per method") +
      "set title 'Parameters stored to initialise the whole family of depths, per method'\n"
      "set ylabel 'parameters stored (" +
      unit +
      ")'\nset xlabel 'method'\n"
      "set style fill solid 0.7 border -1\nset boxwidth 0.6\nset yrange [0:*]\n"
      "set offsets 0.5, 0.5, graph 0.1, 0\nunset key\nset grid noxtics ytics\nset xtics "
      "nomirror\n" +
      render_both(plot.stem, bars);
  return plot;
}

// Runs gnuplot on the scripts inside `dir`, so their relative file names resolve there.
void run_gnuplot(const fs::path& dir, const std::vector<std::string>& scripts) {
  const fs::path log = dir / "gnuplot.log";
  std::vector<std::string> arguments = {"gnuplot"};
  arguments.insert(arguments.end(), scripts.begin(), scripts.end());
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const std::string dir_text = dir.string(), log_text = log.string();
  const pid_t child = fork();
  if (child < 0) fail("cannot start gnuplot (fork failed)");
  if (child == 0) {  // only async-signal-safe calls until exec
    const int out = open(log_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || chdir(dir_text.c_str()) != 0) _exit(126);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execvp("gnuplot", argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) < 0) fail("cannot wait for gnuplot");
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 127)
    fail(
        "gnuplot not found on PATH: install it (Debian: gnuplot-nox; setup/install-deps.sh) "
        "or plot the .dat files in ",
        dir_text, " yourself");
  if (code != 0) {
    std::ifstream in(log);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    fail("gnuplot failed (exit ", code, ") on the scripts in ", dir_text, ": ", last, " (see ",
         log_text, ")");
  }
  if (fs::file_size(log) == 0) fs::remove(log);  // keep it only when gnuplot had something to say
}

std::string report_md(const ReportData& data, const ReportSummary& summary,
                      const std::vector<PlotFiles>& plots) {
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
  for (const auto& plot : plots)
    out << "- `" << plot.stem << ".png`, `.svg`: made by `" << plot.stem << ".gp` from `"
        << plot.stem << ".dat` (rerun `gnuplot " << plot.stem << ".gp` here to restyle)\n";
  if (plots.empty())
    out << "- no plots: no fine-tuned models (tleg, scratch, prefin, subset) among the runs\n";
  out << "\n## Runs\n\nAccuracy: mean (± sample std when n ≥ 2) over seeds; costs of one run.\n\n"
      << runs_table(data) << "\n## Ratios\n\nA ratio is the baseline's amount over TLEG's (above "
      << "1, TLEG needs less); see `totals.md` for the totals behind them.\n\n"
      << teacher_note(data) << "\n\n"
      << ratios_table(data) << "\n";
  if (!plots.empty()) out << "## Plots\n\n";
  for (const auto& plot : plots) out << "![" << plot.stem << "](" << plot.stem << ".png)\n\n";
  return out.str();
}

}  // namespace

ReportSummary write_report(const std::vector<std::string>& runs, const std::string& out_dir) {
  ReportData data;
  data.runs = load_runs(runs);
  check_consistent(data.runs);
  data.groups = group_runs(data.runs);
  for (const auto& method : kFamilyMethods)
    if (!groups_of(data.groups, method).empty())
      data.families.push_back(make_family(method, data.groups));
  data.teacher = stage_cost(data.groups, "teacher");
  add_scratch_ratios(data);
  add_prefin_ratios(data);
  add_pretrained_model_ratio(data);
  add_accuracy_differences(data);

  const fs::path dir(out_dir);
  std::error_code error;
  fs::create_directories(dir, error);
  if (!fs::is_directory(dir))
    fail(out_dir, ": cannot create the report folder (", error.message(), ")");
  ReportSummary summary;
  summary.run_files = data.runs.size();
  summary.ratios = data.ratios;
  write_file(dir / "runs.csv", runs_csv(data), summary, dir);
  write_file(dir / "runs.md", runs_md(data), summary, dir);
  write_file(dir / "totals.csv", totals_csv(data), summary, dir);
  write_file(dir / "totals.md", totals_md(data), summary, dir);
  write_file(dir / "ratios.csv", ratios_csv(data), summary, dir);

  std::vector<PlotFiles> plots;
  if (!data.families.empty()) {
    double largest_flops = 0;
    for (const Family& f : data.families)
      largest_flops = std::max(largest_flops, f.cumulative.back().flops);
    if (data.teacher) largest_flops += data.teacher->cost.flops;
    const AxisScale scale = axis_scale(largest_flops);
    plots = {accuracy_vs_depth(data), accuracy_vs_cost(data, scale), cost_vs_models(data, scale),
             stored_parameters(data)};
    std::vector<std::string> scripts;
    for (const auto& plot : plots) {
      write_file(dir / (plot.stem + ".dat"), plot.data, summary, dir);
      write_file(dir / (plot.stem + ".gp"), plot.script, summary, dir);
      scripts.push_back(plot.stem + ".gp");
    }
    run_gnuplot(dir, scripts);
    for (const auto& plot : plots)
      for (const char* extension : {".png", ".svg"}) {
        const fs::path image = dir / (plot.stem + extension);
        if (!fs::exists(image) || fs::file_size(image) == 0)
          fail(image.string(), ": gnuplot did not write it (scripts are in ", out_dir, ")");
        summary.files.push_back(plot.stem + extension);
      }
  }
  write_file(dir / "report.md", report_md(data, summary, plots), summary, dir);
  return summary;
}

}  // namespace tleg

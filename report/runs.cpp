#include "report/runs.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "common/format.h"
#include "expansion/methods.h"

namespace tleg::report {
namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& value) { return "'" + value + "'"; }
std::string quoted(std::int64_t value) { return std::to_string(value); }

// What differs between two runs' recipes, "key=a (other: b)", at most `shown` of them.
std::string recipe_differences(const RunLedger& a, const RunLedger& b, std::size_t shown = 4) {
  std::vector<std::string> differences;
  std::set<std::string> keys;
  for (const auto& [key, value] : a.recipe) keys.insert(key);
  for (const auto& [key, value] : b.recipe) keys.insert(key);
  for (const auto& key : keys) {
    const auto in_a = a.recipe.find(key), in_b = b.recipe.find(key);
    const std::string va = in_a == a.recipe.end() ? "(none)" : in_a->second;
    const std::string vb = in_b == b.recipe.end() ? "(none)" : in_b->second;
    if (va != vb) differences.push_back(key + "=" + va + " (other: " + vb + ")");
  }
  const auto budget = [&](const char* what, std::int64_t x, std::int64_t y) {
    if (x != y) differences.push_back(concat(what, "=", x, " (other: ", y, ")"));
  };
  budget("epochs", a.epochs, b.epochs);
  budget("steps", a.steps, b.steps);
  budget("ranks", a.ranks, b.ranks);
  budget("parameters_trained", a.parameters_trained, b.parameters_trained);
  budget("parameters_stored", a.parameters_stored, b.parameters_stored);
  if (a.dataset_fingerprint != b.dataset_fingerprint)
    differences.push_back("dataset_fingerprint=" + a.dataset_fingerprint +
                          " (other: " + b.dataset_fingerprint + ")");
  const std::size_t total = differences.size();
  if (total > shown) differences.resize(shown);
  std::string text = join(differences, ", ");
  if (total > shown) text += concat(" and ", total - shown, " more");
  return text;
}

// Runs of one method and depth are averaged as seeds of one model: so they must differ in
// nothing but the seed (recipe, budget, store, rank count), and no seed may come twice (a
// debugging run beside the real one would enter the mean).
void check_seeds_of_one_model(const LoadedRun& first, const LoadedRun& second) {
  const RunLedger &a = first.ledger, &b = second.ledger;
  const std::string model = concat(a.method, " at depth ", a.depth);
  const std::string fix = "; report them apart (one folder of runs at a time), or leave one out";
  if (const std::string differences = recipe_differences(a, b); !differences.empty())
    fail(first.file, " and ", second.file, " are both ", model,
         " but are not seeds of one model: ", differences, fix);
  if (a.seed && b.seed && *a.seed == *b.seed)
    fail(first.file, " and ", second.file, " are both ", model, " with seed ", *a.seed,
         ": the same model trained twice, not two seeds", fix);
}

// Costs and accuracies of different datasets cannot be compared or summed.
void check_consistent(const std::vector<LoadedRun>& runs) {
  const LoadedRun& first = runs.front();
  for (const auto& run : runs) {
    if (const auto known = run_methods();
        std::find(known.begin(), known.end(), run.ledger.method) == known.end())
      fail(run.file, ": unknown method ", quoted(run.ledger.method), " (the report knows ",
           join(known, ", "), ")");
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
  if (values.empty()) return {0.0, 0.0};
  for (const double v : values) sum += v;
  const double mean = sum / static_cast<double>(values.size());
  if (values.size() < 2) return {mean, 0.0};
  double squares = 0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / static_cast<double>(values.size() - 1))};  // sample std
}

}  // namespace

std::vector<std::string> family_methods() {
  std::vector<std::string> names;
  for (const Method& method : methods()) names.push_back(method.name);
  return names;
}

std::vector<std::string> run_methods() {
  std::vector<std::string> names = {"teacher", "teacher-logits", "aux", "pretrained",
                                    "prefin-pretrain"};
  for (const auto& name : family_methods()) names.push_back(name);
  return names;
}

std::string display_name(const std::string& method) {
  const Method* known = find_method(method);
  return known ? known->label : method;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

const std::vector<CostMeasure>& cost_measures() {
  static const std::vector<CostMeasure> measures = {
      {"FLOPs", [](const Cost& c) { return c.flops; },
       [](double v) { return format_number("%.4g", v); }},
      {"device-hours", [](const Cost& c) { return c.device_seconds / 3600; },
       [](double v) { return format_number("%.4g", v); }},
      {"images", [](const Cost& c) { return c.images; },
       [](double v) { return grouped(std::llround(v)); }},
      {"epochs", [](const Cost& c) { return c.epochs; },
       [](double v) { return format_number("%g", v); }},
  };
  return measures;
}

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

std::vector<RunGroup> group_runs(const std::vector<LoadedRun>& runs) {
  std::map<std::pair<std::size_t, std::int64_t>, RunGroup> by_key;  // (method order, depth)
  const std::vector<std::string> order = run_methods();
  for (const auto& run : runs) {
    const auto position = static_cast<std::size_t>(
        std::find(order.begin(), order.end(), run.ledger.method) - order.begin());
    RunGroup& group = by_key[{position, run.ledger.depth}];
    for (const LoadedRun* other : group.runs) check_seeds_of_one_model(*other, run);
    group.method = run.ledger.method;
    group.depth = run.ledger.depth;
    group.parameters_trained = run.ledger.parameters_trained;
    group.parameters_stored = run.ledger.parameters_stored;
    group.runs.push_back(&run);
  }
  std::vector<RunGroup> groups;
  for (auto& [key, group] : by_key) {
    std::vector<double> top1, top5, last_top1, initial_top1;
    Cost sum;
    for (const LoadedRun* run : group.runs) {
      // every run costs what it computed, evaluated or not (the teacher's logits pass is not)
      sum += {run->ledger.flops, run->ledger.device_seconds,
              static_cast<double>(run->ledger.images), static_cast<double>(run->ledger.epochs)};
      if (run->ledger.initial_top1) initial_top1.push_back(*run->ledger.initial_top1);
      if (!run->ledger.evaluated) continue;
      top1.push_back(run->ledger.best_top1);
      top5.push_back(run->ledger.best_top5);
      last_top1.push_back(run->ledger.top1);
    }
    group.n_evaluated = top1.size();
    std::tie(group.top1_mean, group.top1_std) = mean_and_std(top1);
    std::tie(group.top5_mean, group.top5_std) = mean_and_std(top5);
    std::tie(group.last_top1_mean, group.last_top1_std) = mean_and_std(last_top1);
    group.n_initial = initial_top1.size();
    if (!initial_top1.empty())
      std::tie(group.initial_top1_mean, group.initial_top1_std) = mean_and_std(initial_top1);
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

std::optional<StageCost> stage_cost(const std::vector<RunGroup>& groups,
                                    const std::string& method) {
  const auto found = groups_of(groups, method);
  if (found.empty()) return std::nullopt;
  StageCost stage;
  std::vector<std::string> parts;
  for (const RunGroup* group : found) {
    stage.cost += group->cost;
    parts.push_back(concat(method, " (depth ", group->depth, ", ",
                           format_number("%g", group->cost.epochs), " epochs)"));
  }
  stage.description = join(parts, " + ");
  return stage;
}

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
      family.pretraining_accounting = "stage 1: " + aux->description;
      // Stored logits: the teacher's forward passes were paid by tleg logits.
      if (const auto logits = stage_cost(groups, "teacher-logits")) {
        *family.pretraining += logits->cost;
        family.pretraining_accounting += " + the teacher's stored logits (tleg logits)";
      }
      shared_pretraining = *family.pretraining;
      family.pretraining_accounting += "; the teacher's own training not included";
    } else {
      family.pretraining_accounting = "unknown: no aux run among the inputs";
    }
    for (const RunGroup* model : family.models)
      family.parameters_stored = std::max(family.parameters_stored, model->parameters_stored);
    family.stored_accounting =
        "the learngene (theta_A, theta_B and the shared embedding, "
        "position, final norm and head), one for every depth";
  } else if (const Method* known = find_method(method);
             known != nullptr && !known->needs_learngene && !known->needs_pretrained) {
    // scratch, scratch-long, mimetic: drawn, nothing pre-trained or stored.
    family.pretraining = Cost{};
    family.pretraining_accounting =
        method == "mimetic" ? "none: every depth starts from mimetic init (random, attention in "
                              "closed form)"
                            : "none: every depth starts from random init";
    family.stored_accounting = "nothing: random init";
  } else if (method == "prefin") {
    std::vector<std::string> missing, terms, stored_terms;
    Cost sum;
    for (std::size_t i = 0; i < family.models.size(); ++i) {
      const RunGroup* model = family.models[i];
      family.parameters_stored += model->parameters_stored;
      stored_terms.push_back(
          concat("depth ", model->depth, ": ", grouped(model->parameters_stored)));
      // Pre-trained here (prefin-pretrain), or another family's run of this depth reused as
      // the pre-training (tleg sweep --prefin-from): the run records which.
      const auto& extra = model->runs.front()->ledger.extra;
      const auto reused = extra.find("pretrained_method");
      const std::string source = reused != extra.end() ? reused->second : "prefin-pretrain";
      if (family.pretraining_method.empty()) family.pretraining_method = source;
      if (source != family.pretraining_method)
        fail("the prefin runs were pre-trained by different methods (", family.pretraining_method,
             " and ", source, " at depth ", model->depth,
             "); report each Pre-Fin family separately");
      bool found = false;
      for (const RunGroup* pretrain : groups_of(groups, source))
        if (pretrain->depth == model->depth) {
          own_pretraining[i] = pretrain->cost;
          sum += pretrain->cost;
          family.pretraining_runs.push_back(pretrain);
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
          "the sum of the " + family.pretraining_method + " runs of depths " + join(terms, ", ");
      if (family.pretraining_method != "prefin-pretrain")
        family.pretraining_accounting +=
            " (the " + family.pretraining_method +
            " runs reused as Pre-Fin's pre-training: the same recipe, so each depth was "
            "trained once and serves both; counted in both families' costs)";
    } else {
      family.pretraining_accounting =
          "unknown: no " + family.pretraining_method + " run for depth(s) " + join(missing, ", ");
    }
    family.stored_accounting =
        "one pre-trained model per depth, summed (" + join(stored_terms, " + ") + ")";
  } else {  // subset, weight-selection, heur-lg, auto-lg: one pre-trained source for every depth
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
    family.stored_accounting =
        method == "subset" ? "the one pre-trained model whose layers initialise every depth"
        : method == "weight-selection"
            ? "the one larger pre-trained model every depth selects its weights from"
            : "the blocks and embeddings every depth inherits from the one pre-trained model";
  }
  family.cumulative.push_back(shared_pretraining);
  for (std::size_t i = 0; i < family.models.size(); ++i)
    family.cumulative.push_back(family.cumulative.back() + own_pretraining[i] +
                                family.models[i]->cost);
  return family;
}

ReportData load_report_data(const std::vector<std::string>& arguments) {
  ReportData data;
  data.runs = load_runs(arguments);
  check_consistent(data.runs);
  data.groups = group_runs(data.runs);
  // The families are compared by accuracy: a run of one without an evaluation has none.
  for (const auto& method : family_methods())
    for (const RunGroup* group : groups_of(data.groups, method))
      for (const LoadedRun* run : group->runs)
        if (!run->ledger.evaluated)
          fail(run->file, ": a ", method, " run at depth ", run->ledger.depth,
               " without an evaluation (its data.val-split was ''), so without an accuracy to "
               "compare; evaluate its model (tleg evaluate --model MODEL --data.store STORE) in a "
               "run "
               "that does, or leave it out");
  for (const auto& method : family_methods())
    if (!groups_of(data.groups, method).empty())
      data.families.push_back(make_family(method, data.groups));
  data.teacher = stage_cost(data.groups, "teacher");
  return data;
}

}  // namespace tleg::report

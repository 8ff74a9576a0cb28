#include "report/ratios.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/format.h"

namespace tleg::report {
namespace {

std::string times(double value) { return format_number("%.2f", value) + "x"; }

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

// TLEG's family against a scratch family: `method` "scratch" (the descendants' budget) or
// "scratch-long" (its own, longer budget).
void add_scratch_ratios(ReportData& data, const std::string& method) {
  const Family* tleg = data.family("tleg");
  const Family* scratch = data.family(method);
  if (!scratch && method != "scratch") return;  // scratch-long: only when it was run
  const std::string name = "TLEG vs " + method + ": total training cost";
  std::string missing;
  if (!tleg)
    missing = "no tleg runs among the inputs";
  else if (!tleg->pretraining)
    missing = "no aux run among the inputs (TLEG's stage-1 cost)";
  else if (!scratch)
    missing = "no " + method + " runs among the inputs";
  if (!missing.empty()) {
    data.ratios.push_back({name, std::nullopt, "x", cannot(missing)});
    return;
  }
  std::string family_note;
  if (tleg->depth_list() != scratch->depth_list())
    family_note = " (the families differ: TLEG depths " + join(tleg->depth_list(), ", ") + ", " +
                  method + " depths " + join(scratch->depth_list(), ", ") + ")";
  for (const auto& measure : cost_measures()) {
    const std::string scratch_words = method + ": depths " + join(scratch->depth_list(), ", ") +
                                      " from random init" + family_note;
    data.ratios.push_back(cost_ratio(name, measure, scratch_words, scratch->total(),
                                     tleg_total_words(*tleg, measure, std::nullopt),
                                     tleg->total()));
  }
  if (data.teacher) {
    const auto& flops = cost_measures().front();
    data.ratios.push_back(
        cost_ratio(name + ", teacher's training included", flops,
                   method + ": depths " + join(scratch->depth_list(), ", ") + " from random init",
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
  const Family* prefin = data.family("prefin");
  const auto pretrains =
      prefin ? prefin->pretraining_runs : groups_of(data.groups, "prefin-pretrain");
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
    source_words = concat("the largest Pre-Fin pre-trained model (depth ", largest->depth, ", ",
                          largest->method, "; no subset runs among the inputs)");
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

std::string percent(double fraction) { return format_number("%.2f", 100 * fraction) + "%"; }

// TLEG's top-1 minus the `method` family's, depth by depth.
void add_accuracy_differences(ReportData& data, const std::string& method) {
  const std::string name = method == "scratch"
                               ? "TLEG vs scratch: top-1 at equal fine-tuning budget"
                               : "TLEG vs " + method + ": top-1";
  const Family* tleg = data.family("tleg");
  const Family* scratch = data.family(method);
  if (!scratch && method != "scratch") return;  // the other families: only when they were run
  if (!tleg || !scratch) {
    data.ratios.push_back({name, std::nullopt, "points",
                           cannot(!tleg ? "no tleg runs among the inputs"
                                        : "no " + method + " runs among the inputs")});
    return;
  }
  bool any = false;
  for (const RunGroup* mine : tleg->models)
    for (const RunGroup* theirs : scratch->models) {
      if (mine->depth != theirs->depth) continue;
      any = true;
      const double points = 100 * (mine->top1_mean - theirs->top1_mean);
      const std::string budget =
          mine->cost.images == theirs->cost.images
              ? "equal budget: both trained " + format_number("%g", mine->cost.epochs) +
                    " epochs (" + grouped(std::llround(mine->cost.images)) + " images)"
              : std::string(method == "scratch" ? "NOT an equal budget: " : "") +
                    "TLEG fine-tuned " + grouped(std::llround(mine->cost.images)) + " images, " +
                    method + " trained " + grouped(std::llround(theirs->cost.images)) +
                    (method == "prefin" ? " after its pre-training" : "");
      data.ratios.push_back({concat(name, ", depth ", mine->depth), points, "points",
                             concat("TLEG ", percent(mine->top1_mean), " (n=", mine->n(), ") - ",
                                    method, " ", percent(theirs->top1_mean), " (n=", theirs->n(),
                                    ") = ", format_number("%+.2f", points), " points; ", budget)});
    }
  if (!any)
    data.ratios.push_back({name, std::nullopt, "points",
                           cannot("no depth has both tleg and " + method + " runs (TLEG depths " +
                                  join(tleg->depth_list(), ", ") + ", " + method + " depths " +
                                  join(scratch->depth_list(), ", ") + ")")});
}

}  // namespace

void add_ratios(ReportData& data) {
  add_scratch_ratios(data, "scratch");
  add_scratch_ratios(data, "scratch-long");
  add_prefin_ratios(data);
  add_pretrained_model_ratio(data);
  add_accuracy_differences(data, "scratch");
  add_accuracy_differences(data, "scratch-long");
  add_accuracy_differences(data, "prefin");
}

std::string value_text(const ReportRatio& ratio) {
  if (!ratio.value) return "n/a";
  return ratio.unit == "x" ? times(*ratio.value) : format_number("%+.2f", *ratio.value) + " points";
}

}  // namespace tleg::report

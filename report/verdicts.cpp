#include "report/verdicts.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/format.h"

namespace tleg::report {
namespace {

std::string points(double value) { return format_number("%+.2f", value); }
std::string times(double value) { return format_number("%.2f", value) + "x"; }

// The spread of the seeds behind an accuracy comparison: the largest sample std among the groups
// compared, with their seed counts.
std::string spread(const std::vector<const RunGroup*>& groups) {
  std::size_t fewest = groups.empty() ? 0 : groups.front()->n(), most = fewest;
  double largest = 0;
  for (const RunGroup* group : groups) {
    fewest = std::min(fewest, group->n());
    most = std::max(most, group->n());
    largest = std::max(largest, 100 * group->top1_std);
  }
  if (most < 2) return "one seed per model (no spread)";
  return concat("seeds per model ",
                fewest == most ? std::to_string(most) : concat(fewest, "-", most),
                ", means used; largest seed std ", format_number("%.2f", largest), " points");
}

// Why a verdict could not be measured: the first of the families it needs that is missing.
std::string missing(const ReportData& data, const std::vector<std::string>& methods) {
  for (const auto& method : methods)
    if (!data.family(method)) return "not measured: no " + method + " runs among the inputs";
  return "";
}

// TLEG's top-1 against `other`'s at every depth both have. `comparable`: holds when TLEG is at
// most kComparablePoints below at every depth; otherwise (a gain) when TLEG is above at every
// depth.
ReportVerdict accuracy_verdict(const ReportData& data, const std::string& claim,
                               const std::string& paper, const std::string& other,
                               bool comparable) {
  ReportVerdict verdict{claim, paper, "", "", false};
  verdict.criterion =
      comparable ? concat("TLEG's mean top-1 at most ", format_number("%g", kComparablePoints),
                          " point below ", other, "'s at every depth (and on average)")
                 : "TLEG's mean top-1 above " + other + "'s at every depth";
  verdict.measured = missing(data, {"tleg", other});
  verdict.measurable = verdict.measured.empty();
  if (!verdict.measurable) return verdict;
  const Family& tleg = *data.family("tleg");
  const Family& them = *data.family(other);
  std::vector<std::string> terms;
  std::vector<const RunGroup*> compared;
  double sum = 0, worst = INFINITY, tleg_images = 0, their_images = 0;
  for (const RunGroup* mine : tleg.models)
    for (const RunGroup* theirs : them.models) {
      if (mine->depth != theirs->depth) continue;
      const double difference = 100 * (mine->top1_mean - theirs->top1_mean);
      terms.push_back(concat("d", mine->depth, " ", points(difference)));
      sum += difference;
      worst = std::min(worst, difference);
      tleg_images += mine->cost.images;
      their_images += theirs->cost.images;
      compared.push_back(mine);
      compared.push_back(theirs);
    }
  if (terms.empty()) {
    verdict.measured = "not measured: no depth has both tleg and " + other + " runs";
    verdict.measurable = false;
    return verdict;
  }
  const double mean = sum / static_cast<double>(terms.size());
  std::string budget =
      concat("budgets: TLEG fine-tuned ", grouped(std::llround(tleg_images)),
             " images over these depths, ", other, " ", grouped(std::llround(their_images)));
  if (tleg_images > 0)
    budget += " (" + times(their_images / tleg_images) + ")" +
              (other == "prefin" ? " after its pre-training" : "");
  verdict.measured =
      concat("TLEG minus ", other, " top-1, points: ", join(terms, ", "), "; mean ", points(mean),
             ", worst ", points(worst), "; ", budget, "; ", spread(compared));
  verdict.holds = comparable ? worst >= -kComparablePoints : worst > 0;
  return verdict;
}

// baseline / TLEG against kRatioShare of the paper's figure.
ReportVerdict ratio_verdict(const std::string& claim, double paper_figure,
                            const std::string& paper_words, const std::string& missing_words,
                            double baseline, double tleg, const std::string& accounting) {
  const double threshold = kRatioShare * paper_figure;
  ReportVerdict verdict{
      claim, paper_words, missing_words,
      concat("the ratio at least ", format_number("%g", kRatioShare), " x the paper's ",
             format_number("%g", paper_figure), "x = ", format_number("%g", threshold), "x"),
      false};
  verdict.measurable = missing_words.empty() && tleg > 0;
  if (!missing_words.empty()) return verdict;
  if (tleg <= 0) {
    verdict.measured = "not measured: TLEG's side is 0 in the run records (" + accounting + ")";
    return verdict;
  }
  const double ratio = baseline / tleg;
  verdict.measured = times(ratio) + ": " + accounting;
  verdict.holds = ratio >= threshold;
  return verdict;
}

std::string flops(double value) { return format_number("%.4g", value) + " FLOPs"; }

// (a) the family's training cost: scratch-long's total over TLEG's (stage 1 with its stored
// logits, and every fine-tuning), with or without the teacher's training on TLEG's side.
ReportVerdict cost_verdict(const ReportData& data, bool with_teacher) {
  const std::string claim =
      std::string("(a) training cost of the family: scratch-long vs TLEG, teacher's training ") +
      (with_teacher ? "included" : "excluded");
  std::string why = missing(data, {"tleg", "scratch-long"});
  const Family* tleg = data.family("tleg");
  if (why.empty() && !tleg->pretraining) why = "not measured: no aux run among the inputs";
  if (why.empty() && with_teacher && !data.teacher)
    why = "not measured: no teacher run among the inputs";
  const std::string paper =
      with_teacher ? "about 2x lower (the paper's teacher is an existing model, not trained for it)"
                   : "about 2x lower (150 aux epochs + 35 per descendant vs 100 per scratch model)";
  if (!why.empty()) return ratio_verdict(claim, 2.0, paper, why, 0, 0, "");
  const Family& scratch = *data.family("scratch-long");
  const double teacher = with_teacher ? data.teacher->cost.flops : 0.0;
  const double tleg_total = tleg->total().flops + teacher;
  const std::string accounting = concat(
      "scratch-long depths ", join(scratch.depth_list(), ", "), " = ", flops(scratch.total().flops),
      "; TLEG = ", tleg->pretraining_accounting, " = ", flops(tleg->pretraining->flops),
      with_teacher ? " + the teacher's training " + flops(teacher) : std::string(),
      " + fine-tuning depths ", join(tleg->depth_list(), ", "), " ", flops(tleg->finetuning.flops),
      " = ", flops(tleg_total));
  return ratio_verdict(claim, 2.0, paper, "", scratch.total().flops, tleg_total, accounting);
}

ReportVerdict prefin_stored_verdict(const ReportData& data) {
  const std::string why = missing(data, {"tleg", "prefin"});
  const std::string claim = "(b) parameters stored: Pre-Fin's models vs the learngene";
  const std::string paper = "about 19x fewer for TLEG";
  if (!why.empty()) return ratio_verdict(claim, 19.0, paper, why, 0, 0, "");
  const Family& tleg = *data.family("tleg");
  const Family& prefin = *data.family("prefin");
  return ratio_verdict(
      claim, 19.0, paper, "", static_cast<double>(prefin.parameters_stored),
      static_cast<double>(tleg.parameters_stored),
      concat("Pre-Fin: ", prefin.stored_accounting, " = ", grouped(prefin.parameters_stored),
             "; the learngene ", grouped(tleg.parameters_stored)));
}

ReportVerdict prefin_pretraining_verdict(const ReportData& data) {
  std::string why = missing(data, {"tleg", "prefin"});
  const std::string claim = "(b) pre-training cost: Pre-Fin vs TLEG's stage 1";
  const std::string paper = "about 5x lower for TLEG";
  if (why.empty() && !data.family("tleg")->pretraining)
    why = "not measured: no aux run among the inputs";
  if (why.empty() && !data.family("prefin")->pretraining)
    why =
        "not measured: Pre-Fin's pre-training is " + data.family("prefin")->pretraining_accounting;
  if (!why.empty()) return ratio_verdict(claim, 5.0, paper, why, 0, 0, "");
  const Family& tleg = *data.family("tleg");
  const Family& prefin = *data.family("prefin");
  return ratio_verdict(
      claim, 5.0, paper, "", prefin.pretraining->flops, tleg.pretraining->flops,
      concat("Pre-Fin: ", prefin.pretraining_accounting, " = ", flops(prefin.pretraining->flops),
             "; TLEG: ", tleg.pretraining_accounting, " = ", flops(tleg.pretraining->flops)));
}

// (c) the largest model a Pre-Fin family (or the subset's source) keeps, against the learngene.
ReportVerdict pretrained_model_verdict(const ReportData& data) {
  const std::string claim = "(c) parameters stored: one pre-trained model vs the learngene";
  const std::string paper = "about 2.9x fewer for TLEG";
  const Family* tleg = data.family("tleg");
  const Family* subset = data.family("subset");
  const Family* prefin = data.family("prefin");
  std::int64_t source = 0;
  std::string words;
  if (subset) {
    source = subset->parameters_stored;
    words = "the subset runs' pre-trained source";
  } else if (prefin && !prefin->pretraining_runs.empty()) {
    const RunGroup* largest =
        *std::max_element(prefin->pretraining_runs.begin(), prefin->pretraining_runs.end(),
                          [](const RunGroup* a, const RunGroup* b) { return a->depth < b->depth; });
    source = largest->parameters_trained;
    words =
        concat("the largest pre-trained model (", largest->method, ", depth ", largest->depth, ")");
  }
  std::string why;
  if (!tleg)
    why = "not measured: no tleg runs among the inputs";
  else if (words.empty())
    why = "not measured: no subset or Pre-Fin pre-training runs among the inputs";
  if (!why.empty()) return ratio_verdict(claim, 2.9, paper, why, 0, 0, "");
  return ratio_verdict(
      claim, 2.9, paper, "", static_cast<double>(source),
      static_cast<double>(tleg->parameters_stored),
      concat(words, " = ", grouped(source), "; the learngene ", grouped(tleg->parameters_stored)));
}

}  // namespace

std::vector<ReportVerdict> verdicts_of(const ReportData& data) {
  return {
      accuracy_verdict(data, "(a) accuracy: TLEG fine-tuned for B vs scratch-long (>= 3B)",
                       "comparable (descendants fine-tuned 35 epochs, scratch trained 100)",
                       "scratch-long", true),
      cost_verdict(data, false),
      cost_verdict(data, true),
      prefin_stored_verdict(data),
      prefin_pretraining_verdict(data),
      accuracy_verdict(data, "(b) accuracy: TLEG vs Pre-Fin (pre-trained, then fine-tuned for B)",
                       "comparable", "prefin", true),
      pretrained_model_verdict(data),
      accuracy_verdict(data, "(d) gain at equal budget: TLEG vs scratch, both trained for B",
                       "TLEG ahead (the learngene's initialisation is the gain)", "scratch", false),
  };
}

std::string verdicts_md(const std::vector<ReportVerdict>& verdicts) {
  std::ostringstream out;
  out << "# Verdicts\n\nEach of the paper's claims, decided on these runs by the criterion stated "
         "beside it (fixed before any result was seen; accuracies are the best epoch's mean over "
         "seeds, costs the training FLOPs of one run per depth). A claim whose runs are missing "
         "is not measured: neither holds nor fails here.\n\n";
  for (const auto& verdict : verdicts) out << "- " << verdict_line(verdict) << "\n";
  return out.str();
}

}  // namespace tleg::report

namespace tleg {

std::string verdict_line(const ReportVerdict& v) {
  return v.claim + ". Paper: " + v.paper + ". Measured: " + v.measured +
         ". Criterion: " + v.criterion + ": " +
         (!v.measurable ? "not measured here"
          : v.holds     ? "holds here"
                        : "does not hold here");
}

}  // namespace tleg

#include "launcher/option_ranges.h"

#include <cstdint>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/format.h"

namespace tleg {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

OptionRange at_least(double low) { return {.low = low}; }
OptionRange above(double low) { return {.low = low, .low_open = true}; }
OptionRange any() { return {}; }
OptionRange closed(double low, double high) { return {.low = low, .high = high}; }
OptionRange below_one_from(double low) { return {.low = low, .high = 1, .high_open = true}; }
OptionRange up_to_one_above(double low) { return {.low = low, .high = 1, .low_open = true}; }

// The option's numeric value, whatever its declared type; nothing for other types.
std::optional<double> numeric(const boost::any& value) {
  if (const auto* v = boost::any_cast<double>(&value)) return *v;
  if (const auto* v = boost::any_cast<std::int64_t>(&value)) return static_cast<double>(*v);
  if (const auto* v = boost::any_cast<int>(&value)) return *v;
  return std::nullopt;
}

}  // namespace

bool OptionRange::contains(double value) const {
  const bool above_low = low_open ? value > low : value >= low;
  const bool below_high = high_open ? value < high : value <= high;
  return above_low && below_high;
}

std::string OptionRange::text() const {
  if (low == -kInf && high == kInf) return "any";
  if (high == kInf) return concat(low_open ? "> " : ">= ", shortest(low));
  if (low == -kInf) return concat(high_open ? "< " : "<= ", shortest(high));
  return concat("in ", low_open ? "(" : "[", shortest(low), ", ", shortest(high),
                high_open ? ")" : "]");
}

const std::map<std::string, OptionRange>& option_ranges() {
  static const std::map<std::string, OptionRange> ranges{
      // views and augmentation
      {"aug.scale-min", up_to_one_above(0)},
      {"aug.flip", closed(0, 1)},
      {"aug.eval-crop-fraction", up_to_one_above(0)},
      {"aug.erase", closed(0, 1)},
      {"aug.repeats", at_least(1)},
      {"aug.mixup", at_least(0)},
      {"aug.cutmix", at_least(0)},
      {"aug.mix-prob", closed(0, 1)},
      {"aug.smoothing", below_one_from(0)},
      {"model.image", at_least(1)},
      // the model (0: from model.size, or from model.depth)
      {"model.dim", at_least(0)},
      {"model.heads", at_least(0)},
      {"model.depth", at_least(1)},
      {"model.patch", at_least(1)},
      {"model.drop-path", below_one_from(0)},
      {"model.cnn-convs", at_least(1)},
      {"depth", at_least(0)},
      {"expand:depth", at_least(1)},
      {"pretrain-epochs", at_least(0)},
      // the optimiser and schedule
      {"optim.epochs", at_least(1)},
      {"optim.steps-per-epoch", at_least(0)},
      {"optim.batch", at_least(1)},
      {"optim.lr", above(0)},
      {"optim.min-lr", at_least(0)},
      {"optim.warmup-lr", at_least(0)},
      {"optim.warmup-epochs", at_least(0)},
      {"optim.weight-decay", at_least(0)},
      {"optim.clip-grad", at_least(0)},
      // distillation
      {"distill.alpha", closed(0, 1)},
      {"distill.tau", above(0)},
      {"distill.views", at_least(0)},
      // the run
      {"run.seed", at_least(0)},
      {"run.log-interval", at_least(1)},
      {"run.checkpoint-every", at_least(0)},
      {"run.keep", at_least(1)},
      {"run.stop-after-steps", at_least(0)},
      {"run.threads", at_least(1)},
      {"data.threads", at_least(0)},
      {"dist.timeout", above(0)},
      {"run.progress-seconds", at_least(0)},
      // tleg logits
      {"logits:distill.views", at_least(1)},
      {"logits.topk", at_least(0)},
      {"logits.batch", at_least(1)},
      // tleg prepare
      {"prepare:threads", at_least(0)},  // 0: one per core
      {"shard-size", at_least(1)},
      {"shorter-side", at_least(0)},
      {"quality", closed(1, 100)},
      {"max-bad-fraction", closed(0, 1)},
      {"val-fraction", below_one_from(0)},
      {"hold-out", at_least(0)},
      // tleg linearity (0: unknown)
      {"heads", at_least(0)},
  };
  return ranges;
}

const OptionRange* option_range(const std::string& command, const std::string& option) {
  const auto& ranges = option_ranges();
  if (const auto own = ranges.find(command + ":" + option); own != ranges.end())
    return &own->second;
  if (const auto shared = ranges.find(option); shared != ranges.end()) return &shared->second;
  return nullptr;
}

void check_option_ranges(const std::string& command,
                         const boost::program_options::variables_map& values) {
  std::vector<std::string> problems;
  for (const auto& [name, value] : values) {
    const std::optional<double> number = numeric(value.value());
    const OptionRange* range = option_range(command, name);
    if (number && range != nullptr && !range->contains(*number))
      problems.push_back(concat("--", name, " ", shortest(*number), ": must be ", range->text()));
  }
  const auto lr = values.find("optim.lr"), min_lr = values.find("optim.min-lr");
  if (lr != values.end() && min_lr != values.end()) {
    const double rate = *numeric(lr->second.value()), floor = *numeric(min_lr->second.value());
    if (floor > rate)
      problems.push_back(concat("--optim.min-lr ", shortest(floor), " is above --optim.lr ",
                                shortest(rate), ": the cosine would rise, not decay"));
  }
  if (problems.empty()) return;
  std::string message;
  for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
  throw boost::program_options::error(message);
}

}  // namespace tleg

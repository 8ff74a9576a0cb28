// Every option a command declares is read into its typed settings, and nothing is read that it
// does not declare: each command's parse runs on its smallest command line (its work is not run).
// Every option of a training command is recorded for resume unless it is declared neutral.
// Every numeric option has a range, and a value outside it is refused before anything runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "common/format.h"
#include "error_message.h"
#include "launcher/command.h"
#include "launcher/option_ranges.h"
#include "temp_dir.h"
#include "train/run_record.h"

namespace tleg {
namespace {

// The smallest command line of each command: its required options (and, for distill, one of
// its two teachers). A new command needs an entry here.
const std::map<std::string, std::vector<std::string>>& smallest_command_lines() {
  static const std::map<std::string, std::vector<std::string>> lines = {
      {"prepare", {"fashion-mnist", "--out", "store.h5"}},
      {"teacher", {"--data.store", "store.h5", "--run.dir", "runs"}},
      {"distill",
       {"--data.store", "store.h5", "--run.dir", "runs", "--distill.teacher", "teacher.h5"}},
      {"finetune", {"--data.store", "store.h5", "--run.dir", "runs"}},
      {"sweep", {"--data.store", "store.h5", "--run.dir", "runs", "--depths", "3-4"}},
      {"logits",
       {"--data.store", "store.h5", "--distill.teacher", "teacher.pt", "--out", "logits"}},
      {"evaluate", {"--data.store", "store.h5", "--model", "model.h5"}},
      {"inspect", {"model.h5"}},
      {"methods", {}},
      {"expand", {"--learngene", "learngene.h5", "--depth", "3", "--out", "model.h5"}},
      {"export", {"--model", "model.h5", "--out", "model.pt"}},
      {"report", {"runs", "--out", "report"}},
      {"linearity", {"--model", "model.h5", "--out", "linearity"}},
  };
  return lines;
}

// The options run_command declares for every command itself, beside the command's settings.
bool is_run_command_option(const std::string& name) {
  return name == "help" || name == "check" || name == "check-plan" || name == "print-config" ||
         name == "config";
}

// The commands whose options a run records (for resume, run.json and config.ini).
bool is_training_command(const Command& command) {
  return command.name == "teacher" || command.name == "distill" || command.name == "finetune" ||
         command.name == "sweep";
}

// Parses `args` as `command`'s options and returns what `use` makes of them.
template <typename Use>
auto with_options(const Command& command, const std::vector<std::string>& args, Use use) {
  po::positional_options_description positional;
  const po::options_description declared = command_options(command, positional);
  std::vector<const char*> argv{command.name.c_str()};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  po::variables_map values;
  po::store(po::command_line_parser(static_cast<int>(argv.size()), argv.data())
                .options(declared)
                .positional(positional)
                .run(),
            values);
  po::notify(values);
  Options options(values, declared);
  return use(options);
}

// Reads `args` into `command`'s settings and returns the declared options left unread (--help,
// --check and --config are run_command's own).
std::vector<std::string> unread_options(const Command& command,
                                        const std::vector<std::string>& args) {
  return with_options(command, args, [&](Options& options) {
    command.parse(options);  // the settings only: the returned work is not run
    std::vector<std::string> unread;
    for (const auto& name : options.unread())
      if (!is_run_command_option(name)) unread.push_back(name);
    return unread;
  });
}

TEST(CommandOptions, EveryDeclaredOptionIsReadIntoTheSettings) {
  const auto& lines = smallest_command_lines();
  for (const Command& command : all_commands()) {
    SCOPED_TRACE("tleg " + command.name);
    const auto line = lines.find(command.name);
    ASSERT_NE(line, lines.end()) << "add tleg " << command.name
                                 << "'s required options to smallest_command_lines()";
    std::vector<std::string> unread;
    ASSERT_NO_THROW(unread = unread_options(command, line->second));
    std::string names;
    for (const auto& name : unread) names += " " + name;
    EXPECT_TRUE(unread.empty()) << "declared but never read:" << names;
  }
}

// The options a training command records in its checkpoints, from `args`.
std::map<std::string, std::string> recorded(const Command& command,
                                            const std::vector<std::string>& args) {
  return with_options(command, args, [](Options& options) { return recorded_options(options); });
}

// `args` with option `name` given another value than in `record` (a switch: given).
std::vector<std::string> with_other_value(std::vector<std::string> args, const std::string& name,
                                          const po::option_description& option,
                                          const std::map<std::string, std::string>& record) {
  const auto given = std::find(args.begin(), args.end(), "--" + name);
  if (given != args.end()) {  // a required option of the smallest line: another value
    *std::next(given) += "-other";
    return args;
  }
  args.push_back("--" + name);
  if (option.semantic()->max_tokens() == 0) return args;  // a switch
  const std::string now = record.count(name) ? record.at(name) : "";
  std::string other = now + "1";  // a string, a list, or a number with one digit more
  if (now == "true") other = "false";
  if (now == "false") other = "true";
  args.push_back(other);
  return args;
}

// Changing any option of a training command changes what its checkpoints record, in that key
// alone, unless the option is declared neutral (then the record is unchanged): so a resume
// under any other value of a recorded option is refused (the Trainer compares the records).
TEST(CommandOptions, EveryTrainingOptionButTheNeutralOnesIsRecordedForResume) {
  const auto& neutral = result_neutral_options();
  std::int64_t checked = 0;
  for (const Command& command : all_commands()) {
    if (!is_training_command(command)) continue;
    SCOPED_TRACE("tleg " + command.name);
    const std::vector<std::string>& smallest = smallest_command_lines().at(command.name);
    const auto before = recorded(command, smallest);
    po::positional_options_description positional;
    const po::options_description declared = command_options(command, positional);
    for (const auto& option : declared.options()) {
      const std::string& name = option->long_name();
      if (is_run_command_option(name)) continue;
      SCOPED_TRACE("--" + name);
      std::map<std::string, std::string> after;
      ASSERT_NO_THROW(after = recorded(command, with_other_value(smallest, name, *option, before)));
      if (neutral.contains(name)) {
        EXPECT_EQ(after, before) << "a neutral option changed the record";
        EXPECT_FALSE(before.contains(name)) << "a neutral option is recorded";
        continue;
      }
      ASSERT_TRUE(before.contains(name) && after.contains(name)) << "not recorded";
      EXPECT_NE(after.at(name), before.at(name));
      after[name] = before.at(name);
      EXPECT_EQ(after, before) << "another key changed with it";
      ++checked;
    }
  }
  EXPECT_GT(checked, 150);  // about 50 recorded options in each of four commands
}

// What a training command records, and the switches (options without a value) it sees on:
// a switch is on whenever an INI file names it, whatever the value written beside it.
std::map<std::string, std::string> record_and_switches(Options& options,
                                                       const po::options_description& declared) {
  std::map<std::string, std::string> seen = recorded_options(options);
  for (const auto& option : declared.options())
    if (option->semantic()->max_tokens() == 0 && !is_run_command_option(option->long_name()))
      seen["switch " + option->long_name()] = options.given(option->long_name()) ? "on" : "off";
  return seen;
}

// The same when a training command's options come from `ini` alone (and --run.dir).
std::map<std::string, std::string> seen_from_ini(const Command& command, const std::string& ini) {
  po::positional_options_description positional;
  const po::options_description declared = command_options(command, positional);
  const char* argv[] = {command.name.c_str(), "--run.dir", "runs"};
  po::variables_map values;
  po::store(po::command_line_parser(3, argv).options(declared).run(), values);
  std::ifstream file(ini);
  po::store(po::parse_config_file(file, declared), values);
  po::notify(values);
  Options options(values, declared);
  return record_and_switches(options, declared);
}

// config.ini, written in every run folder, trains the same run again: with any one option set
// to another value than its default, reading the file back gives the same record (resume's
// check: every option that can change a result, with its value) and the same switches on.
TEST(ResolvedConfig, ReadBackEveryOptionIsAsTheRunHadIt) {
  const testing::TempDir dir;
  const std::string ini = dir.file("config.ini");
  std::int64_t checked = 0;
  for (const Command& command : all_commands()) {
    if (!is_training_command(command)) continue;
    SCOPED_TRACE("tleg " + command.name);
    const std::vector<std::string>& smallest = smallest_command_lines().at(command.name);
    const auto defaults = recorded(command, smallest);
    po::positional_options_description positional;
    const po::options_description declared = command_options(command, positional);
    for (const auto& option : declared.options()) {
      const std::string& name = option->long_name();
      if (is_run_command_option(name) || name == "resume" || name == "run.dir") continue;
      SCOPED_TRACE("--" + name);
      const auto args = with_other_value(smallest, name, *option, defaults);
      const auto run = with_options(command, args, [&](Options& options) {
        write_resolved_config({.name = command.name, .resolved_options = resolved_options(options)},
                              ini);
        return record_and_switches(options, declared);
      });
      std::map<std::string, std::string> again;
      ASSERT_NO_THROW(again = seen_from_ini(command, ini));
      EXPECT_EQ(again, run);
      ++checked;
    }
  }
  EXPECT_GT(checked, 150);
}

// Runs `command` on `args` with --check-plan (parses and checks the options, runs nothing; the
// input files the lines name do not exist and are left alone); "" when it passes, else the error.
std::string check_error(const Command& command, std::vector<std::string> args) {
  args.insert(args.begin(), command.name);
  args.push_back("--check-plan");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  ::testing::internal::CaptureStdout();
  std::string error;
  try {
    run_command(command, static_cast<int>(argv.size()), argv.data());
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::testing::internal::GetCapturedStdout();
  return error;
}

bool is_numeric(const po::option_description& option) {
  const auto* semantic = option.semantic().get();
  return dynamic_cast<const po::typed_value<double>*>(semantic) != nullptr ||
         dynamic_cast<const po::typed_value<std::int64_t>*>(semantic) != nullptr ||
         dynamic_cast<const po::typed_value<int>*>(semantic) != nullptr;
}

// The nearest value outside `range` (as the option's type writes it: integers stay integers).
std::string value_outside(const OptionRange& range) {
  const double low = range.low, high = range.high;
  const double bad =
      std::isfinite(low) ? (range.low_open ? low : low - 1) : (range.high_open ? high : high + 1);
  return shortest(bad);
}

TEST(OptionRanges, EveryNumericOptionHasARangeAndABadValueIsRefusedByCheck) {
  int tried = 0;
  for (const auto& command : all_commands()) {
    const auto& args = smallest_command_lines().at(command.name);
    ASSERT_EQ(check_error(command, args), "") << command.name << ": the defaults must be valid";
    po::positional_options_description positional;
    const po::options_description declared = command_options(command, positional);
    for (const auto& option : declared.options()) {
      if (!is_numeric(*option)) continue;
      const std::string& name = option->long_name();
      const OptionRange* range = option_range(command.name, name);
      ASSERT_NE(range, nullptr) << "tleg " << command.name << " --" << name
                                << " has no range in launcher/option_ranges.cpp";
      if (!std::isfinite(range->low) && !std::isfinite(range->high)) continue;  // any value
      std::vector<std::string> bad = args;
      if (const auto given = std::find(bad.begin(), bad.end(), "--" + name); given != bad.end())
        *std::next(given) = value_outside(*range);  // a required option of the smallest line
      else
        bad.insert(bad.end(), {"--" + name, value_outside(*range)});
      const std::string error = check_error(command, bad);
      EXPECT_NE(
          error.find("--" + name + " " + value_outside(*range) + ": must be " + range->text()),
          std::string::npos)
          << "tleg " << command.name << " --" << name << " " << value_outside(*range) << ": "
          << (error.empty() ? "accepted" : error);
      ++tried;
    }
  }
  EXPECT_GT(tried, 150);
}

TEST(OptionRanges, TheRangesSayWhatTheyAllow) {
  EXPECT_EQ(option_ranges().at("optim.lr").text(), "> 0");
  EXPECT_EQ(option_ranges().at("optim.batch").text(), ">= 1");
  EXPECT_EQ(option_ranges().at("aug.smoothing").text(), "in [0, 1)");
  EXPECT_FALSE(option_ranges().at("aug.smoothing").contains(1.0));
  EXPECT_TRUE(option_ranges().at("aug.smoothing").contains(0.0));
  EXPECT_EQ(option_range("expand", "depth")->text(), ">= 1");
  EXPECT_EQ(option_range("finetune", "depth")->text(), ">= 0");  // 0: model.depth
}

TEST(OptionRanges, AFloorAboveTheRateAndEveryBadValueAreNamedTogether) {
  const std::vector<Command> commands = all_commands();
  const Command& finetune = *std::find_if(commands.begin(), commands.end(),
                                          [](const Command& c) { return c.name == "finetune"; });
  std::vector<std::string> args = smallest_command_lines().at("finetune");
  args.insert(args.end(), {"--optim.min-lr", "1", "--depth", "-3", "--aug.smoothing", "1.5"});
  const std::string error = check_error(finetune, args);
  EXPECT_NE(error.find("--optim.min-lr 1 is above --optim.lr 0.0005"), std::string::npos) << error;
  EXPECT_NE(error.find("--depth -3: must be >= 0"), std::string::npos) << error;
  EXPECT_NE(error.find("--aug.smoothing 1.5: must be in [0, 1)"), std::string::npos) << error;
}

TEST(CommandOptions, ReadingAnUndeclaredOptionFailsWithItsName) {
  po::options_description declared;
  declared.add_options()("optim.batch", po::value<std::int64_t>()->default_value(128), "batch");
  po::variables_map values;
  po::store(po::command_line_parser(std::vector<std::string>{}).options(declared).run(), values);
  po::notify(values);
  Options options(values, declared);
  EXPECT_EQ(options.get<std::int64_t>("optim.batch"), 128);
  const std::string message = testing::error_of([&] { options.get<std::int64_t>("optim.bacth"); });
  EXPECT_NE(message.find("'optim.bacth' is read but not declared"), std::string::npos) << message;
  EXPECT_TRUE(options.unread().empty());
}

}  // namespace
}  // namespace tleg

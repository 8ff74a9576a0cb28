// Every option a command declares is read into its typed settings, and nothing is read that it
// does not declare: each command's parse runs on its smallest command line (its work is not run).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "error_message.h"
#include "launcher/command.h"

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
      {"logits", {"--data", "store.h5", "--teacher", "teacher.pt", "--out", "logits"}},
      {"evaluate", {"--data", "store.h5", "--model", "model.h5"}},
      {"inspect", {"model.h5"}},
      {"expand", {"--learngene", "learngene.h5", "--depth", "3", "--out", "model.h5"}},
      {"export", {"--model", "model.h5", "--out", "model.pt"}},
      {"report", {"runs", "--out", "report"}},
  };
  return lines;
}

// Parses `args` as `command`'s options, reads them into its settings and returns the declared
// options left unread (--help, --check and --config are run_command's own).
std::vector<std::string> unread_options(const Command& command,
                                        const std::vector<std::string>& args) {
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
  command.parse(options);  // the settings only: the returned work is not run
  std::vector<std::string> unread;
  for (const auto& name : options.unread())
    if (name != "help" && name != "check" && name != "config") unread.push_back(name);
  return unread;
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

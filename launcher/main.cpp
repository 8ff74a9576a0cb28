// tleg's entry point: picks the subcommand, parses its options (command line, then --config
// INI files), and turns any error into one line on stderr and a non-zero exit code.
#include <c10/util/Exception.h>
#include <malloc.h>

#include <fstream>
#include <iostream>

#include "common/error.h"
#include "launcher/command.h"

namespace {

using tleg::Command;
namespace po = boost::program_options;

std::vector<Command> all_commands() {
  std::vector<Command> commands = tleg::data_commands();
  for (auto& command : tleg::train_commands()) commands.push_back(std::move(command));
  for (auto& command : tleg::model_commands()) commands.push_back(std::move(command));
  for (auto& command : tleg::report_commands()) commands.push_back(std::move(command));
  return commands;
}

void print_overview(const std::vector<Command>& commands) {
  std::cout << "tleg: TLEG (Transformer as Linear Expansion of Learngene) training system\n\n"
               "usage: tleg <command> [options]    (tleg <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& command : commands) {
    std::cout << "  " << command.name
              << std::string(12 - std::min<std::size_t>(11, command.name.size()), ' ')
              << command.summary << "\n";
  }
}

int run_command(const Command& command, int argc, char** argv) {
  po::options_description options(command.name + " options");
  options.add_options()("help,h", "show this help and exit")(
      "check", "check the options and config files, then exit without running")(
      "config", po::value<std::vector<std::string>>()->composing(),
      "INI file(s) of options (section names prefix keys, e.g. [model] dim=192); a later file "
      "overrides an earlier one, the command line overrides all");
  po::positional_options_description positional;
  command.add_options(options, positional);

  po::variables_map values;
  po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
            values);
  if (values.count("help")) {
    std::cout << "usage: tleg " << command.name << " [options] " << command.usage << "\n"
              << command.summary << "\n\n"
              << options << "\n";
    return 0;
  }
  if (values.count("config")) {
    // store() keeps the first value it sees: the command line first, then the config files
    // from the last to the first, so a later file overrides an earlier one (base, then
    // specialisations) and the command line overrides them all.
    const auto paths = values["config"].as<std::vector<std::string>>();
    for (auto path = paths.rbegin(); path != paths.rend(); ++path) {
      std::ifstream file(*path);
      if (!file) tleg::fail("cannot read config file ", *path);
      po::store(po::parse_config_file(file, options, /*allow_unregistered=*/false), values);
    }
  }
  po::notify(values);
  // Catches a typo in an option or a config file before a scheduler runs the command for real.
  if (values.count("check")) {
    std::cout << "tleg " << command.name << ": options valid\n";
    return 0;
  }
  return command.run(values);
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns freed memory to the system after every training step and then page-faults it
  // back; keeping 1 GiB of top pad made CPU steps 2-2.5x faster here (shared/research).
  mallopt(M_TOP_PAD, 1 << 30);

  const std::vector<Command> commands = all_commands();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_overview(commands);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  for (const auto& command : commands) {
    if (command.name != name) continue;
    try {
      return run_command(command, argc - 1, argv + 1);
    } catch (const po::error& error) {
      std::cerr << "tleg " << name << ": " << error.what() << " (see tleg " << name << " --help)\n";
      return 2;
    } catch (const c10::Error& error) {
      // LibTorch's own errors carry a C++ backtrace; the message alone is what the user needs.
      std::cerr << "tleg " << name << ": error: " << error.what_without_backtrace() << "\n";
      return 1;
    } catch (const std::exception& error) {
      std::cerr << "tleg " << name << ": error: " << error.what() << "\n";
      return 1;
    }
  }
  std::cerr << "tleg: unknown command '" << name << "' (tleg --help lists the commands)\n";
  return 2;
}

#include "launcher/command.h"

#include <fstream>
#include <iostream>
#include <set>

#include "common/error.h"

namespace tleg {

std::vector<Command> all_commands() {
  std::vector<Command> commands = data_commands();
  for (auto& command : train_commands()) commands.push_back(std::move(command));
  for (auto& command : model_commands()) commands.push_back(std::move(command));
  for (auto& command : report_commands()) commands.push_back(std::move(command));
  return commands;
}

po::options_description command_options(const Command& command,
                                        po::positional_options_description& positional) {
  po::options_description options(command.name + " options");
  options.add_options()("help,h", "show this help and exit")(
      "check", "check the options and config files, then exit without running")(
      "config", po::value<std::vector<std::string>>()->composing(),
      "INI file(s) of options (section names prefix keys, e.g. [model] dim=192); a later file "
      "overrides an earlier one, the command line overrides all");
  command.add_options(options, positional);
  return options;
}

namespace {

// Whether any command declares the option `key` (section.name).
bool declared_by_a_command(const std::string& key) {
  for (const Command& command : all_commands()) {
    po::positional_options_description positional;
    if (command_options(command, positional).find_nothrow(key, /*approx=*/false) != nullptr)
      return true;
  }
  return false;
}

}  // namespace

int run_command(const Command& command, int argc, char** argv) {
  po::positional_options_description positional;
  const po::options_description options = command_options(command, positional);
  po::variables_map values;
  po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
            values);
  if (values.count("help")) {
    std::cout << "usage: tleg " << command.name << " [options] " << command.usage << "\n"
              << command.summary << "\n\n"
              << options << "\n";
    return 0;
  }
  std::set<std::string> on_command_line;
  for (const auto& [key, value] : values)
    if (!value.defaulted()) on_command_line.insert(key);
  if (values.count("config")) {
    // store() keeps the first value it sees: the command line first, then the config files
    // from the last to the first, so a later file overrides an earlier one (base, then
    // specialisations) and the command line overrides them all.
    const auto paths = values["config"].as<std::vector<std::string>>();
    for (auto path = paths.rbegin(); path != paths.rend(); ++path) {
      std::ifstream file(*path);
      if (!file) fail("cannot read config file ", *path);
      if (!command.skips_other_commands_keys) {
        po::store(po::parse_config_file(file, options, /*allow_unregistered=*/false), values);
        continue;
      }
      po::parsed_options parsed = po::parse_config_file(file, options, /*allow_unregistered=*/true);
      for (const auto& option : parsed.options)
        if (option.unregistered && !declared_by_a_command(option.string_key))
          fail(*path, ": unrecognised option '", option.string_key, "' (no tleg command has it; ",
               "check its spelling and section)");
      po::store(parsed, values);
    }
  }
  po::notify(values);
  Options read(values, options, std::move(on_command_line));
  const auto work = command.parse(read);
  // Catches a typo in an option or a config file before a scheduler runs the command for real
  // (slurm/submit.sh checks every stage this way before it queues anything).
  if (values.count("check")) {
    std::cout << "tleg " << command.name << ": options valid\n";
    return 0;
  }
  return work();
}

}  // namespace tleg

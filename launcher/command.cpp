#include "launcher/command.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "launcher/input_files.h"
#include "launcher/option_ranges.h"
#include "train/run_record.h"

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
      "check",
      "check the options, the config files and every input file (opened, its kind checked), "
      "then exit without running")(
      "check-plan",
      "as --check, for a plan checked before its stages run: an input file that does not exist "
      "yet is left to the stage that makes it")(
      "print-config",
      "print every option's value (given, from --config files, or the default) as an INI file, "
      "as a run's config.ini holds them, then exit without running")(
      "config", po::value<std::vector<std::string>>()->composing(),
      "INI file(s) of options (section names prefix keys, e.g. [model] dim=192); a later file "
      "overrides an earlier one, the command line overrides all");
  command.add_options(options, positional);
  return options;
}

namespace {

// The commands that declare the option `key` (section.name).
std::vector<std::string> commands_declaring(const std::string& key) {
  std::vector<std::string> names;
  for (const Command& command : all_commands()) {
    po::positional_options_description positional;
    if (command_options(command, positional).find_nothrow(key, /*approx=*/false) != nullptr)
      names.push_back(command.name);
  }
  return names;
}

// Edit distance (insertions, deletions, substitutions) between two option names.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The declared option closest to `name`, when one is close enough to be what was meant: a few
// letters apart, or `name` cut short (what prefix matching used to accept silently).
std::string closest_option(const std::string& name, const po::options_description& declared) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, name.size() / 4) + 1;
  for (const auto& option : declared.options()) {
    const std::string& candidate = option->long_name();
    const std::size_t distance = candidate.starts_with(name) ? 1 : edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// Why `key` is not an option of `command`, and what was probably meant: a close option of this
// command, else the commands that have it, else a close option of another command.
std::string unknown_because(const std::string& key, const Command& command,
                            const po::options_description& declared, const std::string& prefix) {
  if (const auto renamed = command.renamed_options.find(key);
      renamed != command.renamed_options.end())
    return concat(" (renamed: ", prefix, renamed->second, ")");
  if (const std::string closest = closest_option(key, declared); !closest.empty())
    return concat(" (did you mean ", prefix, closest, "?)");
  if (const auto others = commands_declaring(key); !others.empty())
    return concat(" (an option of tleg ", others.front(), ", not of tleg ", command.name, ")");
  for (const Command& other : all_commands()) {
    po::positional_options_description positional;
    const po::options_description options = command_options(other, positional);
    if (const std::string closest = closest_option(key, options); !closest.empty())
      return concat(" (did you mean ", prefix, closest, ", an option of tleg ", other.name, "?)");
  }
  return "";
}

// The line of each key of an INI file, as Boost names it (section.name), for messages.
std::map<std::string, int> key_lines(const std::string& path) {
  std::map<std::string, int> lines;
  std::ifstream file(path);
  std::string line, section;
  for (int number = 1; std::getline(file, line); ++number) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#' || line[first] == ';') continue;
    if (line[first] == '[') {
      section = line.substr(first + 1, line.find(']') - first - 1);
      continue;
    }
    std::string key = line.substr(first, line.find('=') - first);
    key.erase(key.find_last_not_of(" \t") + 1);
    lines.emplace(section.empty() ? key : section + "." + key, number);
  }
  return lines;
}

}  // namespace

int run_command(const Command& command, int argc, char** argv) {
  po::positional_options_description positional;
  const po::options_description options = command_options(command, positional);
  po::variables_map values;
  // Options are matched exactly (Boost would take --optim.ep for --optim.epochs). A first pass
  // collects every option not declared (without the positional arguments, which the values of
  // unknown options would be taken for), to list them all, each with the one probably meant.
  const auto style =
      po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  std::string unknown;
  for (const auto& option : po::command_line_parser(argc, argv)
                                .options(options)
                                .style(style)
                                .allow_unregistered()
                                .run()
                                .options)
    if (option.unregistered && !option.string_key.empty())
      unknown += concat(unknown.empty() ? "" : "; ", "unrecognised option '--", option.string_key,
                        "'", unknown_because(option.string_key, command, options, "--"));
  if (!unknown.empty()) throw po::error(unknown);
  po::store(po::command_line_parser(argc, argv)
                .options(options)
                .positional(positional)
                .style(style)
                .run(),
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
    std::vector<std::string> unknown_keys;  // every file's, listed in the files' order
    for (auto path = paths.rbegin(); path != paths.rend(); ++path) {
      std::ifstream file(*path);
      if (!file) fail("cannot read config file ", *path);
      po::parsed_options in_file =
          po::parse_config_file(file, options, /*allow_unregistered=*/true);
      const auto lines = key_lines(*path);
      std::vector<std::string> here;
      for (const auto& option : in_file.options) {
        if (!option.unregistered) continue;
        if (command.skips_other_commands_keys && !commands_declaring(option.string_key).empty())
          continue;
        const auto line = lines.find(option.string_key);
        here.push_back(concat(*path, ":", line == lines.end() ? 0 : line->second,
                              ": unrecognised key '", option.string_key, "'",
                              unknown_because(option.string_key, command, options, "")));
      }
      unknown_keys.insert(unknown_keys.begin(), here.begin(), here.end());
      po::store(in_file, values);
    }
    if (!unknown_keys.empty()) {
      std::string message;
      for (const auto& item : unknown_keys) message += (message.empty() ? "" : "; ") + item;
      throw po::error(message);
    }
  }
  po::notify(values);
  check_option_ranges(command.name, values);
  Options read(values, options, std::move(on_command_line));
  const auto work = command.parse(read);
  // Catches a typo in an option or a config file before a scheduler runs the command for real
  // (slurm/submit.sh checks every stage this way before it queues anything).
  if (values.count("print-config")) {
    std::cout << resolved_config(
        {.name = command.name, .resolved_options = resolved_options(read)});
    return 0;
  }
  if (values.count("check") || values.count("check-plan")) {
    check_input_files(values, /*missing_allowed=*/values.count("check-plan") > 0);
    std::cout << "tleg " << command.name << ": options valid\n";
    return 0;
  }
  return work();
}

}  // namespace tleg

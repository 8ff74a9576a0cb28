// A subcommand of `tleg`: its name, one-line summary, options and body. Options come from the
// command line and from INI files given with --config (the command line wins).
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tleg {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // positional arguments, e.g. "FILE"
  std::function<void(po::options_description&, po::positional_options_description&)> add_options;
  std::function<int(const po::variables_map&)> run;
};

// The commands, in the order `tleg --help` lists them.
std::vector<Command> data_commands();
std::vector<Command> model_commands();
std::vector<Command> train_commands();
std::vector<Command> report_commands();

}  // namespace tleg

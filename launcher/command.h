// A subcommand of `tleg`: its name, one-line summary, options, and how it reads them into its
// typed settings. Options come from the command line and from INI files given with --config
// (the command line wins).
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "launcher/options.h"

namespace tleg {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // positional arguments, e.g. "FILE"
  std::function<void(po::options_description&, po::positional_options_description&)> add_options;
  // Reads the options into the command's settings (checking them) and returns its work: one
  // call of a library function, whose result is the exit code.
  std::function<std::function<int()>(Options&)> parse;
  // Whether --config files may hold keys of the other commands that this one does not use:
  // `tleg logits` reads the view options of the INI files the training stages share
  // (common.ini's [data] mean, [aug] recipe, ...) and skips their training keys. A key that no
  // command declares is still an error naming the file.
  bool skips_other_commands_keys = false;
  // Options renamed to match the training commands': old name -> the name now, which an old
  // command line is told (the old name is refused: it would mean something else elsewhere).
  std::map<std::string, std::string> renamed_options;
};

// The commands, in the order `tleg --help` lists them.
std::vector<Command> all_commands();
std::vector<Command> data_commands();
std::vector<Command> model_commands();
std::vector<Command> train_commands();
std::vector<Command> report_commands();

// Every option of `command`: its own, --help and --config.
po::options_description command_options(const Command& command,
                                        po::positional_options_description& positional);
// Parses argv (argv[0] is the command's name) and runs the command; prints its help with --help.
int run_command(const Command& command, int argc, char** argv);

// The options of the training commands (teacher, distill, finetune, sweep) that cannot change
// what a run computes. Every other option is recorded in the run's checkpoints
// (recorded_options) and a resume under another value is refused naming it.
const std::set<std::string>& result_neutral_options();
// What a training command records of its options: every declared one but the neutral ones.
std::map<std::string, std::string> recorded_options(const Options& options);
// The options that name input files (a teacher, a learngene, pre-trained models): recorded for
// resume, but each seed of an experiment reads its own files of the same kind.
const std::set<std::string>& input_file_options();
// What a run's config.ini sets (train/run_record.h): every option but run.dir and those that only
// say how to invoke (--help, --check, --config, --resume), as an INI file writes them.
std::map<std::string, std::string> resolved_options(const Options& options);
// A run's recipe (run.json): what it records but its seed and input files' paths.
std::map<std::string, std::string> recipe_options(const Options& options);

}  // namespace tleg

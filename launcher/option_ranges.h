// The valid values of every numeric option of every command, in one table, checked after the
// command line and the --config files are read and before anything runs (so `--check` refuses
// them too): a negative depth, a label smoothing of 1.5 or a batch of -5 is an error naming the
// option, its value and its range, never a run.
#pragma once

#include <boost/program_options.hpp>

#include <limits>
#include <map>
#include <string>

namespace tleg {

struct OptionRange {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false, high_open = false;  // whether the bound itself is excluded

  bool contains(double value) const;
  std::string text() const;  // "> 0", ">= 1", "in [0, 1)", "any"
};

// Keyed by option name, or "command:name" where one command's option of that name differs.
const std::map<std::string, OptionRange>& option_ranges();
// The range of `option` of `command`; nullptr when the table has none.
const OptionRange* option_range(const std::string& command, const std::string& option);

// Throws a boost::program_options::error listing every value out of its range, and the pairs that
// contradict each other (optim.min-lr above optim.lr); numeric options the table lacks are a
// programming error that launcher_tests catch, not checked here.
void check_option_ranges(const std::string& command,
                         const boost::program_options::variables_map& values);

}  // namespace tleg

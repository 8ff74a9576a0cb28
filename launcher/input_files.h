// What the options that name input files must hold, for `--check`: each file is opened and its
// kind checked (a dataset store, a teacher, a learngene, ...), so that a text file given as a
// store is refused before a scheduler runs the command, not hours later.
#pragma once

#include <boost/program_options/variables_map.hpp>

namespace tleg {

// Opens every input file that `values` names and fails, naming the option and the file, when one
// is not of its kind. `missing_allowed`: an input that does not exist yet is left to the stage
// of a plan that makes it (--check-plan); otherwise it is an error too (--check).
void check_input_files(const boost::program_options::variables_map& values, bool missing_allowed);

}  // namespace tleg

// tleg's entry point: picks the subcommand, parses its options (command line, then --config
// INI files), and turns any error into one line on stderr and a non-zero exit code.
#include <c10/util/Exception.h>
#include <malloc.h>

#include <cstdlib>
#include <iostream>

#include "common/error.h"
#include "launcher/command.h"
#include "launcher/version.h"

namespace {

void print_overview(const std::vector<tleg::Command>& commands) {
  std::cout << "tleg: TLEG (Transformer as Linear Expansion of Learngene) training system\n\n"
               "usage: tleg <command> [options]    (tleg <command> --help for its options)\n"
               "       tleg --version              (version, commit, libraries, bf16 support)\n\n"
               "commands:\n";
  for (const auto& command : commands) {
    std::cout << "  " << command.name
              << std::string(12 - std::min<std::size_t>(11, command.name.size()), ' ')
              << command.summary << "\n";
  }
}

// The rank a launcher gave this process, read before MPI starts (-1: none). An error found
// before the job's world exists (an option, an INI file) is the same on every rank: rank 0
// alone says it, so a job of 64 ranks prints it once.
int launched_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return -1;
}

// std::cerr, or nowhere on the ranks that leave the message to rank 0.
std::ostream& error_stream() {
  static std::ostream nowhere(nullptr);
  return launched_rank() > 0 ? nowhere : std::cerr;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns freed memory to the system after every training step and then page-faults it
  // back; keeping 1 GiB of top pad made CPU steps 2-2.5x faster on 2-core machines.
  mallopt(M_TOP_PAD, 1 << 30);

  const std::vector<tleg::Command> commands = tleg::all_commands();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_overview(commands);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  if (name == "--version") {
    std::cout << tleg::version_text();
    return 0;
  }
  for (const auto& command : commands) {
    if (command.name != name) continue;
    try {
      return tleg::run_command(command, argc - 1, argv + 1);
    } catch (const boost::program_options::error& error) {
      error_stream() << "tleg " << name << ": " << error.what() << " (see tleg " << name
                     << " --help)\n";
      return 2;
    } catch (const c10::Error& error) {
      // LibTorch's own errors carry a C++ backtrace; the message alone is what the user needs.
      error_stream() << "tleg " << name << ": error: " << error.what_without_backtrace() << "\n";
      return 1;
    } catch (const std::exception& error) {
      error_stream() << "tleg " << name << ": error: " << error.what() << "\n";
      return 1;
    }
  }
  error_stream() << "tleg: unknown command '" << name << "' (tleg --help lists the commands)\n";
  return 2;
}

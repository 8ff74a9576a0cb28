// A program whose rank 1 fails mid-loop in a chosen way (exit, kill, throw, hang), or every rank
// (throw-all), for abort_test.sh to check that the whole job ends, non-zero, with a message
// naming the rank and no Open MPI banner.
#include <ATen/ATen.h>
#include <mpi.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/error.h"
#include "dist/communicator.h"
#include "dist/world.h"

namespace {

int loop(tleg::dist::World& world, const std::string& mode) {
  if (mode != "exit" && mode != "kill" && mode != "throw" && mode != "throw-all" && mode != "hang")
    tleg::fail("usage: abort_probe exit|kill|throw|throw-all|hang");
  // A short timeout so that the hang is noticed in seconds.
  auto comm = tleg::dist::make_communicator(world, c10::kCPU, {.timeout = std::chrono::seconds(3)});
  at::Tensor values = at::ones({1000}, at::kFloat);
  for (int iteration = 0; iteration < 100; ++iteration) {
    if (iteration == 5 && mode == "throw-all")
      tleg::fail("planted failure at iteration ", iteration);
    if (iteration == 5 && world.rank() == 1) {
      if (mode == "exit") std::_Exit(3);
      if (mode == "kill") std::raise(SIGKILL);
      if (mode == "throw") tleg::fail("planted failure at iteration ", iteration);
      if (mode == "hang") {
        // Waits for a message nobody sends: stuck outside the collective for good.
        int never = 0;
        MPI_Recv(&never, 1, MPI_INT, 0, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
    }
    comm->all_reduce(values);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tleg::dist::World world(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    return tleg::dist::run_or_abort(world, [&] { return loop(world, mode); });
  } catch (const std::exception& error) {  // a world of one: the error is the caller's to print
    std::cerr << "abort_probe: error: " << error.what() << "\n";
    return 1;
  }
}

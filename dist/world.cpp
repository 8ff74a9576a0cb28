// MPI start-up and shut-down, the node layout read from MPI, the GPU of the local rank, and the
// one place where an error on one rank ends the whole job.
#include "dist/world.h"

#include <c10/util/Exception.h>

#include <mpi.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "dist/failure_notice.h"
#include "dist/stop.h"

#ifdef TLEG_HAVE_CUDA
#include <c10/cuda/CUDAFunctions.h>

#include "dist/nccl_communicator.h"
#endif

namespace tleg::dist {
namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(what, " failed during MPI start-up: ", std::string(text, length));
}

// Every rank's placement, gathered as text lines (host, node, device and CPU list vary in length).
std::vector<RankPlacement> gather_placement(const RankPlacement& mine, int size) {
  std::ostringstream line;
  line << mine.host << '\t' << mine.node << '\t' << mine.local_rank << '\t' << mine.device << '\t'
       << mine.cpus << '\t' << mine.host_cpus;
  const std::string text = line.str();
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  check_mpi(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD),
            "MPI_Allgather");
  int total = 0;
  for (int r = 0; r < size; ++r) {
    offsets[static_cast<std::size_t>(r)] = total;
    total += lengths[static_cast<std::size_t>(r)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  check_mpi(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                           offsets.data(), MPI_CHAR, MPI_COMM_WORLD),
            "MPI_Allgatherv");
  std::vector<RankPlacement> placement(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    const auto i = static_cast<std::size_t>(r);
    std::istringstream fields(
        all.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
    RankPlacement& p = placement[i];
    p.rank = r;
    std::string local, host_cpus;
    std::getline(fields, p.host, '\t');
    std::getline(fields, p.node, '\t');
    std::getline(fields, local, '\t');
    std::getline(fields, p.device, '\t');
    std::getline(fields, p.cpus, '\t');
    std::getline(fields, host_cpus, '\t');
    p.local_rank = std::stoi(local);
    p.host_cpus = std::stoi(host_cpus);
  }
  return placement;
}

}  // namespace

World::World(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // tleg's all-reduces are in place and non-blocking, and for in-place calls (and any call on
    // fewer than 4 ranks) Open MPI's libnbc picks its binomial algorithm: reduce to rank 0, then
    // broadcast, two full-size transfers one after the other: 1.7-3.5x the time of a blocking
    // MPI_Allreduce from 1 MiB up on 2 ranks (bench/run_allreduce.sh). Reduce-scatter + all-gather
    // (Rabenseifner, libnbc's own choice for large out-of-place calls on >= 4 ranks) moves half
    // as much per rank and matches MPI_Allreduce. An explicit setting by the user wins; other
    // MPIs ignore the variable.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
    // FUNNELED is what the collectives need (they are called from the thread that runs backward,
    // which is the main thread for CPU tensors); SERIALIZED is asked for so that a caller on
    // another thread, one at a time, stays legal too.
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level_),
              "MPI_Init_thread");
    owns_mpi_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  if (thread_level_ < MPI_THREAD_FUNNELED)
    fail("MPI provides thread level ", thread_level_,
         " but tleg needs MPI_THREAD_FUNNELED or higher; use an MPI built with thread support");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);

  // The processes that share memory with this one are the ones on its node.
  MPI_Comm local = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  // Nodes are numbered by the order of their first ranks: the local leaders form one
  // communicator, and each leader tells its node its number.
  MPI_Comm leaders = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(MPI_COMM_WORLD, local_rank_ == 0 ? 0 : MPI_UNDEFINED, rank_, &leaders),
            "MPI_Comm_split");
  if (leaders != MPI_COMM_NULL) {
    MPI_Comm_rank(leaders, &node_);
    MPI_Comm_size(leaders, &node_count_);
    MPI_Comm_free(&leaders);
  }
  int layout[2] = {node_, node_count_};
  check_mpi(MPI_Bcast(layout, 2, MPI_INT, 0, local), "MPI_Bcast");
  node_ = layout[0];
  node_count_ = layout[1];
  MPI_Comm_free(&local);

#ifdef TLEG_HAVE_CUDA
  // A CUDA build also runs on machines without a GPU (CI, login nodes): pick one only when the
  // runtime sees some.
  if (const int gpus = c10::cuda::device_count(); gpus > 0) {
    const auto index = static_cast<c10::DeviceIndex>(local_rank_ % gpus);
    c10::cuda::set_device(index);
    device_ = c10::Device(c10::kCUDA, index);
  }
#endif

  placement_ = gather_placement(this_process_placement(rank_, local_rank_, device_.str()), size_);
  open_failure_notices();
  if (rank_ == 0) {
    std::ostringstream log;
    log << "placement of " << size_ << " rank(s) on " << node_count_ << " node(s):\n";
    for (const auto& line : describe_placement(placement_)) log << "  " << line << "\n";
    for (const auto& warning : placement_warnings(placement_)) log << warning << "\n";
    std::cerr << log.str() << std::flush;
  }
}

World::~World() {
  close_failure_notices();
  if (!owns_mpi_) return;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

std::string backend_versions() {
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> library{};
  int length = 0;
  MPI_Get_library_version(library.data(), &length);
  std::string mpi(library.data(), static_cast<std::size_t>(length));
  mpi = mpi.substr(0, mpi.find_first_of("\n,"));  // the first clause: name and version
#ifdef TLEG_HAVE_CUDA
  return concat("MPI: ", mpi, "; ", nccl_version());
#else
  return concat("MPI: ", mpi, "; NCCL: not built (a CPU-only build)");
#endif
}

int world_rank() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  int rank = -1;
  if (initialised) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

void abort_job(const std::string& message, int exit_code) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  int initialised = 0, finalised = 0, size = 1;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (initialised && !finalised) MPI_Comm_size(MPI_COMM_WORLD, &size);
  // Every other rank acknowledged (or failed too): all are ending by themselves, and an exit
  // ends the job under mpirun and srun alike without MPI_Abort's banner. A rank that did not
  // answer (busy outside a collective, or stuck) is ended by force.
  if (size > 1 && !notify_failure(std::chrono::seconds(5))) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

int run_or_abort(const World& world, const std::function<int()>& body) {
  std::exception_ptr failure;
  try {
    return body();
  } catch (const Stopped& stop) {
    // Not an error: every rank stopped at the same step, so none is left waiting and nothing is
    // aborted. Said before MPI shuts down, as a launcher may end the ranks soon after the signal.
    if (stop.report()) std::cerr << stop_message(stop) << std::endl;
    return 128 + stop.signal();
  } catch (...) {
    // Alone, the process just fails: main() prints the error as any command's, and MPI shuts
    // down as after a success.
    if (world.size() == 1) throw;
    failure = std::current_exception();
  }
  try {
    std::rethrow_exception(failure);
  } catch (const c10::Error& error) {
    // LibTorch's errors carry a C++ backtrace; the message is what the user needs.
    abort_job(concat("rank ", world.rank(), ": error: ", error.what_without_backtrace()));
  } catch (const std::exception& error) {
    abort_job(concat("rank ", world.rank(), ": error: ", error.what()));
  } catch (...) {
    abort_job(concat("rank ", world.rank(), ": error: unknown exception"));
  }
}

}  // namespace tleg::dist

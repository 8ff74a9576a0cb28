// The process world of a tleg job: MPI start-up and shut-down, where this process sits (rank,
// node, local rank) and which device it computes on. One World per process, made in main().
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <string>
#include <vector>

#include "dist/placement.h"

namespace tleg::dist {

class World {
 public:
  // Initialises MPI (MPI_Init_thread, at least MPI_THREAD_FUNNELED) unless it already is; a
  // process started without a launcher is a world of one (MPI singleton). Under a CUDA build with
  // a GPU visible at run time, selects the GPU of the local rank.
  World(int* argc, char*** argv);
  ~World();  // MPI_Finalize, if this World initialised MPI
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Position among the processes that share this node (MPI_COMM_TYPE_SHARED), from MPI itself
  // so it holds under mpirun and srun --mpi=pmix alike.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int node() const { return node_; }
  int node_count() const { return node_count_; }
  bool is_root() const { return rank_ == 0; }
  // The thread support level MPI granted (an MPI_THREAD_* value).
  int thread_level() const { return thread_level_; }
  // cuda:<local rank mod GPUs> when CUDA is usable at run time, else cpu.
  c10::Device device() const { return device_; }
  // Every rank's host, node, local rank, device and CPU set, indexed by rank.
  const std::vector<RankPlacement>& placement() const { return placement_; }

 private:
  bool owns_mpi_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, node_ = 0, node_count_ = 1;
  int thread_level_ = 0;
  c10::Device device_{c10::kCPU};
  std::vector<RankPlacement> placement_;
};

// This process's rank in MPI_COMM_WORLD (what mpirun's messages name), -1 before MPI starts.
int world_rank();

// The collective backends this build has, for tleg --version: "MPI: Open MPI v4.1.4, ...;
// NCCL 2.28.9" (or "NCCL: not built, a CPU-only build"). Needs no MPI start-up.
std::string backend_versions();

// Writes `message` to stderr and ends every rank of the job: the way out of an error that the
// other ranks cannot learn about by themselves, or of a collective that will never complete (MPI
// cannot cancel one). The others are told (failure_notice.h) and say they stop; MPI_Abort ends
// only a job whose ranks did not answer, so the usual end has no Open MPI banner (mpirun adds
// its own unless quiet: mpirun -q, or OMPI_MCA_orte_execute_quiet=1 as the executors set).
[[noreturn]] void abort_job(const std::string& message, int exit_code = 1);

// Runs `body` and returns its exit code. An exception on any rank of several is printed as
// "rank R: error: <what>" and ends the whole job (abort_job), so that the other ranks do not
// wait forever in their next collective; in a world of one it propagates to the caller, which
// prints it as any error. Stopped, which every rank throws together, ends no rank by force: the
// reporting rank says what happened and what next (stop_message), and every rank returns 128 +
// the signal.
int run_or_abort(const World& world, const std::function<int()>& body);

}  // namespace tleg::dist

// The collectives tleg needs, behind one interface with two backends: MPI for CPU tensors and
// NCCL for CUDA tensors. Training code (GradientReducer above all) is written once against it.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>

namespace tleg::dist {

class World;

enum class ReduceOp { Sum, Average };

struct CommunicatorOptions {
  // How long one collective may wait for the other ranks before the job is ended with a
  // message naming the operation and the rank. Generous because a rank may legitimately lag by
  // an evaluation or a checkpoint write; a real hang waits forever otherwise.
  std::chrono::milliseconds timeout = std::chrono::seconds(600);
};

// A collective in flight. wait() returns once the result may be used (on CUDA: by work queued on
// the current stream afterwards), throws on a failure, and ends the job on a timeout.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
  // Non-blocking: whether it has finished. Also drives progress (MPI moves non-blocking
  // collectives forward only inside MPI calls).
  virtual bool ready() = 0;
};

// A host-side OR of one flag per rank in flight (Communicator::any_async). wait() returns it, and
// ends the job on a timeout like any collective.
class PendingFlag {
 public:
  virtual ~PendingFlag() = default;
  virtual bool wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi" or "nccl"

  // Every collective takes dense contiguous tensors of the backend's device, with the same shape
  // and dtype on every rank, and must be called in the same order on every rank.

  // In place. Average divides the sum by size() (floating-point tensors only).
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::Sum) {
    all_reduce_async(tensor, op)->wait();
  }
  // Starts the reduction and returns at once; `tensor` must not be touched until wait().
  virtual std::unique_ptr<PendingCollective> all_reduce_async(const at::Tensor& tensor,
                                                              ReduceOp op) = 0;
  // Starts a logical OR of `flag` over the ranks, on the host: no device work, so it may run
  // every step without a device synchronisation (the stop agreement, dist/stop.h).
  virtual std::unique_ptr<PendingFlag> any_async(bool flag) = 0;
  // In place: every rank ends with root's values.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  // Returns [size(), *tensor.sizes()]: row r is rank r's tensor.
  virtual at::Tensor all_gather(const at::Tensor& tensor) = 0;
  virtual void barrier() = 0;
  // A barrier with no deadline, for ranks that legitimately arrive hours apart (the groups of a
  // sweep, the shards of tleg logits). It sleeps while it waits; a rank that dies still ends the
  // job (mpirun and srun end it when a process dies), and a hung rank is caught by its own
  // group's collectives, which keep their timeout.
  virtual void wait_for_all() = 0;
  // Collective: ranks passing the same colour form one new communicator of this backend, ranked
  // by (key, old rank). colour must be >= 0.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
};

// A communicator over all ranks of `world` for tensors on `device`: NCCL for CUDA devices (needs
// a CUDA build), MPI for the CPU. Collective: every rank must call it.
std::unique_ptr<Communicator> make_communicator(World& world, c10::Device device,
                                                const CommunicatorOptions& options = {});

}  // namespace tleg::dist

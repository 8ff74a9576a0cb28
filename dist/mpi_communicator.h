// The MPI backend of Communicator (CPU tensors). Internal to tleg_dist: users get one from
// make_communicator().
#pragma once

#include <mpi.h>

#include "dist/communicator.h"

namespace tleg::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (freed on destruction). Errors on it are returned, not fatal, so
  // that they become exceptions naming the operation and the rank.
  MpiCommunicator(MPI_Comm comm, const CommunicatorOptions& options);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  std::unique_ptr<PendingCollective> all_reduce_async(const at::Tensor& tensor,
                                                      ReduceOp op) override;
  std::unique_ptr<PendingFlag> any_async(bool flag) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor all_gather(const at::Tensor& tensor) override;
  void barrier() override;
  void wait_for_all() override;
  std::unique_ptr<Communicator> split(int color, int key) override;

  MPI_Comm comm() const { return comm_; }
  // Polls `request` until it completes; past the timeout, ends the job naming `operation`.
  void wait_for(MPI_Request& request, const char* operation) const;
  // The barrier of wait_for_all() on any MPI communicator (the NCCL backend's too).
  static void wait_for_all(MPI_Comm comm, int rank, int size);
  // Throws tleg::Error naming `operation`, this rank and MPI's reason unless `code` is success.
  void check(int code, const char* operation) const;

 private:
  MPI_Comm comm_;
  CommunicatorOptions options_;
  int rank_ = 0, size_ = 1;
};

}  // namespace tleg::dist

// Data-parallel gradient averaging: gradients are fused into buckets, and each bucket's
// all-reduce starts during backward as soon as all its gradients exist, so that communication
// overlaps the rest of the backward pass. One code path for the MPI and NCCL backends.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace tleg::dist {

struct GradientReducerOptions {
  // 25 MiB is PyTorch DDP's default: large enough that each all-reduce runs near the link's
  // bandwidth rather than its latency, small enough that the first bucket can start while most
  // of the backward pass is still ahead.
  std::int64_t bucket_bytes = 25 * 1024 * 1024;
  // Start each bucket's all-reduce during backward once its gradients are in (true), or start
  // them all in finish() (false): the reference that measures what the overlap is worth.
  bool overlap = true;
};

// Parameter indices per bucket, in the order the buckets are reduced: parameters are taken in
// reverse registration order (backward produces gradients roughly from the last layer to the
// first), a bucket is closed when the next parameter would take it past `bucket_bytes` or has
// another dtype or device. A parameter larger than `bucket_bytes` gets a bucket of its own.
std::vector<std::vector<std::size_t>> assign_buckets(const std::vector<at::Tensor>& parameters,
                                                     std::int64_t bucket_bytes);

class GradientReadyHook;

// Use per step: zero (or reset) the gradients, backward, finish(), optimiser step. Gradients
// that accumulate over several backward passes before finish() are not supported (the second
// pass throws). `communicator` and the parameters must outlive the reducer.
class GradientReducer {
 public:
  // Installs a post-accumulate-grad hook on every parameter (leaf tensors requiring grad; none
  // may carry such a hook already).
  GradientReducer(std::vector<at::Tensor> parameters, Communicator& communicator,
                  const GradientReducerOptions& options = {});
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Gives every rank root's parameter values (call once before training, so that ranks that
  // initialised differently start equal).
  void broadcast_parameters(int root = 0);

  // Completes this step's reduction: reduces the buckets whose gradients did not all arrive (a
  // parameter without a gradient this step counts as zero, so every rank takes part in every
  // bucket), waits for all, and writes the averages into each parameter's grad(). A parameter
  // that had no gradient on this rank gets one.
  void finish();

  std::int64_t bytes_reduced_last_step() const { return bytes_reduced_last_step_; }
  const std::vector<std::vector<std::size_t>>& buckets() const { return assignment_; }

 private:
  friend class GradientReadyHook;
  struct Bucket {
    std::vector<std::size_t> members;   // parameter indices
    std::vector<std::int64_t> offsets;  // element offset of each member in `buffer`
    at::Tensor buffer;                  // flat, the members' dtype and device
    std::size_t missing = 0;            // members whose gradient has not arrived this step
    std::unique_ptr<PendingCollective> reduction;
  };

  void on_gradient_ready(std::size_t parameter);
  void launch_ready_buckets();
  void launch(Bucket& bucket);
  at::Tensor slot(const Bucket& bucket, std::size_t member) const;

  std::vector<at::Tensor> parameters_;
  Communicator& communicator_;
  std::vector<std::vector<std::size_t>> assignment_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_, member_of_;  // where each parameter sits
  std::vector<bool> arrived_;                       // per parameter, this step
  std::size_t next_launch_ = 0;  // buckets are launched in order so that all ranks agree
  bool overlap_;
  std::int64_t bytes_this_step_ = 0;
  std::int64_t bytes_reduced_last_step_ = 0;
};

}  // namespace tleg::dist

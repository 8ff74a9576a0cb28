// Bucketed, overlapped gradient averaging. The hooks fire after AccumulateGrad has written a
// parameter's grad(); the bucket's all-reduce starts once its last member has arrived, and
// buckets start strictly in order so that every rank issues the same collectives in the same
// sequence (a requirement of both MPI and NCCL).
#include "dist/gradient_reducer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "common/error.h"

namespace tleg::dist {

class GradientReadyHook final : public torch::autograd::PostAccumulateGradHook {
 public:
  GradientReadyHook(GradientReducer& reducer, std::size_t parameter)
      : reducer_(reducer), parameter_(parameter) {}
  void operator()(const torch::autograd::Variable& /*parameter*/) override {
    reducer_.on_gradient_ready(parameter_);
  }

 private:
  GradientReducer& reducer_;
  std::size_t parameter_;
};

std::vector<std::vector<std::size_t>> assign_buckets(const std::vector<at::Tensor>& parameters,
                                                     std::int64_t bucket_bytes) {
  std::vector<std::vector<std::size_t>> buckets;
  std::int64_t bytes = 0;
  for (std::size_t i = parameters.size(); i-- > 0;) {
    const at::Tensor& parameter = parameters[i];
    const std::int64_t size =
        parameter.numel() * static_cast<std::int64_t>(parameter.element_size());
    bool fits = !buckets.empty() && bytes + size <= bucket_bytes;
    if (fits) {
      const at::Tensor& first = parameters[buckets.back().front()];
      fits = first.scalar_type() == parameter.scalar_type() && first.device() == parameter.device();
    }
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(i);
    bytes += size;
  }
  return buckets;
}

GradientReducer::GradientReducer(std::vector<at::Tensor> parameters, Communicator& communicator,
                                 const GradientReducerOptions& options)
    : parameters_(std::move(parameters)), communicator_(communicator), overlap_(options.overlap) {
  if (options.bucket_bytes <= 0)
    fail("GradientReducer: bucket_bytes must be positive, got ", options.bucket_bytes);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& parameter = parameters_[i];
    if (!parameter.defined() || !parameter.requires_grad() || !parameter.is_leaf())
      fail("GradientReducer on rank ", communicator_.rank(), ": parameter ", i,
           " must be a defined leaf tensor that requires grad");
  }
  assignment_ = assign_buckets(parameters_, options.bucket_bytes);
  bucket_of_.resize(parameters_.size());
  member_of_.resize(parameters_.size());
  arrived_.assign(parameters_.size(), false);
  for (std::size_t b = 0; b < assignment_.size(); ++b) {
    Bucket bucket;
    bucket.members = assignment_[b];
    std::int64_t elements = 0;
    for (std::size_t m = 0; m < bucket.members.size(); ++m) {
      bucket_of_[bucket.members[m]] = b;
      member_of_[bucket.members[m]] = m;
      bucket.offsets.push_back(elements);
      elements += parameters_[bucket.members[m]].numel();
    }
    bucket.buffer =
        at::zeros({elements}, parameters_[bucket.members.front()].options().requires_grad(false));
    bucket.missing = bucket.members.size();
    buckets_.push_back(std::move(bucket));
  }
  // Hooks last: once installed they point at a complete reducer.
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (torch::autograd::impl::post_acc_grad_hooks(parameters_[i]))
      fail("GradientReducer on rank ", communicator_.rank(), ": parameter ", i,
           " already has a post-accumulate-grad hook (listed twice, or in another reducer)");
    torch::autograd::impl::set_post_acc_grad_hooks(parameters_[i],
                                                   std::make_unique<GradientReadyHook>(*this, i));
  }
}

GradientReducer::~GradientReducer() {
  for (const at::Tensor& parameter : parameters_)
    torch::autograd::impl::set_post_acc_grad_hooks(parameter, nullptr);
  // Buckets still in flight are waited for by their PendingCollective destructors.
}

at::Tensor GradientReducer::slot(const Bucket& bucket, std::size_t member) const {
  const at::Tensor& parameter = parameters_[bucket.members[member]];
  return bucket.buffer.narrow(0, bucket.offsets[member], parameter.numel()).view(parameter.sizes());
}

void GradientReducer::broadcast_parameters(int root) {
  c10::NoGradGuard no_grad;
  for (Bucket& bucket : buckets_) {
    for (std::size_t m = 0; m < bucket.members.size(); ++m)
      slot(bucket, m).copy_(parameters_[bucket.members[m]]);
    communicator_.broadcast(bucket.buffer, root);
    for (std::size_t m = 0; m < bucket.members.size(); ++m)
      parameters_[bucket.members[m]].copy_(slot(bucket, m));
  }
}

void GradientReducer::on_gradient_ready(std::size_t parameter) {
  if (arrived_[parameter])
    fail("GradientReducer on rank ", communicator_.rank(), ": the gradient of parameter ",
         parameter, " arrived twice in one step; call finish() after each backward pass");
  arrived_[parameter] = true;
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  const at::Tensor& grad = parameters_[parameter].grad();
  if (grad.is_sparse())
    fail("GradientReducer on rank ", communicator_.rank(), ": parameter ", parameter,
         " has a sparse gradient, which is not supported");
  {
    c10::NoGradGuard no_grad;
    slot(bucket, member_of_[parameter]).copy_(grad);
  }
  --bucket.missing;
  if (!overlap_) return;  // finish() launches every bucket
  launch_ready_buckets();
  // MPI advances non-blocking collectives only inside MPI calls: poke the ones in flight.
  for (std::size_t b = 0; b < next_launch_; ++b)
    if (buckets_[b].reduction) buckets_[b].reduction->ready();
}

void GradientReducer::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].missing == 0)
    launch(buckets_[next_launch_++]);
}

void GradientReducer::launch(Bucket& bucket) {
  bucket.reduction = communicator_.all_reduce_async(bucket.buffer, ReduceOp::Average);
  bytes_this_step_ +=
      bucket.buffer.numel() * static_cast<std::int64_t>(bucket.buffer.element_size());
}

void GradientReducer::finish() {
  // Parameters that got no gradient this step contribute zeros.
  for (std::size_t b = next_launch_; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    for (std::size_t m = 0; m < bucket.members.size(); ++m)
      if (!arrived_[bucket.members[m]]) slot(bucket, m).zero_();
    bucket.missing = 0;
  }
  launch_ready_buckets();

  c10::NoGradGuard no_grad;
  for (Bucket& bucket : buckets_) {
    bucket.reduction->wait();
    bucket.reduction.reset();
    for (std::size_t m = 0; m < bucket.members.size(); ++m) {
      at::Tensor& parameter = parameters_[bucket.members[m]];
      at::Tensor averaged = slot(bucket, m);
      if (parameter.grad().defined())
        parameter.mutable_grad().copy_(averaged);
      else
        parameter.mutable_grad() = averaged.clone();
    }
    bucket.missing = bucket.members.size();
  }
  std::fill(arrived_.begin(), arrived_.end(), false);
  next_launch_ = 0;
  bytes_reduced_last_step_ = bytes_this_step_;
  bytes_this_step_ = 0;
}

}  // namespace tleg::dist

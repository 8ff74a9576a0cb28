// The NCCL backend: collectives on CUDA tensors, run on a stream of their own that waits (with a
// CUDA event) for the work LibTorch queued on its current stream, so that compute and
// communication overlap and still see each other's results.
#include "dist/nccl_communicator.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <thread>

#include "common/error.h"
#include "dist/failure_notice.h"
#include "dist/mpi_communicator.h"
#include "dist/world.h"

namespace tleg::dist {
namespace {

using Clock = std::chrono::steady_clock;

void check_cuda(cudaError_t code, const char* operation, int rank) {
  if (code != cudaSuccess)
    fail(operation, " on rank ", rank, ": CUDA error: ", cudaGetErrorString(code));
}

ncclDataType_t nccl_type(const at::Tensor& tensor, const char* operation, int rank) {
  switch (tensor.scalar_type()) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kLong:
      return ncclInt64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    default:
      fail(operation, " on rank ", rank, ": dtype ", tensor.scalar_type(),
           " is not supported by the NCCL backend");
  }
}

class NcclCommunicator;

// A collective queued on the communicator's stream; `done` is recorded after it.
class NcclPending final : public PendingCollective {
 public:
  NcclPending(NcclCommunicator& owner, cudaEvent_t done, const char* operation)
      : owner_(owner), done_(done), operation_(operation) {}
  ~NcclPending() override;
  bool ready() override;
  void wait() override;

 private:
  NcclCommunicator& owner_;
  cudaEvent_t done_;
  const char* operation_;
  bool finished_ = false;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm mpi, ncclComm_t comm, c10::DeviceIndex device,
                   const CommunicatorOptions& options)
      : mpi_(mpi),
        host_(std::make_unique<MpiCommunicator>(duplicate(mpi), options)),
        comm_(comm),
        device_(device),
        stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device)),
        options_(options) {
    MPI_Comm_rank(mpi_, &rank_);
    MPI_Comm_size(mpi_, &size_);
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) {
      ncclCommFinalize(comm_);
      ncclCommDestroy(comm_);
    }
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&mpi_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  std::unique_ptr<PendingCollective> all_reduce_async(const at::Tensor& tensor,
                                                      ReduceOp op) override {
    const char* operation = "ncclAllReduce";
    check_tensor(tensor, operation);
    if (op == ReduceOp::Average && !at::isFloatingType(tensor.scalar_type()))
      fail(operation, " on rank ", rank_, ": Average needs a floating-point tensor");
    c10::cuda::CUDAGuard guard(device_);
    order_after_current_stream(operation);
    check(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                        nccl_type(tensor, operation, rank_),
                        op == ReduceOp::Average ? ncclAvg : ncclSum, comm_, stream_.stream()),
          operation);
    keep_alive(tensor);
    return finish_enqueue(operation);
  }

  // On the host, over MPI: a flag read every step must not wait for the GPU.
  std::unique_ptr<PendingFlag> any_async(bool flag) override { return host_->any_async(flag); }

  void broadcast(at::Tensor& tensor, int root) override {
    const char* operation = "ncclBroadcast";
    check_tensor(tensor, operation);
    if (root < 0 || root >= size_)
      fail(operation, " on rank ", rank_, ": root ", root, " is outside [0, ", size_, ")");
    c10::cuda::CUDAGuard guard(device_);
    order_after_current_stream(operation);
    check(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                        nccl_type(tensor, operation, rank_), root, comm_, stream_.stream()),
          operation);
    keep_alive(tensor);
    finish_enqueue(operation)->wait();
  }

  at::Tensor all_gather(const at::Tensor& tensor) override {
    const char* operation = "ncclAllGather";
    check_tensor(tensor, operation);
    c10::cuda::CUDAGuard guard(device_);
    std::vector<std::int64_t> shape{size_};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    at::Tensor gathered = at::empty(shape, tensor.options());
    order_after_current_stream(operation);
    check(ncclAllGather(tensor.data_ptr(), gathered.data_ptr(), tensor.numel(),
                        nccl_type(tensor, operation, rank_), comm_, stream_.stream()),
          operation);
    keep_alive(tensor);
    keep_alive(gathered);
    finish_enqueue(operation)->wait();
    return gathered;
  }

  // NCCL has no barrier: a one-element all-reduce that wait() blocks the host on.
  void barrier() override {
    c10::cuda::CUDAGuard guard(device_);
    at::Tensor token = at::zeros(
        {1}, at::TensorOptions().dtype(at::kFloat).device(c10::Device(c10::kCUDA, device_)));
    all_reduce_async(token, ReduceOp::Sum)->wait();
  }

  // Over the MPI communicator of the same ranks: no GPU work, no NCCL timeout.
  void wait_for_all() override { MpiCommunicator::wait_for_all(mpi_, rank_, size_); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    if (color < 0) fail("split on rank ", rank_, ": colour ", color, " must be >= 0");
    c10::cuda::CUDAGuard guard(device_);
    MPI_Comm mpi_part = MPI_COMM_NULL;
    if (MPI_Comm_split(mpi_, color, key, &mpi_part) != MPI_SUCCESS)
      fail("MPI_Comm_split on rank ", rank_, " failed while splitting an NCCL communicator");
    ncclComm_t part = nullptr;
    check(ncclCommSplit(comm_, color, key, &part, nullptr), "ncclCommSplit");
    return std::make_unique<NcclCommunicator>(mpi_part, part, device_, options_);
  }

  // Blocks the host until `done` has passed, watching for NCCL's asynchronous errors; past the
  // timeout, aborts the NCCL communicator (so that kernels stuck in it return) and ends the job.
  void wait_for(cudaEvent_t done, const char* operation) {
    const auto start = Clock::now();
    for (long spins = 0;; ++spins) {
      const cudaError_t state = cudaEventQuery(done);
      if (state == cudaSuccess) break;
      if (state != cudaErrorNotReady) check_cuda(state, operation, rank_);
      ncclResult_t async_error = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &async_error), operation);
      check(async_error, operation);
      if (spins < 1000) continue;
      exit_if_another_rank_failed();
      if (Clock::now() - start > options_.timeout) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        abort_job(concat("rank ", world_rank(), ": error: ", operation, " timed out after ",
                         std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count(),
                         " s on rank ", rank_, " of ", size_,
                         " of its communicator: another rank has stopped or skipped it"));
      }
      std::this_thread::yield();
    }
    // The host has seen it finish; this also orders later work on the current stream after it
    // for the record (cheap: the event has completed).
    check_cuda(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(device_).stream(), done, 0),
               operation, rank_);
  }

  int world_rank_of_this() const { return world_rank(); }

 private:
  static int world_rank() {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
  }

  void check(ncclResult_t code, const char* operation) const {
    if (code == ncclSuccess || code == ncclInProgress) return;
    const char* last = comm_ != nullptr ? ncclGetLastError(comm_) : "";
    fail(operation, " failed on rank ", rank_, " of ", size_, " (world rank ", world_rank(),
         "): ", ncclGetErrorString(code), (last && *last) ? concat(" (", last, ")") : "");
  }

  void check_tensor(const at::Tensor& tensor, const char* operation) const {
    if (!tensor.defined()) fail(operation, " on rank ", rank_, ": the tensor is undefined");
    if (!tensor.is_cuda() || tensor.device().index() != device_)
      fail(operation, " on rank ", rank_,
           ": this NCCL communicator takes tensors on cuda:", static_cast<int>(device_), ", got ",
           tensor.device());
    if (!tensor.is_contiguous())
      fail(operation, " on rank ", rank_, ": the tensor must be contiguous");
  }

  // Our stream waits for what LibTorch queued so far (e.g. the backward kernels that wrote the
  // gradients), without blocking the host.
  void order_after_current_stream(const char* operation) {
    cudaEvent_t queued = nullptr;
    check_cuda(cudaEventCreateWithFlags(&queued, cudaEventDisableTiming), operation, rank_);
    check_cuda(cudaEventRecord(queued, c10::cuda::getCurrentCUDAStream(device_).stream()),
               operation, rank_);
    check_cuda(cudaStreamWaitEvent(stream_.stream(), queued, 0), operation, rank_);
    check_cuda(cudaEventDestroy(queued), operation, rank_);  // released once the wait is done
  }

  // The caching allocator must not hand this memory to another tensor until our stream is done.
  void keep_alive(const at::Tensor& tensor) {
    c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), stream_);
  }

  std::unique_ptr<PendingCollective> finish_enqueue(const char* operation) {
    cudaEvent_t done = nullptr;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), operation, rank_);
    check_cuda(cudaEventRecord(done, stream_.stream()), operation, rank_);
    return std::make_unique<NcclPending>(*this, done, operation);
  }

  static MPI_Comm duplicate(MPI_Comm comm) {
    MPI_Comm copy = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &copy) != MPI_SUCCESS)
      fail("MPI_Comm_dup failed for an NCCL communicator's host-side collectives");
    return copy;
  }

  MPI_Comm mpi_;
  std::unique_ptr<MpiCommunicator> host_;  // host-side collectives of the same ranks
  ncclComm_t comm_;
  c10::DeviceIndex device_;
  c10::cuda::CUDAStream stream_;
  CommunicatorOptions options_;
  int rank_ = 0, size_ = 1;
};

NcclPending::~NcclPending() {
  if (!finished_) {
    try {
      wait();
    } catch (const std::exception& error) {
      abort_job(concat("rank ", owner_.world_rank_of_this(), ": error: ", error.what()));
    }
  }
  cudaEventDestroy(done_);
}

bool NcclPending::ready() {
  if (!finished_ && cudaEventQuery(done_) == cudaSuccess) wait();
  return finished_;
}

void NcclPending::wait() {
  if (finished_) return;
  owner_.wait_for(done_, operation_);
  finished_ = true;
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, c10::DeviceIndex device,
                                                     const CommunicatorOptions& options) {
  MPI_Comm mpi = MPI_COMM_NULL;
  if (MPI_Comm_dup(parent, &mpi) != MPI_SUCCESS) fail("MPI_Comm_dup failed for NCCL set-up");
  int rank = 0, size = 1;
  MPI_Comm_rank(mpi, &rank);
  MPI_Comm_size(mpi, &size);
  ncclUniqueId id{};
  if (rank == 0) {
    if (const ncclResult_t code = ncclGetUniqueId(&id); code != ncclSuccess)
      fail("ncclGetUniqueId failed on rank 0: ", ncclGetErrorString(code));
  }
  if (MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, mpi) != MPI_SUCCESS)
    fail("broadcasting the NCCL unique id failed on rank ", rank);
  c10::cuda::CUDAGuard guard(device);
  ncclComm_t comm = nullptr;
  if (const ncclResult_t code = ncclCommInitRank(&comm, size, id, rank); code != ncclSuccess)
    fail("ncclCommInitRank failed on rank ", rank, " of ", size,
         " (cuda:", static_cast<int>(device), "): ", ncclGetErrorString(code),
         "; each rank needs its own GPU");
  return std::make_unique<NcclCommunicator>(mpi, comm, device, options);
}

std::string nccl_version() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "NCCL (version unknown)";
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return concat("NCCL ", code / 10000, ".", code / 100 % 100, ".", code % 100);
}

}  // namespace tleg::dist

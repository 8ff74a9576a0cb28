// The MPI backend: non-blocking MPI collectives on CPU tensors, completed by polling MPI_Test so
// that a rank that never arrives ends the job after a timeout instead of hanging it.
#include "dist/mpi_communicator.h"

#include <ATen/ATen.h>

#include <climits>
#include <thread>

#include "common/error.h"
#include "dist/failure_notice.h"
#include "dist/world.h"

namespace tleg::dist {
namespace {

using Clock = std::chrono::steady_clock;

MPI_Datatype mpi_type(const at::Tensor& tensor, const char* operation, int rank) {
  switch (tensor.scalar_type()) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kLong:
      return MPI_INT64_T;
    default:
      fail(operation, " on rank ", rank, ": dtype ", tensor.scalar_type(),
           " is not supported by the MPI backend (float32, float64, int64)");
  }
}

// The checks every collective shares; returns the element count as MPI wants it.
int checked_count(const at::Tensor& tensor, const char* operation, int rank) {
  if (!tensor.defined()) fail(operation, " on rank ", rank, ": the tensor is undefined");
  if (!tensor.device().is_cpu())
    fail(operation, " on rank ", rank, ": the MPI backend takes CPU tensors, got ", tensor.device(),
         " (use make_communicator with that device for NCCL)");
  if (!tensor.is_contiguous())
    fail(operation, " on rank ", rank, ": the tensor must be contiguous");
  if (tensor.numel() > INT_MAX)
    fail(operation, " on rank ", rank, ": ", tensor.numel(),
         " elements exceed MPI's int count; split the tensor");
  return static_cast<int>(tensor.numel());
}

// For the destructor of a request still in flight: it owns its buffers, which MPI writes into
// until it completes, so it is completed here, or the job ends naming why it could not be.
template <typename Wait>
void complete_or_abort(Wait&& wait) noexcept {
  try {
    wait();
  } catch (const std::exception& error) {
    abort_job(concat("rank ", world_rank(), ": error: ", error.what()));
  }
}

class MpiPendingReduce final : public PendingCollective {
 public:
  MpiPendingReduce(const MpiCommunicator& owner, MPI_Request request, at::Tensor tensor,
                   ReduceOp op)
      : owner_(owner), request_(request), tensor_(std::move(tensor)), op_(op) {}

  ~MpiPendingReduce() override {
    if (!done_) complete_or_abort([this] { wait(); });
  }

  bool ready() override {
    if (done_) return true;
    int flag = 0;
    owner_.check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Iallreduce");
    if (flag) complete();
    return done_;
  }

  void wait() override {
    if (done_) return;
    owner_.wait_for(request_, "MPI_Iallreduce");
    complete();
  }

 private:
  void complete() {
    done_ = true;
    // MPI has no average: sum, then divide once here.
    if (op_ == ReduceOp::Average) tensor_.div_(owner_.size());
  }

  const MpiCommunicator& owner_;
  MPI_Request request_;
  at::Tensor tensor_;
  ReduceOp op_;
  bool done_ = false;
};

class MpiPendingFlag final : public PendingFlag {
 public:
  MpiPendingFlag(const MpiCommunicator& owner, bool flag) : owner_(owner), local_(flag ? 1 : 0) {
    owner_.check(MPI_Iallreduce(&local_, &any_, 1, MPI_INT, MPI_LOR, owner_.comm(), &request_),
                 "MPI_Iallreduce of a flag");
  }

  ~MpiPendingFlag() override {
    if (!done_) complete_or_abort([this] { wait(); });
  }

  bool wait() override {
    if (!done_) owner_.wait_for(request_, "MPI_Iallreduce of a flag");
    done_ = true;
    return any_ != 0;
  }

 private:
  const MpiCommunicator& owner_;
  int local_, any_ = 0;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, const CommunicatorOptions& options)
    : comm_(comm), options_(options) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check(int code, const char* operation) const {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(operation, " failed on rank ", rank_, " of ", size_, " (world rank ", world_rank(),
       "): ", std::string(text, length));
}

void MpiCommunicator::wait_for(MPI_Request& request, const char* operation) const {
  const auto start = Clock::now();
  for (long spins = 0;; ++spins) {
    int flag = 0;
    check(MPI_Test(&request, &flag, MPI_STATUS_IGNORE), operation);
    if (flag) return;
    // Spin first (a collective between ready ranks takes microseconds), then give the core
    // away: with more ranks than cores a spinning rank starves the one it waits for.
    if (spins < 1000) continue;
    exit_if_another_rank_failed();
    const auto waited = Clock::now() - start;
    if (waited > options_.timeout) {
      abort_job(concat("rank ", world_rank(), ": error: ", operation, " timed out after ",
                       std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count(),
                       " s on rank ", rank_, " of ", size_,
                       " of its communicator: another rank has stopped or skipped it"));
    }
    // Yielding still calls MPI_Test at once when no other thread wants the core, and a large
    // collective moves forward only inside MPI calls (each round of libnbc's schedule, each
    // rendezvous hand-shake): sleeping from 10 ms on made 64-256 MiB all-reduces 6-15% slower
    // than MPI_Allreduce, yielding up to 1 s brought them within this VM's noise
    // (bench/run_allreduce.sh). Sleep only once the wait looks like a rank that is busy
    // elsewhere (an evaluation, a checkpoint), not a transfer.
    if (waited < std::chrono::seconds(1))
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

std::unique_ptr<PendingCollective> MpiCommunicator::all_reduce_async(const at::Tensor& tensor,
                                                                     ReduceOp op) {
  const char* operation = "MPI_Iallreduce";
  const int count = checked_count(tensor, operation, rank_);
  const MPI_Datatype type = mpi_type(tensor, operation, rank_);
  if (op == ReduceOp::Average && !at::isFloatingType(tensor.scalar_type()))
    fail(operation, " on rank ", rank_, ": Average needs a floating-point tensor, got ",
         tensor.scalar_type());
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), count, type, MPI_SUM, comm_, &request),
        operation);
  return std::make_unique<MpiPendingReduce>(*this, request, tensor, op);
}

std::unique_ptr<PendingFlag> MpiCommunicator::any_async(bool flag) {
  return std::make_unique<MpiPendingFlag>(*this, flag);
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  const char* operation = "MPI_Ibcast";
  const int count = checked_count(tensor, operation, rank_);
  if (root < 0 || root >= size_)
    fail(operation, " on rank ", rank_, ": root ", root, " is outside [0, ", size_, ")");
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibcast(tensor.data_ptr(), count, mpi_type(tensor, operation, rank_), root, comm_,
                   &request),
        operation);
  wait_for(request, operation);
}

at::Tensor MpiCommunicator::all_gather(const at::Tensor& tensor) {
  const char* operation = "MPI_Iallgather";
  const int count = checked_count(tensor, operation, rank_);
  const MPI_Datatype type = mpi_type(tensor, operation, rank_);
  std::vector<std::int64_t> shape{size_};
  shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
  at::Tensor gathered = at::empty(shape, tensor.options());
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Iallgather(tensor.data_ptr(), count, type, gathered.data_ptr(), count, type, comm_,
                       &request),
        operation);
  wait_for(request, operation);
  return gathered;
}

void MpiCommunicator::barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
  wait_for(request, "MPI_Ibarrier");
}

void MpiCommunicator::wait_for_all() { wait_for_all(comm_, rank_, size_); }

void MpiCommunicator::wait_for_all(MPI_Comm comm, int rank, int size) {
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(comm, &request) != MPI_SUCCESS)
    fail("MPI_Ibarrier failed on rank ", rank, " of ", size, " (world rank ", world_rank(), ")");
  for (;;) {
    int flag = 0;
    if (MPI_Test(&request, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      fail("MPI_Test of a barrier failed on rank ", rank, " of ", size, " (world rank ",
           world_rank(), ")");
    if (flag) return;
    exit_if_another_rank_failed();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // minutes to hours: no spinning
  }
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  if (color < 0) fail("split on rank ", rank_, ": colour ", color, " must be >= 0");
  MPI_Comm part = MPI_COMM_NULL;
  check(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
  return std::make_unique<MpiCommunicator>(part, options_);
}

}  // namespace tleg::dist

// The backend choice: NCCL for CUDA tensors, MPI for CPU tensors.
#include "dist/communicator.h"

#include "common/error.h"
#include "dist/mpi_communicator.h"
#include "dist/world.h"
#ifdef TLEG_HAVE_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace tleg::dist {

std::unique_ptr<Communicator> make_communicator(World& world, c10::Device device,
                                                const CommunicatorOptions& options) {
  if (device.is_cuda()) {
#ifdef TLEG_HAVE_CUDA
    return make_nccl_communicator(
        MPI_COMM_WORLD, device.has_index() ? device.index() : world.device().index(), options);
#else
    fail("rank ", world.rank(), ": a communicator for ", device,
         " needs a CUDA build of tleg (this one was built without CUDA/NCCL)");
#endif
  }
  if (!device.is_cpu())
    fail("rank ", world.rank(), ": no communicator backend for device ", device);
  // Our own duplicate, so that tleg's collectives never match messages of other MPI users.
  MPI_Comm comm = MPI_COMM_NULL;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS)
    fail("rank ", world.rank(), ": MPI_Comm_dup of MPI_COMM_WORLD failed");
  return std::make_unique<MpiCommunicator>(comm, options);
}

}  // namespace tleg::dist

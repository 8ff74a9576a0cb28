// The NCCL backend of Communicator (CUDA tensors), compiled only in CUDA builds. Internal to
// tleg_dist: users get one from make_communicator().
#pragma once

#include <c10/core/Device.h>
#include <mpi.h>

#include <memory>
#include <string>

#include "dist/communicator.h"

namespace tleg::dist {

// Collective over `parent`: rank 0 makes the NCCL unique id and MPI broadcasts it.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, c10::DeviceIndex device,
                                                     const CommunicatorOptions& options);
// "NCCL 2.28.9" (the library loaded, ncclGetVersion).
std::string nccl_version();

}  // namespace tleg::dist

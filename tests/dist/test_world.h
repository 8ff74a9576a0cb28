// The World of a dist test program, made by its main() before the tests run.
#pragma once

#include "dist/communicator.h"
#include "dist/world.h"

namespace tleg::dist::testing {

World& world();

// A test that fails on one rank must not leave the others waiting for ten minutes.
inline const CommunicatorOptions kTestOptions{.timeout = std::chrono::seconds(60)};

}  // namespace tleg::dist::testing

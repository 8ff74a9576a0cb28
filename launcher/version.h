// What `tleg --version` prints: tleg's version and commit, LibTorch's, the collective backends
// of this build, and whether this machine's CPU (and GPUs) compute bf16 natively, the facts a
// bug report or a benchmark figure needs beside it.
#pragma once

#include <string>

namespace tleg {

std::string version_text();

}  // namespace tleg

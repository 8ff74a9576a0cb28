#include "launcher/version.h"

#include <c10/core/Device.h>
#include <torch/headeronly/version.h>

#include "common/error.h"
#include "dist/world.h"
#include "model/precision.h"
#include "tleg_commit.h"  // written at every build: cmake/WriteCommit.cmake

namespace tleg {

std::string version_text() {
  const Bf16Support cpu = bf16_support(c10::Device(c10::kCPU));
  return concat("tleg ", TLEG_VERSION, " (commit ", TLEG_COMMIT, ")\n", "LibTorch ", TORCH_VERSION,
                "\n", dist::backend_versions(), "\n", "bf16: ", cpu.native ? "native" : "emulated",
                " on this ", cpu.evidence, " (--run.precision auto picks ",
                cpu.native ? "bf16" : "fp32", " here)\n");
}

}  // namespace tleg

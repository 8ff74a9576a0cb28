#include "model/precision.h"

#include <ATen/ATen.h>
#include <ATen/cpu/Utils.h>
#ifdef TLEG_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/timing.h"

namespace tleg {
namespace {

bool cpu_flag(const std::unordered_map<std::string, c10::IValue>& capabilities,
              const std::string& name) {
  const auto found = capabilities.find(name);
  return found != capabilities.end() && found->second.isBool() && found->second.toBool();
}

// Seconds of the fastest of three 256 x 256 matrix products in `dtype` on the CPU, after one
// untimed product (oneDNN picks and caches its kernel on the first call).
double cpu_product_seconds(at::ScalarType dtype) {
  const at::Tensor a = at::ones({256, 256}, at::TensorOptions().dtype(dtype));
  at::mm(a, a);
  double best = INFINITY;
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    at::mm(a, a);
    best = std::min(best, seconds_since(start));
  }
  return best;
}

}  // namespace

std::string precision_name(Precision precision) {
  return precision == Precision::kBFloat16 ? "bf16" : "fp32";
}

PrecisionRequest parse_precision(const std::string& name) {
  if (name == "auto") return PrecisionRequest::kAuto;
  if (name == "fp32") return PrecisionRequest::kFloat32;
  if (name == "bf16") return PrecisionRequest::kBFloat16;
  fail("precision '", name, "' (--run.precision) is not one of: auto, fp32, bf16");
}

std::string precision_request_name(PrecisionRequest request) {
  switch (request) {
    case PrecisionRequest::kAuto:
      return "auto";
    case PrecisionRequest::kFloat32:
      return "fp32";
    case PrecisionRequest::kBFloat16:
      return "bf16";
  }
  fail("internal: unknown precision request");
}

Bf16Support bf16_support(const c10::Device& device) {
  if (device.is_cuda()) {
#ifdef TLEG_HAVE_CUDA
    const cudaDeviceProp* properties = at::cuda::getDeviceProperties(device.index());
    const std::string capability =
        concat("GPU of compute capability ", properties->major, ".", properties->minor);
    if (properties->major >= 8) return {true, capability};
    return {false, capability + " (bf16 tensor cores need 8.0)"};
#else
    fail("a CUDA device in a build without CUDA");
#endif
  }
  // cpuinfo, as LibTorch's CPU dispatch and oneDNN's kernel choice read the processor.
  const auto capabilities = at::cpu::get_cpu_capabilities();
  if (cpu_flag(capabilities, "amx_bf16")) return {true, "CPU with AMX_BF16"};
  if (cpu_flag(capabilities, "avx512_bf16")) return {true, "CPU with AVX512_BF16"};
  return {false, "CPU without AVX512_BF16 or AMX_BF16"};
}

PrecisionChoice choose_precision(PrecisionRequest request, const c10::Device& device) {
  const Bf16Support support = bf16_support(device);
  PrecisionChoice choice;
  switch (request) {
    case PrecisionRequest::kAuto:
      choice.precision = support.native ? Precision::kBFloat16 : Precision::kFloat32;
      choice.reason =
          concat("precision ", precision_name(choice.precision), " (auto: ", support.evidence, ")");
      return choice;
    case PrecisionRequest::kFloat32:
      choice.reason = concat("precision fp32 (as asked; ", support.evidence, ")");
      return choice;
    case PrecisionRequest::kBFloat16:
      choice.precision = Precision::kBFloat16;
      choice.reason = concat("precision bf16 (as asked; ", support.evidence, ")");
      if (support.native) return choice;
      if (device.is_cuda()) {
        choice.warning = concat("bf16 on a ", support.evidence,
                                " is emulated and slower than fp32; --run.precision auto picks "
                                "fp32 here");
      } else {
        const double slowdown =
            cpu_product_seconds(at::kBFloat16) / cpu_product_seconds(at::kFloat);
        choice.warning = concat(
            "bf16 on a ", support.evidence,
            " is emulated by oneDNN: a 256x256 bf16 matrix "
            "product ran ",
            static_cast<int>(std::lround(slowdown)),
            "x slower than fp32 here just now, and the run's steps will be slower by up to as "
            "much; --run.precision auto picks fp32 here");
      }
      return choice;
  }
  return choice;
}

}  // namespace tleg

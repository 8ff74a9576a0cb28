// The precision a model computes in, and how `--run.precision auto` picks it from the device.
// No torch here beyond a declaration of c10::Device: the launcher and the benchmarks use it.
#pragma once

#include <string>

namespace c10 {
struct Device;
}

namespace tleg {

// The dtype a forward and backward pass computes in. kFloat32: the parameters' own dtype
// throughout (float32; float64 in tests). kBFloat16: mixed precision over float32 master
// weights: matrix products, attention and activations in bfloat16, LayerNorm statistics,
// pooling, head and loss in float32.
enum class Precision { kFloat32, kBFloat16 };
std::string precision_name(Precision precision);  // "fp32" or "bf16"

// What --run.precision asks for: a precision, or auto: bf16 where the device computes it
// natively, fp32 elsewhere (without native instructions oneDNN emulates bf16, and a bf16
// matrix product runs tens of times slower than a float32 one).
enum class PrecisionRequest { kAuto, kFloat32, kBFloat16 };
// "auto", "fp32" or "bf16"; throws tleg::Error naming the value and the choices otherwise.
PrecisionRequest parse_precision(const std::string& name);
std::string precision_request_name(PrecisionRequest request);  // parse_precision's inverse

// Whether a device computes bfloat16 matrix products natively, and the evidence in words.
// CPU: cpuinfo's AVX512_BF16 or AMX_BF16 flag (what oneDNN's bf16 kernels need). CUDA: compute
// capability 8.0 or newer (Ampere's bf16 tensor cores).
struct Bf16Support {
  bool native = false;
  std::string evidence;  // e.g. "CPU with AVX512_BF16", "CPU without AVX512_BF16 or AMX_BF16"
};
Bf16Support bf16_support(const c10::Device& device);

// The precision a run computes in and the one line that says why. `warning` is set when bf16 was
// asked for on a device without native bf16: it says how much slower a bf16 matrix product was
// measured to be there than a float32 one.
struct PrecisionChoice {
  Precision precision = Precision::kFloat32;
  std::string reason;   // e.g. "precision fp32 (auto: CPU without AVX512_BF16 or AMX_BF16)"
  std::string warning;  // empty unless the choice is expected to be slow
};
PrecisionChoice choose_precision(PrecisionRequest request, const c10::Device& device);

}  // namespace tleg

// State dicts written by other tools: torch.save's zip container (Python's
// torch.save(model.state_dict()), timm checkpoints, tleg export) and .safetensors files, read
// without Python; .safetensors written too (tleg export); and a trained plain ViT from any of
// them or from a tleg model file.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "weights/weights_file.h"

namespace tleg {

// name -> tensor of a torch.save file holding a dict of tensors, in the file's order. Errors
// name the file and say how to save one that can be read.
std::vector<std::pair<std::string, at::Tensor>> read_torch_state_dict(const std::string& path);
// name -> tensor of a .safetensors file (floating-point tensors), sorted by name.
std::vector<std::pair<std::string, at::Tensor>> read_safetensors(const std::string& path);
// Writes name -> tensor (floating point, as read_safetensors reads them) as a .safetensors file,
// the tensors' bytes in the given order, with `metadata` as its "__metadata__" (strings only, as
// the format requires); through PATH.partial and a rename, so a partial file never looks done.
void write_safetensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::string& path,
                       const std::map<std::string, std::string>& metadata = {});

// The 12 tensor names of a plain pre-norm ViT block, in the order of docs/method.md §1
// ("norm1.weight", ...).
const std::vector<std::string>& block_tensor_names();

// A trained plain ViT from a tleg model file (.h5, kind "vit") or a timm state dict (.pt from
// torch.save(model.state_dict()) or tleg export, or .safetensors). For a state dict the
// architecture is inferred from the tensor shapes; the head count cannot be, so it is `heads`
// (0: unknown, config.heads stays 0 and writing a learngene from it is refused). Tensors keep
// their names and dtypes; layouts other than timm's VisionTransformer blocks are refused with
// the tensor that does not fit.
WeightsFile load_trained_vit(const std::string& path, std::int64_t heads = 0);

}  // namespace tleg

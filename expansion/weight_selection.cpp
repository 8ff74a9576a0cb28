#include "expansion/weight_selection.h"

#include <ATen/ATen.h>

#include <vector>

#include "common/error.h"

namespace tleg {

at::Tensor uniform_selection_indices(std::int64_t source_size, std::int64_t size) {
  if (source_size < size)
    fail("weight selection cannot take ", size, " elements from a dimension of ", source_size);
  if (source_size % size == 0) return at::arange(size, at::kLong) * (source_size / size);
  // torch.linspace's default dtype (float32) and torch.round, so the indices are the method's
  // to the last one where a value falls on a half.
  return at::round(at::linspace(0, static_cast<double>(source_size - 1), size, at::kFloat))
      .to(at::kLong);
}

at::Tensor select_uniformly(const at::Tensor& source, at::IntArrayRef shape) {
  if (source.dim() != static_cast<std::int64_t>(shape.size()))
    fail("weight selection: a tensor of shape ", source.sizes(), " cannot give one of shape ",
         shape);
  at::Tensor selected = source;
  for (std::int64_t d = 0; d < source.dim(); ++d)
    selected = selected.index_select(d, uniform_selection_indices(source.size(d), shape[d]));
  return selected;
}

at::Tensor selected_tensor(const std::string& name, const at::Tensor& source,
                           at::IntArrayRef shape) {
  if (!name.ends_with("attn.qkv.weight") && !name.ends_with("attn.qkv.bias"))
    return select_uniformly(source, shape);
  std::vector<std::int64_t> part(shape.begin(), shape.end());
  part[0] /= 3;
  std::vector<at::Tensor> parts;
  for (const at::Tensor& projection : source.chunk(3, 0))
    parts.push_back(select_uniformly(projection, part));
  return at::cat(parts, 0);
}

}  // namespace tleg

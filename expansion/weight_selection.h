// Weight selection (Xu et al., ICLR 2024, "Initializing Models with Larger Ones"): a smaller ViT
// takes, for every tensor but the head, the elements of a larger pre-trained ViT's tensor at
// evenly spread indices along each dimension; block i from the larger model's block i.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace tleg {

// The indices `size` elements of a `source_size` dimension take: arange(size)·(source_size /
// size) when source_size is a multiple of size, else round(linspace(0, source_size − 1, size))
// (rounding half to even, as torch.round does). Fails when source_size < size.
at::Tensor uniform_selection_indices(std::int64_t source_size, std::int64_t size);

// `source` reduced to `shape` by uniform_selection_indices along every dimension.
at::Tensor select_uniformly(const at::Tensor& source, at::IntArrayRef shape);

// The tensor `name` (timm's name) of the smaller model from the larger model's `source`:
// select_uniformly, but attn.qkv's weight and bias, whose rows are the query, key and value
// projections stacked, are selected one projection at a time, so none takes another's rows
// (the same rows as selecting the stacked tensor whenever the larger dim is a multiple of the
// smaller).
at::Tensor selected_tensor(const std::string& name, const at::Tensor& source,
                           at::IntArrayRef shape);

}  // namespace tleg

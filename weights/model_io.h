// Models on disk: tleg's own weights file (kinds "learngene", "vit", "cnn") and the
// timm-compatible export of a ViT (.pt or .safetensors).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "weights/weights_file.h"
#include "model/cnn.h"
#include "model/vit.h"

namespace tleg {

// A model's weights file with provenance `metadata`: kind "learngene" for an auxiliary net (its
// θ_A, θ_B and shared tensors are the learngene), "vit" for a ViT, "cnn" for a Cnn.
WeightsFile weights_of(const Classifier& model, std::map<std::string, std::string> metadata);
// Loads a "vit" weights file into a new ViT (float32 or float64, as stored).
std::shared_ptr<ViT> load_vit(const WeightsFile& weights);
std::shared_ptr<ViT> load_vit(const std::string& path);
// Loads a "cnn" weights file into a new Cnn.
std::shared_ptr<Cnn> load_cnn(const WeightsFile& weights);
// A trained model of any architecture ("vit" or "cnn"), e.g. a teacher or a model to evaluate;
// a learngene is refused with the command that expands it.
std::shared_ptr<Classifier> load_classifier(const std::string& path);

// Writes name -> tensor as a file that Python's torch.load(path, weights_only=True) returns as
// a dict (the torch.save container).
void save_torch_dict(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::string& path);

// The format of a timm export to `path`: `requested`, "pt" (torch.save's container) or
// "safetensors", or for "" the one the path's extension names (.safetensors; anything else pt).
// A format the extension contradicts is refused, since tleg's readers (load_trained_vit) go by
// the extension.
std::string timm_export_format(const std::string& requested, const std::string& path);
// Writes the model's state dict, tensors as float32, in timm_export_format(format, path): a .pt
// that Python's torch.load reads (weights_only too) or a .safetensors that
// safetensors.torch.load_file reads; timm's VisionTransformer(class_token=False,
// global_pool='avg', ...) loads either with strict=True.
void export_timm(const VitBase& model, const std::string& path, const std::string& format = "");
// The timm.create_model / VisionTransformer arguments that match the model, as Python text.
std::string timm_constructor(const VitConfig& config);

}  // namespace tleg

#include "weights/model_io.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "weights/state_dict.h"

namespace tleg {

WeightsFile weights_of(const Classifier& model, std::map<std::string, std::string> metadata) {
  WeightsFile weights;
  if (const auto* cnn = dynamic_cast<const Cnn*>(&model)) {
    weights.kind = "cnn";
    weights.cnn = cnn->config();
  } else if (const auto* vit = dynamic_cast<const VitBase*>(&model)) {
    weights.kind = dynamic_cast<const AuxViT*>(&model) != nullptr ? "learngene" : "vit";
    weights.config = vit->config();
  } else {
    fail("internal: weights_of got a model of no known architecture");
  }
  weights.metadata = std::move(metadata);
  weights.tensors = module_tensors(model);
  return weights;
}

std::shared_ptr<ViT> load_vit(const WeightsFile& weights) {
  if (weights.kind != "vit")
    fail(weights.source, ": this is a '", weights.kind, "' file, a trained ViT ('vit') is needed",
         weights.kind == "learngene" ? " (expand it first: tleg expand)"
         : weights.kind == "cnn"     ? " (a CNN serves as a teacher, or with tleg evaluate)"
                                     : "");
  auto model = std::make_shared<ViT>(weights.config);
  if (!weights.tensors.empty() && weights.tensors.front().second.scalar_type() == at::kDouble)
    model->to(at::kDouble);
  copy_into(weights, *model);
  return model;
}

std::shared_ptr<ViT> load_vit(const std::string& path) { return load_vit(load_weights(path)); }

std::shared_ptr<Cnn> load_cnn(const WeightsFile& weights) {
  if (weights.kind != "cnn")
    fail(weights.source, ": this is a '", weights.kind, "' file, a trained CNN ('cnn') is needed");
  auto model = std::make_shared<Cnn>(weights.cnn);
  if (!weights.tensors.empty() && weights.tensors.front().second.scalar_type() == at::kDouble)
    model->to(at::kDouble);
  copy_into(weights, *model);
  return model;
}

std::shared_ptr<Classifier> load_classifier(const std::string& path) {
  const WeightsFile weights = load_weights(path);
  if (weights.kind == "cnn") return load_cnn(weights);
  if (weights.kind == "learngene")
    fail(path,
         ": this is a learngene, not a trained model; expand it first (tleg expand "
         "--learngene ",
         path, " --depth D --out model.h5)");
  return load_vit(weights);
}

void save_torch_dict(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::string& path) {
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [name, tensor] : tensors)
    state.insert(name, tensor.detach().to(at::kCPU).contiguous());
  // The container of torch.save: a zip with the pickle and one record per tensor. Written with
  // the pickler's type tags off, because torch.load(weights_only=True) refuses the tag
  // function that torch::pickle_save emits for typed dictionaries.
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* data, std::size_t size) { pickled.insert(pickled.end(), data, data + size); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(state));
  pickler.stop();
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t size) {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
      return out ? size : 0;
    });
    torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                       writer);
    writer.writeEndOfFile();
    if (!out) fail(path, ": cannot write the file");
  }
  std::filesystem::rename(temporary, path);
}

std::string timm_export_format(const std::string& requested, const std::string& path) {
  const bool safetensors_name = path.ends_with(".safetensors");
  if (requested.empty()) return safetensors_name ? "safetensors" : "pt";
  if (requested != "pt" && requested != "safetensors")
    fail("unknown export format '", requested, "': use pt or safetensors");
  if ((requested == "safetensors") != safetensors_name)
    fail(path, ": a ", requested, " export ",
         requested == "safetensors" ? "needs a name ending in .safetensors"
                                    : "cannot end in .safetensors",
         " (tleg reads a state dict by its extension); rename the output or change --format");
  return requested;
}

void export_timm(const VitBase& model, const std::string& path, const std::string& format) {
  const std::string resolved = timm_export_format(format, path);
  if (dynamic_cast<const ViT*>(&model) == nullptr)
    fail("only a ViT can be exported to timm; expand the learngene first (tleg expand)");
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& item : model.named_parameters())
    state.emplace_back(item.key(), item.value().to(at::kFloat));
  if (resolved == "safetensors")
    write_safetensors(state, path, {{"format", "pt"}});  // what safetensors.torch.save_file writes
  else
    save_torch_dict(state, path);
}

std::string timm_constructor(const VitConfig& c) {
  return concat("timm.models.vision_transformer.VisionTransformer(img_size=", c.image_size,
                ", patch_size=", c.patch_size, ", in_chans=", c.channels,
                ", num_classes=", c.classes, ", embed_dim=", c.dim, ", depth=", c.depth,
                ", num_heads=", c.heads, ", mlp_ratio=", c.mlp_ratio,
                ", class_token=False, global_pool='avg', fc_norm=True)");
}

}  // namespace tleg

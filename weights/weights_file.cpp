#include "weights/weights_file.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/checksum.h"
#include "common/error.h"
#include "common/hdf5_file.h"

namespace tleg {
namespace {

constexpr const char* kFormatName = "tleg-weights";

struct ConfigField {
  const char* key;
  std::int64_t VitConfig::*field;
};
constexpr ConfigField kConfigFields[] = {{"image_size", &VitConfig::image_size},
                                         {"patch_size", &VitConfig::patch_size},
                                         {"channels", &VitConfig::channels},
                                         {"classes", &VitConfig::classes},
                                         {"dim", &VitConfig::dim},
                                         {"heads", &VitConfig::heads},
                                         {"depth", &VitConfig::depth},
                                         {"mlp_ratio", &VitConfig::mlp_ratio}};

// The tensors a weights file holds of a module: parameters, then floating-point buffers
// (BatchNorm's running statistics; its integer batch counter only matters without momentum).
std::vector<std::pair<std::string, at::Tensor>> stored_tensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : module.named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers())
    if (at::isFloatingType(item.value().scalar_type()))
      tensors.emplace_back(item.key(), item.value());
  return tensors;
}

std::uint32_t tensors_checksum(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  // Over name, shape and bytes, in name order, so the order of writing does not matter.
  std::vector<const std::pair<std::string, at::Tensor>*> sorted;
  for (const auto& item : tensors) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  Crc32 crc;
  for (const auto* item : sorted) {
    crc.update(item->first);
    for (const auto size : item->second.sizes()) crc.update(&size, sizeof size);
    crc.update(item->second.data_ptr(), item->second.nbytes());
  }
  return crc.value();
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + "]";
}

}  // namespace

const at::Tensor* WeightsFile::find(const std::string& name) const {
  for (const auto& [key, value] : tensors)
    if (key == name) return &value;
  return nullptr;
}

const at::Tensor& WeightsFile::tensor(const std::string& name) const {
  if (const at::Tensor* found = find(name)) return *found;
  fail(source.empty() ? std::string("weights") : source, ": no tensor '", name, "' (a ", kind,
       " file should have it; regenerate the file)");
}

std::int64_t WeightsFile::parameter_count() const {
  std::int64_t total = 0;
  for (const auto& item : tensors) total += item.second.numel();
  return total;
}

void save_weights(const WeightsFile& weights, const std::string& path) {
  const std::string temporary = path + ".partial";
  {
    h5::File file = h5::File::create(temporary);
    file.set_attribute("/", "format", std::string(kFormatName));
    file.set_attribute("/", "format_version", kWeightsFormatVersion);
    file.set_attribute("/", "kind", weights.kind);
    if (weights.kind == "cnn") {
      file.set_attribute("/", "image_size", weights.cnn.image_size);
      file.set_attribute("/", "channels", weights.cnn.channels);
      file.set_attribute("/", "classes", weights.cnn.classes);
      file.set_attribute("/", "widths", widths_text(weights.cnn.widths));
      file.set_attribute("/", "convs", weights.cnn.convs);
    } else {
      for (const auto& [key, field] : kConfigFields)
        file.set_attribute("/", key, weights.config.*field);
    }
    file.create_group("/metadata");
    for (const auto& [key, value] : weights.metadata) file.set_attribute("/metadata", key, value);
    file.create_group("/tensors");
    for (const auto& [name, tensor] : weights.tensors) {
      const at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
      const h5::Shape shape(cpu.sizes().begin(), cpu.sizes().end());
      const std::string dataset = "/tensors/" + name;
      if (cpu.scalar_type() == at::kFloat)
        file.write(dataset, shape, cpu.data_ptr<float>());
      else if (cpu.scalar_type() == at::kDouble)
        file.write(dataset, shape, cpu.data_ptr<double>());
      else
        fail(path, ": tensor '", name, "' has type ", cpu.scalar_type(),
             "; only float32 and "
             "float64 weights are stored");
    }
    std::vector<std::pair<std::string, at::Tensor>> stored;
    for (const auto& [name, tensor] : weights.tensors)
      stored.emplace_back(name, tensor.detach().to(at::kCPU).contiguous());
    file.set_attribute("/", "crc32", static_cast<std::int64_t>(tensors_checksum(stored)));
    file.flush();
  }
  std::filesystem::rename(temporary, path);
}

WeightsFile load_weights(const std::string& path) {
  h5::File file = h5::File::open_read(path, "tleg weights file (learngene or model)");
  if (!file.has_attribute("/", "format") || file.string_attribute("/", "format") != kFormatName)
    fail(path, ": not a tleg weights file (no 'format = ", kFormatName, "' attribute)");
  const auto version = file.int_attribute("/", "format_version");
  if (version != kWeightsFormatVersion)
    fail(path, ": weights format version ", version, ", this tleg reads version ",
         kWeightsFormatVersion, " (re-export it with a matching tleg)");

  WeightsFile weights;
  weights.source = path;
  weights.kind = file.string_attribute("/", "kind");
  if (weights.kind != "learngene" && weights.kind != "vit" && weights.kind != "cnn")
    fail(path, ": unknown kind '", weights.kind,
         "' (this tleg reads learngene, vit and cnn files; re-export it with a matching tleg)");
  try {
    if (weights.kind == "cnn") {
      weights.cnn.image_size = file.int_attribute("/", "image_size");
      weights.cnn.channels = file.int_attribute("/", "channels");
      weights.cnn.classes = file.int_attribute("/", "classes");
      weights.cnn.widths = parse_widths(file.string_attribute("/", "widths"), "widths");
      weights.cnn.convs = file.int_attribute("/", "convs");
      weights.cnn.validate();
    } else {
      for (const auto& [key, field] : kConfigFields)
        weights.config.*field = file.int_attribute("/", key);
      weights.config.validate();
    }
  } catch (const Error& error) {
    fail(path, ": stored architecture is invalid: ", error.what());
  }
  if (file.exists("/metadata")) {
    for (const auto& key : file.attribute_names("/metadata"))
      weights.metadata[key] = file.string_attribute("/metadata", key);
  }
  for (const auto& name : file.children("/tensors")) {
    const std::string dataset = "/tensors/" + name;
    const h5::Shape shape = file.shape(dataset);
    std::vector<std::int64_t> sizes(shape.begin(), shape.end());
    const auto [element_size, is_float] = file.element_type(dataset);
    if (!is_float || (element_size != 4 && element_size != 8))
      fail(path, ": tensor '", name, "' is not float32 or float64");
    at::Tensor tensor = at::empty(sizes, element_size == 4 ? at::kFloat : at::kDouble);
    if (element_size == 4)
      file.read(dataset, tensor.data_ptr<float>(), tensor.numel());
    else
      file.read(dataset, tensor.data_ptr<double>(), tensor.numel());
    weights.tensors.emplace_back(name, std::move(tensor));
  }
  const auto stored = static_cast<std::uint32_t>(file.int_attribute("/", "crc32"));
  const auto actual = tensors_checksum(weights.tensors);
  if (stored != actual)
    fail(path, ": checksum mismatch (stored ", stored, ", computed ", actual,
         "): the file is corrupt; restore or regenerate it");
  return weights;
}

std::vector<std::pair<std::string, at::Tensor>> module_tensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, tensor] : stored_tensors(module))
    tensors.emplace_back(name, tensor.detach().to(at::kCPU).contiguous().clone());
  return tensors;
}

void check_matches(const WeightsFile& weights, const torch::nn::Module& module) {
  const auto wanted = stored_tensors(module);
  for (const auto& [name, tensor] : wanted) {
    const at::Tensor& stored = weights.tensor(name);
    if (stored.sizes() != tensor.sizes())
      fail(weights.source, ": tensor '", name, "' has shape ", shape_text(stored.sizes()),
           " but the architecture needs ", shape_text(tensor.sizes()));
  }
  if (weights.tensors.size() != wanted.size()) {
    for (const auto& [name, tensor] : weights.tensors)
      if (std::none_of(wanted.begin(), wanted.end(),
                       [&](const auto& item) { return item.first == name; }))
        fail(weights.source, ": unexpected tensor '", name, "' for a ", weights.kind);
  }
}

void copy_into(const WeightsFile& weights, torch::nn::Module& module) {
  check_matches(weights, module);
  at::NoGradGuard no_grad;
  for (auto& [name, tensor] : stored_tensors(module)) tensor.copy_(weights.tensor(name));
}

}  // namespace tleg

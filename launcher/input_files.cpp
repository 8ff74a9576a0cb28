// One table: the option, what its file is, and the loader that opens it as a run would.
#include "launcher/input_files.h"

#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/dataset_store.h"
#include "data/teacher_logits.h"
#include "expansion/learngene.h"
#include "train/teacher.h"
#include "weights/model_io.h"
#include "weights/state_dict.h"

namespace tleg {
namespace {

struct InputFile {
  const char* option;
  const char* kind;  // as the error says it
  std::function<void(const std::string&)> open;
};

const std::vector<InputFile>& input_files() {
  static const std::vector<InputFile> files = {
      {"data.store", "a dataset store (tleg prepare)",
       [](const std::string& path) { DatasetReader{path}; }},
      {"distill.teacher", "a teacher (tleg model .h5 or TorchScript)",
       [](const std::string& path) { load_teacher(path, c10::kCPU); }},
      {"distill.logits", "a teacher-logits store (tleg logits)",
       [](const std::string& path) { TeacherLogitsStore{path}; }},
      {"learngene", "a learngene (tleg distill)",
       [](const std::string& path) { load_learngene(path); }},
      {"init-learngene", "a learngene (tleg distill, tleg linearity --write-learngene)",
       [](const std::string& path) { load_learngene(path); }},
      {"from", "a trained ViT (tleg .h5, timm .pt or .safetensors)",
       [](const std::string& path) { load_trained_vit(path); }},
      {"model", "a trained model (tleg .h5)",
       [](const std::string& path) { load_classifier(path); }},
      {"prefin-from", "a folder of pre-trained runs (tleg sweep)",
       [](const std::string& path) {
         if (!std::filesystem::is_directory(path)) fail(path, ": not a folder");
       }},
  };
  return files;
}

// The value of the option `name` when it names a file that exists, or nothing.
const std::string* existing_file(const boost::program_options::variables_map& values,
                                 const char* name) {
  const auto found = values.find(name);
  if (found == values.end() || found->second.empty()) return nullptr;
  const auto* path = boost::any_cast<std::string>(&found->second.value());
  return path != nullptr && !path->empty() && std::filesystem::exists(*path) ? path : nullptr;
}

}  // namespace

void check_input_files(const boost::program_options::variables_map& values, bool missing_allowed) {
  for (const InputFile& input : input_files()) {
    const auto found = values.find(input.option);
    if (found == values.end() || found->second.empty()) continue;
    const auto* path = boost::any_cast<std::string>(&found->second.value());
    if (path == nullptr || path->empty()) continue;
    if (!std::filesystem::exists(*path)) {
      if (missing_allowed) continue;
      fail("--", input.option, " ", *path, ": no such file (it should be ", input.kind, ")");
    }
    try {
      input.open(*path);
    } catch (const c10::Error& error) {  // LibTorch's, with a backtrace the user does not need
      fail("--", input.option, " ", *path, " is not ", input.kind, ": ",
           error.what_without_backtrace());
    } catch (const std::exception& error) {
      fail("--", input.option, " ", *path, " is not ", input.kind, ": ", error.what());
    }
  }
  // A teacher and the store it will see: one forward of a blank image says whether they fit.
  const std::string* teacher = existing_file(values, "distill.teacher");
  const std::string* store = existing_file(values, "data.store");
  if (teacher != nullptr && store != nullptr && values.count("model.image")) {
    const DatasetReader dataset(*store);
    check_teacher_fits(*load_teacher(*teacher, c10::kCPU), *teacher, dataset.info().channels,
                       values["model.image"].as<std::int64_t>(),
                       static_cast<std::int64_t>(dataset.info().class_names.size()), *store,
                       c10::kCPU);
  }
}

}  // namespace tleg

#include "train/teacher.h"

#include <torch/script.h>

#include <filesystem>

#include "common/error.h"
#include "weights/model_io.h"

namespace tleg {
namespace {

// A model tleg trained (ViT or CNN).
class ModelTeacher final : public Teacher {
 public:
  ModelTeacher(const std::string& path, c10::Device device, Precision precision)
      : model_(load_classifier(path)), path_(path) {
    model_->to(device);
    model_->eval();
    model_->set_precision(precision);
  }
  at::Tensor logits(const at::Tensor& images) override {
    at::NoGradGuard no_grad;
    return model_->forward(images);
  }
  std::string identity() const override {
    return "tleg model " + path_ + " (" + model_->describe() + ", " +
           precision_name(model_->precision()) + ")";
  }
  double forward_flops() const override {
    return static_cast<double>(model_->image_forward_flops());
  }
  std::string flops_source() const override { return "counted from the architecture"; }

 private:
  std::shared_ptr<Classifier> model_;
  std::string path_;
};

class TorchScriptTeacher final : public Teacher {
 public:
  TorchScriptTeacher(const std::string& path, c10::Device device) : path_(path) {
    torch::jit::ExtraFilesMap extra_files{{"forward_flops", ""}};
    try {
      module_ = torch::jit::load(path, device, extra_files);
    } catch (const c10::Error& error) {
      fail(path, ": cannot load the teacher as TorchScript (", error.what_without_backtrace(),
           "); export it with torch.jit.trace(model.eval(), example).save(path), or give a tleg "
           "model file (.h5)");
    }
    module_.eval();
    const std::string& declared = extra_files["forward_flops"];
    try {
      std::size_t used = 0;
      flops_ = declared.empty() ? 0.0 : std::stod(declared, &used);
      if (used != declared.size()) flops_ = 0;
    } catch (const std::exception&) {
      flops_ = 0;
    }
    if (!(flops_ > 0))
      fail(path, ": the TorchScript teacher declares no forward FLOPs per image (",
           declared.empty() ? std::string("no extra file 'forward_flops'") : "'" + declared + "'",
           "), so stage 1's cost would leave the teacher out; export it with\n"
           "  with torch.utils.flop_counter.FlopCounterMode(display=False) as c: "
           "model(example[:1])\n"
           "  torch.jit.save(traced, path, _extra_files={'forward_flops': "
           "str(c.get_total_flops())})");
  }
  at::Tensor logits(const at::Tensor& images) override {
    at::NoGradGuard no_grad;
    const c10::IValue output = module_.forward({images});
    // timm's distilled models return (logits, distilled logits) in eval as one tensor; a tuple
    // here means a training-mode export: take the first.
    if (output.isTuple()) return output.toTupleRef().elements().at(0).toTensor();
    return output.toTensor();
  }
  std::string identity() const override { return "TorchScript " + path_; }
  double forward_flops() const override { return flops_; }
  std::string flops_source() const override { return "declared at TorchScript export"; }

 private:
  torch::jit::Module module_;
  std::string path_;
  double flops_ = 0;
};

}  // namespace

std::unique_ptr<Teacher> load_teacher(const std::string& path, c10::Device device,
                                      Precision precision) {
  if (!std::filesystem::exists(path))
    fail(path, ": no such teacher file (train one with tleg teacher, or export one from timm)");
  if (path.ends_with(".h5")) return std::make_unique<ModelTeacher>(path, device, precision);
  return std::make_unique<TorchScriptTeacher>(path, device);
}

std::int64_t teacher_classes(Teacher& teacher, const std::string& path, std::int64_t channels,
                             std::int64_t image, c10::Device device) {
  at::Tensor logits;
  try {
    logits = teacher.logits(at::zeros({1, channels, image, image}, at::device(device)));
  } catch (const c10::Error& error) {
    fail(path, ": the teacher cannot take ", channels, "x", image, "x", image,
         " images (channels x height x width): ", error.what_without_backtrace());
  } catch (const std::exception& error) {  // a tleg model's own check of its input
    fail(path, ": the teacher cannot take ", channels, "x", image, "x", image,
         " images (channels x height x width): ", error.what());
  }
  if (logits.dim() != 2 || logits.size(0) != 1)
    fail(path, ": the teacher gave logits of shape ", logits.sizes(), " for one ", channels, "x",
         image, "x", image, " image (expected [1, classes])");
  return logits.size(1);
}

void check_teacher_fits(Teacher& teacher, const std::string& path, std::int64_t channels,
                        std::int64_t image, std::int64_t classes, const std::string& dataset,
                        c10::Device device) {
  const std::int64_t predicted = teacher_classes(teacher, path, channels, image, device);
  if (predicted != classes)
    fail(path, ": the teacher predicts ", predicted, " classes, but ", dataset, " has ", classes,
         " (", channels, "x", image, "x", image,
         " images); give a teacher trained for this dataset");
}

}  // namespace tleg

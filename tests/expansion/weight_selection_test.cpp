// Weight selection against an independent Python implementation of the method
// (tests/python/weight_selection_reference.py) on the same tensors, element for element; the
// indices along one dimension; and the sources that cannot serve, refused naming what differs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "expansion/initializer.h"
#include "expansion/weight_selection.h"
#include "weights/model_io.h"
#include "weights/state_dict.h"
#include "weights/weights_file.h"
#include "error_message.h"
#include "python_reference.h"
#include "temp_dir.h"

namespace tleg {
namespace {

using testing::error_of;
using testing::TempDir;

VitConfig vit_config(std::int64_t dim, std::int64_t heads, std::int64_t depth,
                     std::int64_t classes) {
  return {.image_size = 16,
          .patch_size = 4,
          .channels = 3,
          .classes = classes,
          .dim = dim,
          .heads = heads,
          .depth = depth};
}

std::vector<std::int64_t> index_values(const at::Tensor& indices) {
  return {indices.data_ptr<std::int64_t>(), indices.data_ptr<std::int64_t>() + indices.numel()};
}

TEST(WeightSelection, IndicesAreEvenlySpreadAsTheMethodRoundsThem) {
  EXPECT_EQ(index_values(uniform_selection_indices(8, 4)), (std::vector<std::int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(index_values(uniform_selection_indices(5, 5)),
            (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  // linspace(0, 11, 9) = 0, 1.375, 2.75, 4.125, 5.5, ...: 5.5 rounds to the even 6.
  EXPECT_EQ(index_values(uniform_selection_indices(12, 9)),
            (std::vector<std::int64_t>{0, 1, 3, 4, 6, 7, 8, 10, 11}));
  EXPECT_NE(error_of([] {
              uniform_selection_indices(3, 4);
            }).find("cannot take 4 elements from a dimension of 3"),
            std::string::npos);
}

// A larger model (a multiple of the width, and not: 12 to 9 has values on halves) selected into
// a smaller one by tleg and by the Python reference from the same .safetensors file: every
// tensor but the head equal, the head the scratch model's; the .h5 of the same model gives the
// same weights.
TEST(WeightSelection, EqualsThePythonReferenceElementForElement) {
  TempDir dir;
  struct Case {
    VitConfig teacher, student;
  };
  for (const Case& c : {Case{vit_config(48, 6, 5, 7), vit_config(24, 3, 3, 5)},
                        Case{vit_config(12, 3, 4, 7), vit_config(9, 3, 2, 7)}}) {
    SCOPED_TRACE(c.teacher.describe() + " -> " + c.student.describe());
    ViT teacher(c.teacher);
    initialise(teacher, 9);
    {
      at::NoGradGuard no_grad;  // every element distinct, so a wrong index shows
      for (auto& item : teacher.named_parameters()) item.value().add_(at::randn_like(item.value()));
    }
    export_timm(teacher, dir.file("teacher.safetensors"));
    save_weights(weights_of(teacher, {}), dir.file("teacher.h5"));
    ViT scratch(c.student);
    initialise(scratch, 4);
    export_timm(scratch, dir.file("student.safetensors"));
    const auto reference = testing::run_python_reference(
        "weight_selection_reference.py", "--teacher " + dir.file("teacher.safetensors") +
                                             " --student " + dir.file("student.safetensors") +
                                             " --out " + dir.file("selected.safetensors"));
    ASSERT_EQ(reference.status, 0) << reference.output;

    for (const std::string source : {"teacher.safetensors", "teacher.h5"}) {
      ViT model(c.student);
      const auto initializer =
          make_initializer({.method = "weight-selection", .source = dir.file(source), .seed = 4});
      initializer->initialise(model);
      auto parameters = model.named_parameters();
      const auto selected = read_safetensors(dir.file("selected.safetensors"));
      EXPECT_EQ(selected.size() + 2, parameters.size());  // all but head.weight, head.bias
      for (const auto& [name, tensor] : selected)
        EXPECT_TRUE(parameters[name].equal(tensor)) << name << " from " << source;
      EXPECT_TRUE(model.head->weight.equal(scratch.head->weight)) << source;
      EXPECT_TRUE(model.head->bias.equal(scratch.head->bias)) << source;
      EXPECT_EQ(initializer->stored_parameters(), vit_parameter_count(c.teacher));
    }
  }
}

// What a source must be: the same image, patch and channels, at least the width (dim, MLP) and
// depth; its head count and classes do not matter.
TEST(WeightSelection, RefusesASourceThatCannotServeNamingWhatDiffers) {
  TempDir dir;
  const auto exported = [&](const VitConfig& config, const std::string& name) {
    ViT vit(config);
    initialise(vit, 3);
    export_timm(vit, dir.file(name));
    return dir.file(name);
  };
  VitConfig patch = vit_config(48, 6, 4, 7);
  patch.patch_size = 8;
  VitConfig narrow_mlp = vit_config(48, 6, 4, 7);
  narrow_mlp.mlp_ratio = 1;
  const auto refusal = [&](const std::string& source) {
    ViT model(vit_config(24, 3, 4, 7));
    return error_of([&] {
      make_initializer({.method = "weight-selection", .source = source})->initialise(model);
    });
  };
  for (const auto& [source, expected] : std::vector<std::pair<std::string, std::string>>{
           {exported(vit_config(12, 3, 4, 7), "narrow.pt"), "dim 12 (this model: 24)"},
           {exported(patch, "patch.safetensors"), "patch 8 (this model: 4)"},
           {exported(narrow_mlp, "mlp.pt"), "mlp width 48 (this model: 96)"},
           {exported(vit_config(48, 6, 2, 7), "shallow.pt"),
            "cannot take 4 layers from a model of depth 2"}}) {
    const std::string message = refusal(source);
    EXPECT_NE(message.find(source), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
  // Fewer heads, another class count: served (heads group rows, they are no tensor dimension).
  ViT model(vit_config(24, 3, 4, 5));
  make_initializer(
      {.method = "weight-selection", .source = exported(vit_config(48, 2, 4, 9), "ok.pt")})
      ->initialise(model);
}

}  // namespace
}  // namespace tleg

// Initial values against timm itself, through the venv's Python: a scratch ViT's and a
// learngene's (the auxiliary net's) trunc-normal tensors are redrawn with timm's trunc_normal_
// from the same generator state, and their statistics are compared with a timm
// VisionTransformer's own initialisation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <iostream>
#include <utility>
#include <vector>

#include "weights/model_io.h"
#include "model/vit.h"
#include "python_reference.h"
#include "temp_dir.h"

namespace tleg {
namespace {

TEST(InitialValues, ScratchModelAndLearngeneAreTimmsTruncNormal) {
  testing::TempDir dir;
  VitConfig config = vit_preset("S");
  config.depth = 2;
  config.classes = 100;
  constexpr std::uint64_t kSeed = 11;
  ViT scratch(config);
  initialise(scratch, kSeed);
  AuxViT aux(config);
  initialise(aux, kSeed);
  for (const auto& [name, model] :
       std::vector<std::pair<std::string, const VitBase*>>{{"scratch", &scratch}, {"aux", &aux}}) {
    std::vector<std::pair<std::string, at::Tensor>> tensors;  // in drawing order
    for (const auto& item : model->named_parameters())
      tensors.emplace_back(item.key(), item.value());
    save_torch_dict(tensors, dir.file(name + ".pt"));
  }
  const auto result = testing::run_python_reference(
      "init_reference.py", "--seed " + std::to_string(kSeed) + " --scratch " +
                               dir.file("scratch.pt") + " --aux " + dir.file("aux.pt") +
                               " --timm \"" + timm_constructor(config) + "\"");
  EXPECT_EQ(result.status, 0) << result.output;
  std::cout << result.output;  // the measured differences, for the log
}

}  // namespace
}  // namespace tleg

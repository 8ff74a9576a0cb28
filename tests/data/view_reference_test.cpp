// Views against the released pipeline's own code, through the venv's Python: every RandAugment
// op at several magnitudes against timm's rand_augment_transform ops on the same image (the
// level arguments of 'inc1' and of the plain variant, and the pixels), training-view resizing
// against torchvision's resized_crop on PIL, and the evaluation view against DeiT's
// Resize(256, bicubic) + CenterCrop(224).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <iostream>
#include <utility>
#include <vector>

#include "data/view.h"
#include "weights/model_io.h"
#include "python_reference.h"
#include "temp_dir.h"
#include "test_images.h"

namespace tleg {
namespace {

at::Tensor image_tensor(const Image& image) {
  return at::tensor(at::ArrayRef<std::uint8_t>(image.pixels), at::kByte)
      .reshape({image.height, image.width, image.channels});
}

TEST(ViewReference, RandAugmentOpsMatchTimmAtSeveralMagnitudes) {
  testing::TempDir dir;
  const ViewRecipe recipe = ViewRecipe::deit(224);
  const Image source = testing::textured_image(96, 128, 3, 4);
  std::vector<double> cases;  // op, magnitude, negate, increasing, argument
  std::vector<at::Tensor> outputs;
  for (int op = 0; op < kAugmentOpCount; ++op)
    for (const double magnitude : {0.0, 2.5, 5.0, 9.0, 10.0})
      for (const bool negate : {false, true})
        for (const bool increasing : {true, false}) {
          RandAugmentRecipe augment = recipe.augment;
          augment.increasing = increasing;
          const AppliedAugment applied =
              augment_at(static_cast<AugmentOp>(op), magnitude, negate, augment);
          cases.insert(cases.end(), {double(op), magnitude, double(negate), double(increasing),
                                     applied.argument});
          if (!increasing) continue;  // the pixels of the default ('inc1') arguments
          Image image = source;
          apply_augment(image, applied, recipe);
          outputs.push_back(image_tensor(image));
        }
  save_torch_dict({{"image", image_tensor(source)},
                   {"cases", at::tensor(cases, at::kDouble).reshape({-1, 5})},
                   {"outputs", at::stack(outputs)}},
                  dir.file("augment.pt"));
  const auto result =
      testing::run_python_reference("randaugment_reference.py", dir.file("augment.pt"));
  EXPECT_EQ(result.status, 0) << result.output;
  std::cout << result.output;  // the measured differences, for the log
}

TEST(ViewReference, TrainingAndEvaluationResizingMatchPillow) {
  testing::TempDir dir;
  // A 400x300 photo-like JPEG: shrunk by crops larger than 224, enlarged by small ones.
  const Image scene = testing::textured_image(300, 400, 3, 9);
  const std::vector<std::uint8_t> jpeg = encode_jpeg(scene, 90);
  const EncodedImage encoded{jpeg.data(), jpeg.size()};
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"jpeg", at::tensor(at::ArrayRef<std::uint8_t>(jpeg), at::kByte)}};
  std::vector<int> boxes;  // interpolation (0 bilinear, 1 bicubic), x, y, width, height
  std::vector<at::Tensor> train_views;
  for (const Interpolation interpolation : {Interpolation::kBilinear, Interpolation::kBicubic})
    for (const CropBox crop : {CropBox{0, 0, 400, 300}, CropBox{37, 21, 310, 255},
                               CropBox{150, 90, 120, 100}, CropBox{5, 200, 260, 97}}) {
      ViewRecipe recipe = ViewRecipe::basic(224);
      recipe.interpolation = interpolation;
      ViewParams params;
      params.source_width = 400;
      params.source_height = 300;
      params.crop = crop;
      boxes.insert(boxes.end(), {interpolation == Interpolation::kBicubic ? 1 : 0, crop.x, crop.y,
                                 crop.width, crop.height});
      train_views.push_back(image_tensor(render_view(encoded, params, recipe)));
    }
  tensors.emplace_back("boxes", at::tensor(boxes, at::kInt).reshape({-1, 5}));
  tensors.emplace_back("train_views", at::stack(train_views));
  const ViewRecipe deit = ViewRecipe::deit(224);
  tensors.emplace_back("eval_view",
                       image_tensor(render_view(encoded, eval_view(deit, 400, 300), deit)));
  save_torch_dict(tensors, dir.file("resize.pt"));
  const auto result = testing::run_python_reference("resize_reference.py", dir.file("resize.pt"));
  EXPECT_EQ(result.status, 0) << result.output;
  std::cout << result.output;  // the measured differences, for the log
}

}  // namespace
}  // namespace tleg

// The training recipe against the released code's own implementations, through the venv's
// Python: the learning rate of every epoch of the ImageNet configs against timm's
// CosineLRScheduler stepped as DeiT's main.py steps it, and the distillation loss against DeiT's
// losses.py formula on the same logits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "weights/model_io.h"
#include "python_reference.h"
#include "temp_dir.h"
#include "train/losses.h"
#include "train/schedule.h"

namespace tleg {
namespace {

namespace po = boost::program_options;
using testing::run_python_reference;
using testing::TempDir;

// The optim.* values of experiments/imagenet/common.ini + `recipe`.ini, read as tleg reads them.
po::variables_map imagenet_optim(const std::string& recipe) {
  po::options_description options;
  options.add_options()("optim.epochs", po::value<std::int64_t>()->required())(
      "optim.warmup-epochs", po::value<std::int64_t>()->required())(
      "optim.batch", po::value<std::int64_t>()->required())(
      "optim.lr", po::value<double>()->required())("optim.min-lr", po::value<double>()->required())(
      "optim.warmup-lr", po::value<double>()->required());
  po::variables_map values;
  // po::store keeps the first value it sees: the recipe file goes first and wins over common.ini.
  for (const std::string& name : {recipe, std::string("common")}) {
    const std::string path =
        std::string(TLEG_SOURCE_DIR) + "/experiments/imagenet/" + name + ".ini";
    po::store(po::parse_config_file(path.c_str(), options, /*allow_unregistered=*/true), values);
  }
  po::notify(values);
  return values;
}

TEST(ReleasedRecipe, EveryEpochsRateOfAuxSAndDesSIsTimmsCosineSteppedAsDeit) {
  constexpr std::int64_t kRanks = 4;  // the released runs: 128 per GPU x 4 GPUs
  TempDir dir;
  for (const std::string recipe : {"aux-s", "des-s"}) {
    const po::variables_map o = imagenet_optim(recipe);
    const CosineSchedule schedule{
        .base_lr =
            scaled_lr(o["optim.lr"].as<double>(), o["optim.batch"].as<std::int64_t>() * kRanks),
        .min_lr = o["optim.min-lr"].as<double>(),
        .warmup_lr = o["optim.warmup-lr"].as<double>(),
        .warmup_epochs = o["optim.warmup-epochs"].as<std::int64_t>(),
        .epochs = o["optim.epochs"].as<std::int64_t>(),
        .steps_per_epoch = 7};
    std::vector<double> rates;
    for (std::int64_t epoch = 0; epoch < schedule.epochs; ++epoch) {
      const double rate = schedule.at(epoch * schedule.steps_per_epoch);
      // Constant within the epoch (DeiT steps the scheduler at epoch ends only).
      EXPECT_EQ(schedule.at((epoch + 1) * schedule.steps_per_epoch - 1), rate);
      rates.push_back(rate);
    }
    const std::string file = dir.file(recipe + "-lr.pt");
    save_torch_dict({{"lr", at::tensor(rates, at::kDouble)}}, file);
    const std::string ini = std::string(TLEG_SOURCE_DIR) + "/experiments/imagenet/";
    const auto result = run_python_reference(
        "schedule_reference.py", "--ini " + ini + "common.ini --ini " + ini + recipe +
                                     ".ini --ranks " + std::to_string(kRanks) + " --lr " + file);
    EXPECT_EQ(result.status, 0) << result.output;
    std::cout << result.output;  // the measured differences, for the log
  }
}

TEST(ReleasedRecipe, DistillationLossIsDeitsFormulaOnTheSameLogits) {
  TempDir dir;
  at::manual_seed(3);
  const std::int64_t batch = 16, classes = 1000;
  const at::Tensor student = at::randn({batch, classes}) * 3;
  const at::Tensor teacher = at::randn({batch, classes}) * 3;
  const at::Tensor targets = at::softmax(at::randn({batch, classes}) * 4, -1);  // mixed, smoothed
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"student", student}, {"teacher", teacher}, {"targets", targets}};
  std::vector<double> cases;  // tau, alpha, loss from logits, loss from probabilities
  for (const double tau : {1.0, 3.0})
    for (const double alpha : {1.0, 0.5}) {
      const double from_logits =
          distillation_loss(student, teacher, targets, tau, alpha).item<double>();
      const double from_probabilities =
          distillation_loss_from_probabilities(student, at::softmax(teacher / tau, -1), targets,
                                               tau, alpha)
              .item<double>();
      cases.insert(cases.end(), {tau, alpha, from_logits, from_probabilities});
    }
  tensors.emplace_back("cases", at::tensor(cases, at::kDouble).reshape({-1, 4}));
  save_torch_dict(tensors, dir.file("loss.pt"));
  const auto result = run_python_reference("distillation_reference.py", dir.file("loss.pt"));
  EXPECT_EQ(result.status, 0) << result.output;
  std::cout << result.output;  // the measured differences, for the log
}

}  // namespace
}  // namespace tleg

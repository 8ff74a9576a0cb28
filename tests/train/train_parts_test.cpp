// The training loop's parts: schedule values, losses against their definitions, parameter
// groups, and checkpoints that survive corruption.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <fstream>
#include <sstream>
#include <iterator>

#include "common/format.h"
#include "model/vit.h"
#include "temp_dir.h"
#include "train/checkpoint.h"
#include "train/losses.h"
#include "train/optimizer.h"
#include "train/run_record.h"
#include "train/schedule.h"

namespace tleg {
namespace {

TEST(CosineSchedule, WarmupInsideTheCosineAndOneEpochLateAsDeitStepsIt) {
  CosineSchedule schedule{.base_lr = 1e-3,
                          .min_lr = 1e-5,
                          .warmup_lr = 1e-6,
                          .warmup_epochs = 5,
                          .epochs = 100,
                          .steps_per_epoch = 10};
  EXPECT_DOUBLE_EQ(schedule.at(0), 1e-6);
  EXPECT_DOUBLE_EQ(schedule.at(19), 1e-6);  // epoch 1 trains at f(0): DeiT steps after the epoch
  EXPECT_NEAR(schedule.at(20), 1e-6 + (1e-3 - 1e-6) / 5, 1e-15);  // epoch 2 at f(1)
  // The cosine is measured from t = 0, so at the end of the warm-up it is already below the peak.
  const double at_five = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + std::cos(std::numbers::pi * 5 / 100));
  EXPECT_NEAR(schedule.at(60), at_five, 1e-15);
  EXPECT_NEAR(schedule.value(50), 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-15);  // half way: the mean
  EXPECT_GT(schedule.at(999), 1e-5);  // the last epoch trains at f(98), above the floor
  EXPECT_DOUBLE_EQ(schedule.value(100), 1e-5);
  schedule.warmup_prefix = true;  // the cosine restarts after the warm-up: the peak at t = 5
  EXPECT_DOUBLE_EQ(schedule.value(5), 1e-3);
  EXPECT_NEAR(schedule.value(5 + 47.5), 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-15);
  schedule.per_step = true;
  EXPECT_GT(schedule.at(5), schedule.at(0));
  EXPECT_DOUBLE_EQ(schedule.at(15), schedule.value(1.5));
  EXPECT_DOUBLE_EQ(scaled_lr(5e-4, 1024), 1e-3);
}

TEST(Losses, SoftCrossEntropyAndDistillationMatchTheirDefinitions) {
  const at::Tensor logits = at::randn({4, 6}, at::kDouble);
  const at::Tensor labels = at::tensor({1, 0, 5, 2}, at::kLong);
  const at::Tensor one_hot = at::one_hot(labels, 6).to(at::kDouble);
  EXPECT_NEAR(soft_target_cross_entropy(logits, one_hot).item<double>(),
              at::cross_entropy_loss(logits, labels).item<double>(), 1e-12);

  const at::Tensor teacher = at::randn({4, 6}, at::kDouble);
  const double tau = 2.0;
  // KL(p_t || p_s) per row, averaged, times tau^2.
  const at::Tensor pt = at::softmax(teacher / tau, -1), ps = at::softmax(logits / tau, -1);
  const double kl = (pt * (pt.log() - ps.log())).sum(-1).mean().item<double>();
  EXPECT_NEAR(
      distillation_loss(logits, teacher, one_hot, tau, 1.0, KlReduction::kBatchMean).item<double>(),
      kl * 4, 1e-12);
  // DeiT's default divides by batch x classes as well.
  EXPECT_NEAR(distillation_loss(logits, teacher, one_hot, tau, 1.0).item<double>(), kl * 4 / 6,
              1e-12);
  const double ce = soft_target_cross_entropy(logits, one_hot).item<double>();
  EXPECT_NEAR(distillation_loss(logits, teacher, one_hot, tau, 0.25).item<double>(),
              0.75 * ce + 0.25 * 4 * kl / 6, 1e-12);
  EXPECT_NEAR(distillation_loss(teacher, teacher, one_hot, 1.0, 1.0).item<double>(), 0.0, 1e-12);
}

TEST(AdamW, NoDecayOnBiasesNormsAndPositionEmbedding) {
  ViT vit({.image_size = 8,
           .patch_size = 4,
           .channels = 1,
           .classes = 3,
           .dim = 6,
           .heads = 2,
           .depth = 1});
  std::int64_t decayed = 0;
  for (const auto& item : vit.named_parameters())
    decayed += uses_weight_decay(item.key(), item.value());
  EXPECT_EQ(decayed, 6);  // patch conv, qkv, proj, fc1, fc2, head weights
  auto optimizer = make_adamw(vit, {.lr = 0.1});
  ASSERT_EQ(optimizer->param_groups().size(), 2u);
  EXPECT_EQ(optimizer->param_groups()[0].params().size(), 6u);
  set_learning_rate(*optimizer, 0.25);
  EXPECT_DOUBLE_EQ(
      static_cast<torch::optim::AdamWOptions&>(optimizer->param_groups()[1].options()).lr(), 0.25);
}

// The fused AdamW against torch::optim::AdamW's reference loop, from the same start with the
// same gradients: both groups (with and without decay), several steps so the bias corrections
// and the state matter. Same formula in float32 with the operations in another order: each
// step differs by a few ulp of the update (~1e-7 relative), so after 5 steps 1e-5 of the total
// change is a bound with room that a wrong formula (a missing bias correction or decay, a
// wrong step count) exceeds by orders of magnitude.
TEST(AdamW, FusedStepMatchesTheReferenceLoopAndSharesItsState) {
  const VitConfig config{.image_size = 8,
                         .patch_size = 4,
                         .channels = 1,
                         .classes = 3,
                         .dim = 8,
                         .heads = 2,
                         .depth = 2};
  ViT fused_model(config), loop_model(config);
  initialise(fused_model, 3);
  initialise(loop_model, 3);
  auto fused = make_adamw(fused_model, {.lr = 1e-2, .weight_decay = 0.05});
  ASSERT_NE(dynamic_cast<FusedAdamW*>(fused.get()), nullptr);  // training gets the fused kernel
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& group : fused->param_groups()) {
    std::vector<at::Tensor> params;
    for (const auto& p : group.params()) {
      for (const auto& item : fused_model.named_parameters())
        if (item.value().is_same(p)) params.push_back(loop_model.named_parameters()[item.key()]);
    }
    groups.emplace_back(params, group.options().clone());
  }
  torch::optim::AdamW loop(groups, torch::optim::AdamWOptions(1e-2));
  const auto start = fused_model.parameters();
  std::vector<at::Tensor> initial;
  for (const auto& p : start) initial.push_back(p.detach().clone());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  for (int step = 0; step < 5; ++step) {
    const auto fused_params = fused_model.parameters();
    const auto loop_params = loop_model.parameters();
    for (std::size_t i = 0; i < fused_params.size(); ++i) {
      const at::Tensor grad = at::randn(fused_params[i].sizes(), generator);
      fused_params[i].mutable_grad() = grad.clone();
      loop_params[i].mutable_grad() = grad.clone();
    }
    fused->step();
    loop.step();
  }
  const auto fused_params = fused_model.parameters();
  const auto loop_params = loop_model.parameters();
  for (std::size_t i = 0; i < fused_params.size(); ++i) {
    const double change = (loop_params[i] - initial[i]).abs().max().item<double>();
    ASSERT_GT(change, 1e-3);  // the steps moved every tensor
    EXPECT_LE((fused_params[i] - loop_params[i]).abs().max().item<double>(), 1e-5 * change)
        << "parameter " << i;
  }
  // The state is the reference's: a checkpoint of the fused optimizer loads into the loop.
  torch::serialize::OutputArchive archive;
  fused->save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  torch::optim::AdamW reloaded(groups, torch::optim::AdamWOptions(1e-2));
  torch::serialize::InputArchive input;
  std::istringstream in(bytes.str());
  input.load_from(in);
  reloaded.load(input);
  const auto& state = static_cast<torch::optim::AdamWParamState&>(
      *reloaded.state().at(loop_params[0].unsafeGetTensorImpl()));
  EXPECT_EQ(state.step(), 5);
  EXPECT_TRUE(state.exp_avg().equal(static_cast<torch::optim::AdamWParamState&>(
                                        *fused->state().at(fused_params[0].unsafeGetTensorImpl()))
                                        .exp_avg()));
}

TEST(CheckpointStore, KeepsTheNewestAndSkipsACorruptOne) {
  testing::TempDir dir;
  CheckpointStore store(dir.file("ckpt"), 2);
  for (const std::int64_t step : {10, 20, 30}) {
    store.save(step, [&](torch::serialize::OutputArchive& archive) {
      archive.write("value", at::full({3}, static_cast<double>(step), at::kDouble));
    });
  }
  ASSERT_EQ(store.checkpoints().size(), 2u);  // step 10 pruned
  // Corrupt the newest: resume falls back to step 20 with a warning.
  const std::string newest = store.checkpoints().back();
  {
    std::fstream file(newest, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x7f');
  }
  std::vector<std::string> warnings;
  at::Tensor value;
  const auto step = store.load_latest(
      [&](torch::serialize::InputArchive& archive) { archive.read("value", value); },
      [&](const std::string& message) { warnings.push_back(message); });
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(*step, 20);
  EXPECT_DOUBLE_EQ(value[0].item<double>(), 20.0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(newest), std::string::npos);
  EXPECT_FALSE(CheckpointStore(dir.file("empty"), 1)
                   .load_latest([](auto&) {}, [](const std::string&) {})
                   .has_value());
}

TEST(RunLedger, RoundTripAndClearErrors) {
  testing::TempDir dir;
  RunLedger ledger{.method = "tleg",
                   .init = "tleg expansion of lg.h5",
                   .depth = 6,
                   .epochs = 3,
                   .images = 180000,
                   .flops = 1.5e12,
                   .ranks = 2,
                   .device = "cpu",
                   .parameters_stored = 1234,
                   .top1 = 0.875,
                   .best_top1 = 0.9,
                   .best_epoch = 2,
                   .dataset = "fashion-mnist",
                   .classes = 10};
  ledger.extra["seed"] = "1";
  ledger.placement = {{.rank = 0, .host = "vm", .node = "node1", .device = "cpu", .cpus = "0-1"},
                      {.rank = 1, .host = "vm", .node = "node2", .device = "cpu", .cpus = "0"}};
  write_run_ledger(ledger, dir.file("run.json"));
  const RunLedger back = read_run_ledger(dir.file("run.json"));
  EXPECT_EQ(back.method, "tleg");
  EXPECT_EQ(back.depth, 6);
  EXPECT_DOUBLE_EQ(back.flops, 1.5e12);
  EXPECT_DOUBLE_EQ(back.top1, 0.875);
  EXPECT_DOUBLE_EQ(back.best_top1, 0.9);
  EXPECT_EQ(back.best_epoch, 2);
  EXPECT_EQ(back.extra.at("seed"), "1");
  ASSERT_EQ(back.placement.size(), 2u);
  EXPECT_EQ(back.placement[1].node, "node2");
  EXPECT_EQ(back.placement[1].cpus, "0");
  {
    // A record written before the best epoch existed reads as best = last.
    std::ifstream in(dir.file("run.json"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string key : {"best_top1", "best_top5", "best_epoch"}) {
      const auto at = text.find("\"" + key + "\"");
      ASSERT_NE(at, std::string::npos) << key;
      text.erase(at, text.find('\n', at) + 1 - at);
    }
    std::ofstream(dir.file("old.json")) << text;
    const RunLedger old = read_run_ledger(dir.file("old.json"));
    EXPECT_DOUBLE_EQ(old.best_top1, 0.875);
    EXPECT_EQ(old.best_epoch, 3);
  }
  std::ofstream(dir.file("bad.json")) << "{\"format\": \"tleg-run\", \"method\": \"x\"}";
  try {
    read_run_ledger(dir.file("bad.json"));
    FAIL() << "an incomplete record must not load";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find(dir.file("bad.json")), std::string::npos);
  }
  EXPECT_EQ(format_duration(3725), "1h02m");
  EXPECT_EQ(format_duration(65), "1m05s");
}

}  // namespace
}  // namespace tleg

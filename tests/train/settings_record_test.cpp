// The settings record of checkpoints: written and read back alike, and compared key by key on
// resume, including the shorter records of checkpoints written by earlier versions.
#include "train/settings_record.h"

#include <gtest/gtest.h>

namespace tleg {
namespace {

TEST(SettingsRecord, ReadsBackWhatItWrote) {
  const SettingsRecord record = {{"aug.scale-min", "0.35"},
                                 {"config", ""},
                                 {"model", "ViT dim 64, heads 2, depth 3"},
                                 {"optim.lr", "0.002"}};
  EXPECT_EQ(parse_record(record_text(record)), record);
}

TEST(SettingsRecord, NamesEveryKeyThatDiffersWithBothValues) {
  const SettingsRecord made = {{"aug.scale-min", "0.35"}, {"optim.lr", "0.002"}, {"seed", "0"}};
  SettingsRecord now = made;
  now["aug.scale-min"] = "0.9";
  now["optim.lr"] = "0.001";
  const RecordComparison comparison = compare_records(made, now);
  EXPECT_EQ(comparison.differences, (std::vector<std::string>{"aug.scale-min=0.35 (now 0.9)",
                                                              "optim.lr=0.002 (now 0.001)"}));
  EXPECT_TRUE(comparison.unrecorded.empty());
  EXPECT_TRUE(compare_records(made, made).differences.empty());
}

// An earlier version recorded the Trainer's own values only, as space-separated words (the last,
// the precision, only from some version on): those compare, the rest is reported unrecorded.
TEST(SettingsRecord, AnEarlierVersionsRecordComparesWhereItHasTheKey) {
  const SettingsRecord made = parse_record(
      "world_size=2 global_batch=128 steps_per_epoch=150 epochs=2 lr=0.001 seed=5", ' ');
  const SettingsRecord now = {
      {"world_size", "2"},   {"global_batch", "128"},  {"steps_per_epoch", "150"},
      {"epochs", "2"},       {"lr", "0.001"},          {"seed", "5"},
      {"precision", "fp32"}, {"aug.scale-min", "0.35"}};
  RecordComparison comparison = compare_records(made, now);
  EXPECT_TRUE(comparison.differences.empty());
  EXPECT_EQ(comparison.unrecorded, (std::vector<std::string>{"aug.scale-min", "precision"}));
  SettingsRecord other = now;
  other["world_size"] = "4";
  comparison = compare_records(made, other);
  EXPECT_EQ(comparison.differences, std::vector<std::string>{"world_size=2 (now 4)"});
}

}  // namespace
}  // namespace tleg

// The teacher-logits store's row checksums: a flipped byte of one stored view is caught when that
// view is read, naming the shard file, sample, view and the fix; other views still read; shard
// files written before rows had checksums are read unverified.
#include <gtest/gtest.h>

#include "common/error.h"
#include "corrupt_store.h"
#include "data/teacher_logits.h"
#include "error_message.h"
#include "temp_dir.h"

namespace tleg {
namespace {

using testing::error_of;
using testing::TempDir;

constexpr std::int64_t kViews = 2, kTopk = 3, kClasses = 5;

TeacherLogitsTags small_tags() {
  TeacherLogitsTags tags;
  tags.fingerprint = "0000abcd-5";
  tags.split = "train";
  tags.views = kViews;
  tags.classes = kClasses;
  tags.topk = kTopk;
  tags.seed = 7;
  tags.recipe = "unit";
  tags.teacher = "unit";
  return tags;
}

// Two shards of four samples; view v of sample s has top classes s % 5, +1, +2 with logits
// 3, 2, 1 (as fp16 bits) and a crop that names the sample and view.
void write_store(const std::string& dir) {
  const std::vector<std::uint64_t> starts = {0, 4, 8};
  for (std::size_t shard = 0; shard + 1 < starts.size(); ++shard) {
    TeacherLogitsShardWriter writer(teacher_logits_shard_path(dir, std::int64_t(shard)),
                                    small_tags(), 0, std::int64_t(shard), starts[shard], 4);
    std::vector<ViewParams> params;
    std::vector<std::uint16_t> values;
    std::vector<std::int32_t> indices;
    std::vector<float> log_sum_exp;
    for (std::uint64_t sample = starts[shard]; sample < starts[shard + 1]; ++sample)
      for (std::int64_t view = 0; view < kViews; ++view) {
        ViewParams p;
        p.source_width = p.source_height = 64;
        p.crop = {static_cast<int>(sample), static_cast<int>(view), 32, 32};
        params.push_back(p);
        values.insert(values.end(), {0x4200, 0x4000, 0x3c00});  // 3, 2, 1
        for (std::int32_t k = 0; k < kTopk; ++k)
          indices.push_back(static_cast<std::int32_t>((sample + k) % kClasses));
        log_sum_exp.push_back(3.5f);
      }
    writer.append(params, values, indices, log_sum_exp);
    writer.finish();
  }
  write_teacher_logits_index(dir, small_tags(), 0, starts);
}

TEST(TeacherLogitsChecksums, AFlippedByteOfOneViewIsCaughtWhenThatViewIsRead) {
  TempDir dir;
  write_store(dir.path().string());
  const std::string shard = teacher_logits_shard_path(dir.path().string(), 1);
  // Sample 5, view 1 is row (5 - 4) * 2 + 1 = 3 of shard 1; its first value's high byte.
  testing::flip_dataset_byte(shard, "/values", 3 * kTopk * sizeof(std::uint16_t) + 1);
  const TeacherLogitsStore store(dir.path().string());
  const std::string message = error_of([&] { store.read(5, 1); });
  EXPECT_NE(message.find(shard + ": the stored view 1 of sample 5 (shard 1, samples [4, 8)) "
                                 "does not match its checksum"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("tleg logits"), std::string::npos) << message;
  // The other views, in the same shard and the other, read as written.
  for (const auto& [sample, view] : {std::pair{5, 0}, {4, 1}, {1, 1}}) {
    const StoredView stored = store.read(sample, view);
    EXPECT_EQ(stored.params.crop.x, sample);
    EXPECT_EQ(stored.params.crop.y, view);
    EXPECT_FLOAT_EQ(stored.logits[static_cast<std::size_t>(sample % kClasses)], 3.0f);
  }
}

TEST(TeacherLogitsChecksums, ShardsWithoutChecksumsAreReadUnverified) {
  TempDir dir;
  write_store(dir.path().string());
  const std::string shard = teacher_logits_shard_path(dir.path().string(), 0);
  {
    // As a shard written before rows had checksums.
    const hid_t file = H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(H5Ldelete(file, "/checksums", H5P_DEFAULT), 0);
    H5Fclose(file);
  }
  testing::flip_dataset_byte(shard, "/values", 1);  // sample 0, view 0: 3 becomes another value
  const TeacherLogitsStore store(dir.path().string());
  EXPECT_NE(store.read(0, 0).logits[0], 3.0f);
  EXPECT_EQ(store.read(6, 1).params.crop.x, 6);
}

}  // namespace
}  // namespace tleg

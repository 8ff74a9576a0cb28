// The threaded loader on small stores it writes itself: coverage across two ranks, batches
// independent of thread count, resume, errors naming the sample, a damaged store's checksum
// error, raw (Fashion-MNIST-like) images.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "common/error.h"
#include "corrupt_store.h"
#include "data/dataset_store.h"
#include "data/loader.h"
#include "temp_dir.h"
#include "test_images.h"

namespace tleg {
namespace {

using testing::TempDir;
using testing::textured_image;

// 60 JPEGs of varying size in shards of 16; `corrupt` (if any) gets garbage bytes.
std::string write_jpeg_store(const TempDir& dir, int corrupt = -1) {
  const std::string path = dir.file("jpeg.h5");
  DatasetInfo info;
  info.name = "unit-jpeg";
  info.class_names = {"a", "b", "c", "d"};
  DatasetWriter writer(path, info, 16);
  writer.begin_split("train");
  for (int i = 0; i < 60; ++i) {
    auto bytes = encode_jpeg(textured_image(48 + i % 7, 64 - i % 5, 3, i), 90);
    if (i == corrupt) bytes.assign(300, 0x42);
    writer.add(bytes.data(), bytes.size(), i % 4);
  }
  writer.end_split();
  writer.finish();
  return path;
}

LoaderOptions small_options(const std::string& path) {
  LoaderOptions options;
  options.path = path;
  options.batch_size = 8;
  options.sampler.seed = 3;
  options.recipe = ViewRecipe::deit(32);
  options.drop_last_batch = false;
  return options;
}

std::vector<Batch> whole_epoch(Loader& loader, std::uint64_t epoch, std::uint64_t first_step = 0) {
  std::vector<Batch> batches;
  loader.start_epoch(epoch, first_step);
  while (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

TEST(Loader, EverySampleOnceAcrossTwoRanksInBothReadModes) {
  TempDir dir;
  const std::string path = write_jpeg_store(dir);
  for (const std::uint64_t in_memory : {std::uint64_t{1} << 30, std::uint64_t{0}}) {
    std::multiset<std::int64_t> seen;
    for (int rank = 0; rank < 2; ++rank) {
      LoaderOptions options = small_options(path);
      options.ranks = 2;
      options.rank = rank;
      options.in_memory_bytes = in_memory;  // 0: read runs for each window of batches
      options.read_gap_bytes = 2000;
      Loader loader(options);
      EXPECT_EQ(loader.steps_per_epoch(), 4u);  // 30 per rank in batches of 8
      for (const Batch& batch : whole_epoch(loader, 1)) {
        ASSERT_EQ(batch.images.sizes(), (at::IntArrayRef{batch.samples.size(0), 3, 32, 32}));
        for (std::int64_t i = 0; i < batch.samples.size(0); ++i) {
          seen.insert(batch.samples[i].item<std::int64_t>());
          EXPECT_EQ(batch.labels[i].item<std::int64_t>(),
                    batch.samples[i].item<std::int64_t>() % 4);
        }
      }
    }
    ASSERT_EQ(seen.size(), 60u);
    for (std::int64_t i = 0; i < 60; ++i) EXPECT_EQ(seen.count(i), 1u) << "sample " << i;
  }
}

TEST(Loader, BatchesDoNotDependOnThreadCountOrReadMode) {
  TempDir dir;
  const std::string path = write_jpeg_store(dir);
  LoaderOptions one = small_options(path);
  one.threads = 1;
  LoaderOptions two = small_options(path);
  two.threads = 2;
  two.in_memory_bytes = 0;
  Loader a(one), b(two);
  const auto first = whole_epoch(a, 2), second = whole_epoch(b, 2);
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t s = 0; s < first.size(); ++s) {
    EXPECT_TRUE(at::equal(first[s].samples, second[s].samples));
    EXPECT_TRUE(at::equal(first[s].images, second[s].images)) << "step " << s;
    EXPECT_EQ(first[s].views, second[s].views);
  }
  // Another epoch gives other views.
  const auto next_epoch = whole_epoch(a, 3);
  EXPECT_FALSE(at::equal(first[0].images, next_epoch[0].images));
}

TEST(Loader, ResumeAtAStepGivesTheRemainingBatches) {
  TempDir dir;
  const std::string path = write_jpeg_store(dir);
  Loader loader(small_options(path));
  const auto full = whole_epoch(loader, 5);
  ASSERT_EQ(full.size(), 8u);  // 60 samples, batches of 8, the last one short
  EXPECT_EQ(full.back().samples.size(0), 4);
  Loader resumed(small_options(path));
  const auto rest = whole_epoch(resumed, 5, 3);
  ASSERT_EQ(rest.size(), 5u);
  for (std::size_t s = 0; s < rest.size(); ++s) {
    EXPECT_EQ(rest[s].step, 3 + s);
    EXPECT_TRUE(at::equal(rest[s].images, full[3 + s].images)) << "step " << 3 + s;
    EXPECT_TRUE(at::equal(rest[s].labels, full[3 + s].labels));
  }
  // Abandoning an epoch half-way and starting another is clean.
  loader.start_epoch(6);
  ASSERT_TRUE(loader.next().has_value());
  EXPECT_EQ(whole_epoch(loader, 5).size(), 8u);
}

// The error that ends epoch 0 of `loader`, read batch by batch; "" when it ends without one.
std::string error_of_epoch(Loader& loader) {
  loader.start_epoch(0);
  try {
    while (loader.next()) {
    }
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Loader, WorkerErrorNamesTheFileAndTheSample) {
  TempDir dir;
  const std::string path = write_jpeg_store(dir, /*corrupt=*/37);
  Loader loader(small_options(path));
  const std::string message = error_of_epoch(loader);
  EXPECT_NE(message.find("sample 37"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("JPEG"), std::string::npos) << message;
  // The loader stays usable (the destructor joins cleanly after an error, too).
  EXPECT_THROW(whole_epoch(loader, 0), Error);
}

TEST(Loader, ADamagedImageFailsItsBatchWithTheStoresChecksumError) {
  TempDir dir;
  const std::string path = write_jpeg_store(dir);
  testing::flip_image_byte(path, "train", 37, 200);  // inside the entropy-coded data
  // Read whole once (the split fits in memory) and read in runs per window of batches.
  for (const std::uint64_t in_memory : {std::uint64_t{1} << 30, std::uint64_t{0}}) {
    LoaderOptions options = small_options(path);
    options.in_memory_bytes = in_memory;
    Loader loader(options);
    const std::string message = error_of_epoch(loader);
    EXPECT_NE(message.find(path + ": split 'train', shard 2 (images [32, 48)): image 37 does not "
                                  "match its checksum"),
              std::string::npos)
        << message;
    // The loader can start again (and fails the same way) instead of hanging.
    EXPECT_THROW(whole_epoch(loader, 1), Error);
  }
}

TEST(Loader, RawGreyImagesUseTheSamePathAndEvaluationViewIsIdentity) {
  TempDir dir;
  const std::string path = dir.file("raw.h5");
  DatasetInfo info;
  info.name = "unit-raw";
  info.encoding = ImageEncoding::kRaw;
  info.height = info.width = 28;
  info.channels = 1;
  info.class_names = {"x", "y"};
  std::vector<Image> images;
  {
    DatasetWriter writer(path, info, 10);
    writer.begin_split("test");
    for (int i = 0; i < 20; ++i) {
      images.push_back(textured_image(28, 28, 1, 100 + i));
      writer.add(images.back().pixels.data(), images.back().pixels.size(), i % 2);
    }
    writer.end_split();
    writer.finish();
  }
  LoaderOptions options;
  options.path = path;
  options.split = "test";
  options.batch_size = 6;
  options.train = false;
  options.sampler.shuffle = false;
  options.drop_last_batch = false;
  options.recipe = ViewRecipe::deit(28);
  options.recipe.channels = 1;
  options.recipe.eval_crop_fraction = 1.0;  // as the Fashion-MNIST configs: no resize, no crop
  options.recipe.mean = {0.286f, 0.f, 0.f};
  options.recipe.std = {0.353f, 1.f, 1.f};
  Loader loader(options);
  const auto batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 4u);
  const Batch& first = batches[0];
  ASSERT_EQ(first.images.sizes(), (at::IntArrayRef{6, 1, 28, 28}));
  for (int i = 0; i < 6; ++i) {
    const float expected = (images[i].pixels[5 * 28 + 9] / 255.0f - 0.286f) / 0.353f;
    EXPECT_FLOAT_EQ(first.images[i][0][5][9].item<float>(), expected);
  }
  // Training views of raw images work as well.
  options.train = true;
  options.sampler.shuffle = true;
  Loader train(options);
  EXPECT_EQ(whole_epoch(train, 0).size(), 4u);
}

}  // namespace
}  // namespace tleg

// The dataset store (round trip, shards, broken files, image checksums), the IDX reader on the
// real Fashion-MNIST files, and the distributed sampler (coverage, determinism, resume).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/hdf5_file.h"
#include "corrupt_store.h"
#include "data/dataset_store.h"
#include "import/idx_file.h"
#include "import/importers.h"
#include "data/sampler.h"
#include "error_message.h"
#include "temp_dir.h"

namespace tleg {
namespace {

using testing::error_of;
using testing::TempDir;

// Images of varying length with recognisable contents: image i is i%251 repeated 10+i%17 times.
std::vector<std::uint8_t> fake_image(int i) {
  return std::vector<std::uint8_t>(10 + i % 17, static_cast<std::uint8_t>(i % 251));
}

DatasetInfo jpeg_like_info() {
  DatasetInfo info;
  info.name = "unit";
  info.class_names = {"a", "b", "c"};
  info.source = "test";
  return info;
}

TEST(DatasetStore, RoundTripKeepsImagesLabelsAndShards) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  DatasetWriter writer(path, jpeg_like_info(), /*images_per_shard=*/7);
  writer.begin_split("train");
  for (int i = 0; i < 50; ++i) {
    const auto image = fake_image(i);
    writer.add(image.data(), image.size(), i % 3);
  }
  writer.end_split();
  writer.begin_split("val");
  for (int i = 0; i < 5; ++i) {
    const auto image = fake_image(100 + i);
    writer.add(image.data(), image.size(), 2);
  }
  const std::string fingerprint = writer.finish();
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));

  DatasetReader reader(path);
  EXPECT_EQ(reader.fingerprint(), fingerprint);
  EXPECT_EQ(reader.info().class_names, (std::vector<std::string>{"a", "b", "c"}));
  const SplitIndex& train = reader.index("train");
  ASSERT_EQ(train.size(), 50u);
  EXPECT_EQ(train.shards(), 8u);  // 7 full shards of 7 and one of 1
  const ImageRun run = reader.read_run("train", 0, 50);
  for (int i = 0; i < 50; ++i) {
    const auto expected = fake_image(i);
    ASSERT_EQ(run.length(i), expected.size());
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), run.image(i))) << i;
    EXPECT_EQ(train.labels[i], i % 3);
  }
  const ImageRun tail = reader.read_run("val", 3, 2);
  const auto last = fake_image(104);
  EXPECT_TRUE(std::equal(last.begin(), last.end(), tail.image(4)));
  EXPECT_NE(error_of([&] { reader.index("test"); }).find("it has: train, val"), std::string::npos);
}

TEST(DatasetStore, SameContentSameFingerprintOtherContentOther) {
  TempDir dir;
  auto write = [&](const std::string& name, int flip) {
    DatasetWriter writer(dir.file(name), jpeg_like_info(), 4);
    writer.begin_split("train");
    for (int i = 0; i < 10; ++i) {
      auto image = fake_image(i);
      if (i == flip) image[0] ^= 1;
      writer.add(image.data(), image.size(), i % 3);
    }
    return writer.finish();
  };
  EXPECT_EQ(write("a.h5", -1), write("b.h5", -1));
  EXPECT_NE(write("a.h5", -1), write("c.h5", 3));
}

TEST(DatasetStore, InterruptedWriteLeavesNoFile) {
  TempDir dir;
  {
    DatasetWriter writer(dir.file("d.h5"), jpeg_like_info(), 4);
    writer.begin_split("train");
    const auto image = fake_image(1);
    writer.add(image.data(), image.size(), 0);
  }  // destroyed without finish(), as when an exception unwinds
  EXPECT_FALSE(std::filesystem::exists(dir.file("d.h5")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("d.h5.partial")));
}

TEST(DatasetStore, TheOutputFolderIsMadeAndAnUnwritableOneNamed) {
  TempDir dir;
  {
    DatasetWriter writer(dir.file("new/folder/d.h5"), jpeg_like_info(), 4);
    writer.begin_split("train");
    const auto image = fake_image(1);
    writer.add(image.data(), image.size(), 0);
    writer.end_split();
    writer.finish();
  }
  EXPECT_TRUE(std::filesystem::exists(dir.file("new/folder/d.h5")));
  std::ofstream(dir.file("a-file")) << "not a folder";
  const std::string message =
      error_of([&] { DatasetWriter writer(dir.file("a-file/d.h5"), jpeg_like_info(), 4); });
  EXPECT_NE(message.find(dir.file("a-file/d.h5") + ": cannot create its folder"), std::string::npos)
      << message;
}

TEST(DatasetStore, WrongVersionTruncatedAndBrokenIndexAreExplained) {
  TempDir dir;
  {
    h5::File file = h5::File::create(dir.file("v9.h5"));
    file.set_attribute("/", "format", std::string("tleg-dataset"));
    file.set_attribute("/", "format_version", std::int64_t{9});
  }
  const std::string version = error_of([&] { DatasetReader reader(dir.file("v9.h5")); });
  EXPECT_NE(version.find("version 9"), std::string::npos) << version;
  EXPECT_NE(version.find("tleg prepare"), std::string::npos) << version;

  DatasetWriter writer(dir.file("ok.h5"), jpeg_like_info(), 4);
  writer.begin_split("train");
  for (int i = 0; i < 9; ++i) writer.add(fake_image(i).data(), fake_image(i).size(), 0);
  writer.finish();
  std::filesystem::copy_file(dir.file("ok.h5"), dir.file("cut.h5"));
  std::filesystem::resize_file(dir.file("cut.h5"),
                               std::filesystem::file_size(dir.file("ok.h5")) / 2);
  const std::string cut = error_of([&] { DatasetReader reader(dir.file("cut.h5")); });
  EXPECT_NE(cut.find(dir.file("cut.h5")), std::string::npos) << cut;

  // A store whose offsets skip bytes: built by hand in the store's layout.
  {
    h5::File file = h5::File::create(dir.file("broken.h5"));
    for (const auto& [key, value] : {std::pair{"format", "tleg-dataset"},
                                     {"name", "x"},
                                     {"encoding", "jpeg"},
                                     {"source", "x"},
                                     {"fingerprint", "x"}})
      file.set_attribute("/", key, std::string(value));
    file.set_attribute("/", "format_version", std::int64_t{1});
    for (const char* key : {"height", "width", "channels"})
      file.set_attribute("/", key, std::int64_t{0});
    const std::string names = "a\n";
    file.write("/class_names", {names.size()}, reinterpret_cast<const std::uint8_t*>(names.data()));
    file.create_group("/splits");
    file.create_group("/splits/train");
    const std::vector<std::uint8_t> blob(30, 1);
    const std::vector<std::uint64_t> offsets = {0, 12}, lengths = {10, 10}, starts = {0, 2};
    const std::vector<std::int32_t> labels = {0, 0};
    file.write("/splits/train/images", {30}, blob.data());
    file.write("/splits/train/offsets", {2}, offsets.data());
    file.write("/splits/train/lengths", {2}, lengths.data());
    file.write("/splits/train/labels", {2}, labels.data());
    file.write("/splits/train/shard_starts", {2}, starts.data());
  }
  const std::string broken = error_of([&] { DatasetReader reader(dir.file("broken.h5")); });
  EXPECT_NE(broken.find("broken index"), std::string::npos) << broken;
  EXPECT_NE(broken.find("sample 1"), std::string::npos) << broken;
}

// 20 images in shards of 4, labels i % 3.
std::string write_small_store(const TempDir& dir, const std::string& name) {
  DatasetWriter writer(dir.file(name), jpeg_like_info(), 4);
  writer.begin_split("train");
  for (int i = 0; i < 20; ++i) writer.add(fake_image(i).data(), fake_image(i).size(), i % 3);
  writer.finish();
  return dir.file(name);
}

TEST(DatasetStore, AFlippedImageByteIsCaughtNamingFileSplitShardAndImage) {
  TempDir dir;
  const std::string path = write_small_store(dir, "d.h5");
  testing::flip_image_byte(path, "train", 9, 5);
  DatasetReader reader(path);  // the index is intact: the store opens
  EXPECT_TRUE(reader.has_checksums());
  for (const auto& [first, count] : {std::pair{8, 4}, {0, 20}, {9, 1}}) {
    const std::string message = error_of([&] { reader.read_run("train", first, count); });
    EXPECT_NE(message.find(path + ": split 'train', shard 2 (images [8, 12)): image 9 does not "
                                  "match its checksum"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("re-run tleg prepare, or restore the file"), std::string::npos)
        << message;
  }
  // Every other image reads, also those of the damaged shard.
  for (const auto& [first, count] : {std::pair{0, 8}, {12, 8}, {8, 1}, {10, 2}}) {
    const ImageRun run = reader.read_run("train", first, count);
    for (int i = first; i < first + count; ++i) {
      const auto expected = fake_image(i);
      EXPECT_TRUE(std::equal(expected.begin(), expected.end(), run.image(i))) << i;
    }
  }
}

TEST(DatasetStore, AChangedLabelFailsTheImagesChecksum) {
  TempDir dir;
  const std::string path = write_small_store(dir, "d.h5");
  testing::rewrite_label(path, "train", 13, 2);  // was 13 % 3 = 1: still a valid class
  DatasetReader reader(path);
  EXPECT_NE(error_of([&] { reader.read_run("train", 12, 4); }).find("image 13 does not match"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { reader.read_run("train", 14, 6); }), "");
}

TEST(DatasetStore, AStoreWithoutChecksumsIsReadUnverified) {
  TempDir dir;
  const std::string path = write_small_store(dir, "old.h5");
  {
    // As a store written before checksums existed: the same layout without them.
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(H5Ldelete(file, "/splits/train/checksums", H5P_DEFAULT), 0);
    H5Fclose(file);
  }
  testing::flip_image_byte(path, "train", 9);
  DatasetReader reader(path);
  EXPECT_FALSE(reader.has_checksums());
  const ImageRun run = reader.read_run("train", 0, 20);
  EXPECT_NE(run.image(9)[0], fake_image(9)[0]);  // the damage is read, as before checksums
}

TEST(FashionMnist, IdxReaderOnTheRealFiles) {
  const IdxArray images = read_idx(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
  const IdxArray labels = read_idx(std::string(kFashionMnistDir) + "/train-labels-idx1-ubyte.gz");
  EXPECT_EQ(images.shape, (std::vector<std::int64_t>{60000, 28, 28}));
  ASSERT_EQ(labels.shape, (std::vector<std::int64_t>{60000}));
  std::map<int, int> counts;
  for (const auto label : labels.values) ++counts[label];
  EXPECT_EQ(counts.size(), 10u);
  for (const auto& [label, count] : counts) EXPECT_EQ(count, 6000) << label;
  double sum = 0;
  for (const auto value : images.values) sum += value;
  EXPECT_NEAR(sum / images.values.size() / 255.0, 0.2860, 1e-3);  // the known mean pixel
  const IdxArray test = read_idx(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(test.shape, (std::vector<std::int64_t>{10000}));
}

TEST(FashionMnist, PrepareWritesBothSplits) {
  TempDir dir;
  const ImportSummary summary = prepare_fashion_mnist(kFashionMnistDir, dir.file("f.h5"), 4096);
  EXPECT_EQ(summary.train, 60000u);
  EXPECT_EQ(summary.val, 10000u);
  DatasetReader reader(dir.file("f.h5"));
  EXPECT_EQ(reader.info().encoding, ImageEncoding::kRaw);
  EXPECT_EQ(reader.index("train").shards(), 15u);  // 60,000 / 4,096 rounded up
  const IdxArray images = read_idx(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz");
  const ImageRun run = reader.read_run("val", 9990, 10);
  EXPECT_TRUE(std::equal(run.bytes.begin(), run.bytes.end(), images.values.end() - 7840));
  EXPECT_NE(error_of([&] {
              prepare_fashion_mnist(dir.path().string(), dir.file("g.h5"), 64);
            }).find("dataset-fashion-mnist"),
            std::string::npos);
}

// A validation split held out of the training images for choosing a recipe: the last N training
// images (byte for byte the whole store's), the rest still "train", the test set still "val",
// and another fingerprint, so that nothing made from one store passes for the other's.
TEST(FashionMnist, HoldOutMovesTheLastTrainingImagesToTheirOwnSplit) {
  TempDir dir;
  prepare_fashion_mnist(kFashionMnistDir, dir.file("all.h5"), 4096);
  const ImportSummary summary =
      prepare_fashion_mnist(kFashionMnistDir, dir.file("held.h5"), 4096, "", 5000);
  EXPECT_EQ(summary.train, 55000u);
  EXPECT_EQ(summary.held_out, 5000u);
  EXPECT_EQ(summary.val, 10000u);
  const DatasetReader whole(dir.file("all.h5")), held(dir.file("held.h5"));
  EXPECT_EQ(held.splits(), (std::vector<std::string>{kHeldOutSplit, "train", "val"}));  // sorted
  EXPECT_NE(held.fingerprint(), whole.fingerprint());
  const auto same = [&](const std::string& split, std::uint64_t first, std::uint64_t count,
                        const std::string& whole_split, std::uint64_t whole_first) {
    const ImageRun a = held.read_run(split, first, count);
    const ImageRun b = whole.read_run(whole_split, whole_first, count);
    const auto& labels = held.index(split).labels;
    const auto& whole_labels = whole.index(whole_split).labels;
    return a.bytes == b.bytes &&
           std::equal(labels.begin() + static_cast<std::ptrdiff_t>(first),
                      labels.begin() + static_cast<std::ptrdiff_t>(first + count),
                      whole_labels.begin() + static_cast<std::ptrdiff_t>(whole_first));
  };
  EXPECT_TRUE(same("train", 0, 55000, "train", 0));
  EXPECT_TRUE(same(kHeldOutSplit, 0, 5000, "train", 55000));
  EXPECT_TRUE(same("val", 0, 10000, "val", 0));
  EXPECT_NE(error_of([&] {
              prepare_fashion_mnist(kFashionMnistDir, dir.file("x.h5"), 4096, "0", 6000);
            }).find("only 6000 images"),
            std::string::npos);
}

// Two disjoint halves of Fashion-MNIST, as the transfer profile makes them: each holds exactly
// its classes' images (counts, and every image byte-compared with the whole store's image of
// the same class and rank), relabelled in the order named, and every fingerprint differs.
TEST(FashionMnist, ClassSplitStoresHoldExactlyTheChosenClasses) {
  TempDir dir;
  const std::string whole_path = dir.file("all.h5");
  prepare_fashion_mnist(kFashionMnistDir, whole_path, 4096);
  const DatasetReader whole(whole_path);
  std::set<std::string> fingerprints = {whole.fingerprint()};
  for (const auto& [text, classes] :
       {std::pair<std::string, std::vector<std::int32_t>>{"0,2,4,6,8", {0, 2, 4, 6, 8}},
        {"9,1,3-5,7", {9, 1, 3, 4, 5, 7}},
        {"5-9", {5, 6, 7, 8, 9}}}) {
    const std::string path = dir.file("split.h5");
    const ImportSummary summary = prepare_fashion_mnist(kFashionMnistDir, path, 1000, text);
    const DatasetReader split(path);
    EXPECT_EQ(summary.train, 6000u * classes.size()) << text;
    EXPECT_EQ(summary.val, 1000u * classes.size()) << text;
    EXPECT_TRUE(fingerprints.insert(split.fingerprint()).second) << text;
    EXPECT_EQ(split.fingerprint().substr(split.fingerprint().find('-')),
              "-" + std::to_string(classes.size()));
    EXPECT_EQ(split.info().class_selection, (text == "9,1,3-5,7" ? "9,1,3,4,5,7"
                                             : text == "5-9"     ? "5,6,7,8,9"
                                                                 : text) +
                                                std::string(" of 10"));
    EXPECT_EQ(split.info().name,
              "fashion-mnist[" +
                  split.info().class_selection.substr(0, split.info().class_selection.find(' ')) +
                  "]");
    for (std::size_t k = 0; k < classes.size(); ++k)
      EXPECT_EQ(split.info().class_names[k], whole.info().class_names[classes[k]]);
    for (const std::string name : {"train", "val"}) {
      const SplitIndex& all = whole.index(name);
      const SplitIndex& part = split.index(name);
      const ImageRun all_images = whole.read_run(name, 0, all.size());
      const ImageRun part_images = split.read_run(name, 0, part.size());
      std::size_t next = 0;  // the whole store's images of the chosen classes, in order
      for (std::size_t i = 0; i < all.size(); ++i) {
        const auto at = std::find(classes.begin(), classes.end(), all.labels[i]);
        if (at == classes.end()) continue;
        ASSERT_LT(next, part.size()) << text << " " << name;
        ASSERT_EQ(part.labels[next], at - classes.begin()) << text << " " << name << " " << i;
        ASSERT_TRUE(
            std::equal(all_images.image(i), all_images.image(i) + 784, part_images.image(next)))
            << text << " " << name << " image " << i;
        ++next;
      }
      EXPECT_EQ(next, part.size()) << text << " " << name;
    }
  }
  // The same selection gives the same store; bad selections name --classes and the fix.
  prepare_fashion_mnist(kFashionMnistDir, dir.file("a.h5"), 4096, "5-9");
  EXPECT_EQ(DatasetReader(dir.file("a.h5")).fingerprint(),
            DatasetReader(dir.file("split.h5")).fingerprint());
  for (const std::string bad : {"0,0", "10", "3-1", "x", "1,", "2-"}) {
    const std::string message =
        error_of([&] { prepare_fashion_mnist(kFashionMnistDir, dir.file("b.h5"), 4096, bad); });
    EXPECT_NE(message.find("--classes '" + bad + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("e.g. 0,2,4,6,8"), std::string::npos) << message;
    EXPECT_FALSE(std::filesystem::exists(dir.file("b.h5")));
  }
}

TEST(Sampler, EverySampleOncePerEpochAcrossRanks) {
  for (const std::int64_t ranks : {1, 2, 3}) {
    std::multiset<std::uint64_t> seen;
    for (std::int64_t rank = 0; rank < ranks; ++rank) {
      DistributedSampler sampler(102, ranks, rank, {.seed = 4});
      const auto mine = sampler.epoch_indices(2);
      EXPECT_EQ(mine.size(), sampler.per_rank());
      seen.insert(mine.begin(), mine.end());
    }
    for (std::uint64_t i = 0; i < 102; ++i)
      EXPECT_EQ(seen.count(i), 1u) << ranks << " ranks, " << i;
  }
  // 100 over 3 ranks: padded to 102 (two samples twice), or dropped to 99.
  std::set<std::uint64_t> padded;
  std::size_t total = 0;
  for (std::int64_t rank = 0; rank < 3; ++rank) {
    const auto mine = DistributedSampler(100, 3, rank, {.seed = 4}).epoch_indices(0);
    padded.insert(mine.begin(), mine.end());
    total += mine.size();
    EXPECT_EQ(
        DistributedSampler(100, 3, rank, {.seed = 4, .drop_last = true}).epoch_indices(0).size(),
        33u);
  }
  EXPECT_EQ(padded.size(), 100u);
  EXPECT_EQ(total, 102u);
}

TEST(Sampler, DeterministicPerEpochAndResumable) {
  DistributedSampler sampler(1000, 2, 1, {.seed = 9});
  const auto first = sampler.epoch_indices(5);
  EXPECT_EQ(first, DistributedSampler(1000, 2, 1, {.seed = 9}).epoch_indices(5));
  EXPECT_NE(first, sampler.epoch_indices(6));
  EXPECT_NE(first, DistributedSampler(1000, 2, 1, {.seed = 10}).epoch_indices(5));
  // A run resumed at step 7 with batch 16 continues with exactly the remaining samples.
  const auto resumed = DistributedSampler(1000, 2, 1, {.seed = 9}).epoch_indices(5);
  EXPECT_TRUE(std::equal(resumed.begin() + 7 * 16, resumed.end(), first.begin() + 7 * 16));
  EXPECT_EQ(permutation(5, 1), permutation(5, 1));
}

TEST(Sampler, RepeatedAugmentationSpreadsCopiesOverRanks) {
  std::map<std::uint64_t, int> copies;
  for (std::int64_t rank = 0; rank < 3; ++rank) {
    for (const auto i :
         DistributedSampler(300, 3, rank, {.seed = 1, .repeats = 3}).epoch_indices(0))
      ++copies[i];
  }
  EXPECT_EQ(copies.size(), 100u);  // 300 slots per epoch hold 100 distinct samples, 3 each
  for (const auto& [sample, count] : copies) EXPECT_EQ(count, 3) << sample;
}

}  // namespace
}  // namespace tleg

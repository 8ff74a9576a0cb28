// The ImageNet and class-folder importers on small trees of real JPEGs and PNGs made here:
// counts, labels, class names, resizing, the bad-input report, the failure threshold, CMYK
// input, identical output whatever the thread count, train/ with test/, and raw stores.
#include "import/image_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/dataset_store.h"
#include "import/importers.h"
#include "data/jpeg_codec.h"
#include "data/png_codec.h"
#include "error_message.h"
#include "temp_dir.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::TempDir;

// A textured image (sinusoids and a diagonal ramp, varying per seed) so that JPEG sizes and
// resizing are realistic rather than the trivial case of a flat colour.
Image textured(int height, int width, int seed) {
  Image image{height, width, 3,
              std::vector<std::uint8_t>(static_cast<std::size_t>(height) * width * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.row(y)[x * 3 + c] = static_cast<std::uint8_t>(
            128 + 60 * std::sin((x * (c + 1) + seed * 7) / 9.0) + 50 * std::cos((y + seed) / 13.0) +
            ((x + y + 31 * seed) % 40) - 20);
  return image;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<std::uint8_t> jpeg(int height, int width, int seed) {
  return encode_jpeg(textured(height, width, seed), 92);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The report as file -> reason.
std::map<std::string, std::string> read_report(const std::string& path) {
  std::map<std::string, std::string> entries;
  std::istringstream in(read_text(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "split\tfile\treason");
  while (std::getline(in, line)) {
    const auto first = line.find('\t'), second = line.find('\t', first + 1);
    entries[line.substr(first + 1, second - first - 1)] = line.substr(second + 1);
  }
  return entries;
}

ImageImportOptions quiet_options(int threads) {
  ImageImportOptions options;
  options.threads = threads;
  options.show_progress = false;
  options.images_per_shard = 4;
  options.max_bad_fraction = 0.5;
  return options;
}

// train/ with three classes in LOC_synset_mapping.txt (n03 has an empty folder), flat val/
// labelled by LOC_val_solution.csv, and one bad input of each kind.
struct ImagenetTree {
  TempDir dir;
  std::string src = dir.file("imagenet");
  std::map<std::string, std::string> expected_bad;  // file -> a word its reason must contain

  ImagenetTree() {
    const std::vector<std::pair<int, int>> sizes = {
        {300, 400}, {120, 90}, {257, 600}, {64, 64}, {512, 280}};
    int seed = 0;
    for (const char* wnid : {"n01", "n02"}) {
      for (int i = 0; i < 5; ++i, ++seed) {
        const auto [h, w] = sizes[seed % sizes.size()];
        write_bytes(src + "/train/" + wnid + "/" + wnid + "_" + std::to_string(i) + ".JPEG",
                    jpeg(h, w, seed));
      }
    }
    fs::create_directories(src + "/train/n03");
    std::ofstream(src + "/LOC_synset_mapping.txt")
        << "n01 tench, Tinca tinca\nn02 goldfish, Carassius auratus\nn03 crane\n";

    const auto good = jpeg(280, 360, 40);
    auto bad = [&](const std::string& relative, const std::vector<std::uint8_t>& bytes,
                   const std::string& why) {
      write_bytes(src + "/" + relative, bytes);
      expected_bad[src + "/" + relative] = why;
    };
    bad("train/n01/zero.JPEG", {}, "empty file");
    bad("train/n01/truncated.JPEG", {good.begin(), good.begin() + good.size() / 2}, "corrupt JPEG");
    auto broken_header = good;  // SOI kept, then the tables overwritten
    std::fill(broken_header.begin() + 2, broken_header.begin() + 200, 0);
    bad("train/n02/header.JPEG", broken_header, "not a readable JPEG");
    // An end-of-image marker in the middle of the entropy-coded data: libjpeg warns, so strict
    // decoding rejects it. (A flipped bit elsewhere may decode to wrong pixels without any
    // warning; JPEG has no checksum, so no decoder can tell, and such files are kept.)
    auto cut_by_marker = good;
    cut_by_marker[good.size() / 2] = 0xFF, cut_by_marker[good.size() / 2 + 1] = 0xD9;
    bad("train/n02/marker.JPEG", cut_by_marker, "corrupt JPEG");
    bad("train/n02/fake.JPEG", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13}, "PNG");
    expected_bad[src + "/train/n03"] = "empty class folder";

    std::ofstream csv(src + "/LOC_val_solution.csv");
    csv << "ImageId,PredictionString\n";
    for (int i = 0; i < 4; ++i) {
      const std::string id = "ILSVRC2012_val_0000000" + std::to_string(i);
      write_bytes(src + "/val/" + id + ".JPEG", jpeg(200 + 50 * i, 330 - 20 * i, 60 + i));
      csv << id << "," << (i % 2 ? "n02" : "n01") << " 1 2 30 40 " << (i % 2 ? "n02" : "n01")
          << " 5 6 7 8\n";
    }
    bad("val/ILSVRC2012_val_00000009.JPEG", jpeg(100, 100, 9), "no label");
  }
};

TEST(ImagenetImport, CountsLabelsNamesSizesAndReport) {
  ImagenetTree tree;
  const std::string out = tree.dir.file("imagenet.h5");
  const ImportSummary summary = prepare_imagenet(tree.src, out, quiet_options(2));
  EXPECT_EQ(summary.train, 10u);
  EXPECT_EQ(summary.val, 4u);
  EXPECT_EQ(summary.bad, tree.expected_bad.size());
  EXPECT_EQ(summary.report, out + ".report.tsv");
  EXPECT_FALSE(fs::exists(out + ".partial"));

  const auto report = read_report(summary.report);
  EXPECT_EQ(report.size(), tree.expected_bad.size());
  for (const auto& [file, why] : tree.expected_bad) {
    ASSERT_TRUE(report.count(file)) << file << " missing from the report";
    EXPECT_NE(report.at(file).find(why), std::string::npos) << file << ": " << report.at(file);
  }

  DatasetReader reader(out);
  EXPECT_EQ(
      reader.info().class_names,
      (std::vector<std::string>{"tench, Tinca tinca", "goldfish, Carassius auratus", "crane"}));
  EXPECT_EQ(reader.info().encoding, ImageEncoding::kJpeg);
  const SplitIndex& train = reader.index("train");
  EXPECT_EQ(train.labels, (std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(train.shards(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(reader.index("val").labels, (std::vector<std::int32_t>{0, 1, 0, 1}));

  // Train images in sorted order: n01_0 is 300x400 (→ 256x341), n01_1 120x90 (kept).
  const ImageRun run = reader.read_run("train", 0, 10);
  for (std::uint64_t i = 0; i < 10; ++i) {
    const Image image = decode_jpeg(run.image(i), run.length(i), 3, 8, /*strict=*/true);
    EXPECT_LE(std::min(image.width, image.height), 256) << i;
  }
  const Image first = decode_jpeg(run.image(0), run.length(0), 3);
  EXPECT_EQ(first.height, 256);
  EXPECT_EQ(first.width, 341);  // 400 * 256 / 300 = 341.3
  const Image second = decode_jpeg(run.image(1), run.length(1), 3);
  EXPECT_EQ(second.height, 120);
  EXPECT_EQ(second.width, 90);
  // The resized image still looks like its source (a wrong resize or channel order would not).
  const Image source = textured(300, 400, 0);
  double error = 0;
  for (int y = 0; y < 256; y += 8)
    for (int x = 0; x < 341; x += 8) {
      const int sy = std::min(299, static_cast<int>((y + 0.5) * 300 / 256)),
                sx = std::min(399, static_cast<int>((x + 0.5) * 400 / 341));
      for (int c = 0; c < 3; ++c)
        error += std::abs(first.row(y)[x * 3 + c] - source.row(sy)[sx * 3 + c]);
    }
  EXPECT_LT(error / (32 * 43 * 3), 30.0);
}

TEST(ImagenetImport, SameStoreWithOneAndTwoThreads) {
  ImagenetTree tree;
  const ImportSummary one = prepare_imagenet(tree.src, tree.dir.file("one.h5"), quiet_options(1));
  const ImportSummary two = prepare_imagenet(tree.src, tree.dir.file("two.h5"), quiet_options(2));
  EXPECT_EQ(one.fingerprint, two.fingerprint);
  EXPECT_EQ(read_text(one.report), read_text(two.report));
  // The whole file, not just the fingerprint: HDF5 object times are off, so the bytes match.
  EXPECT_TRUE(read_text(tree.dir.file("one.h5")) == read_text(tree.dir.file("two.h5")));
}

TEST(ImagenetImport, TooManyBadInputsFailWithoutAStore) {
  ImagenetTree tree;
  ImageImportOptions options = quiet_options(2);
  options.max_bad_fraction = 0.1;  // 7 bad of 21 inputs
  const std::string out = tree.dir.file("bad.h5");
  const std::string error = error_of([&] { prepare_imagenet(tree.src, out, options); });
  EXPECT_NE(error.find("--max-bad-fraction"), std::string::npos) << error;
  EXPECT_NE(error.find(out + ".report.tsv"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  EXPECT_TRUE(fs::exists(out + ".report.tsv"));
}

TEST(ImagenetImport, MissingFoldersAndLabelsAreExplained) {
  TempDir dir;
  const std::string missing =
      error_of([&] { prepare_imagenet(dir.file("nowhere"), dir.file("x.h5"), quiet_options(1)); });
  EXPECT_NE(missing.find(dir.file("nowhere") + ": no such folder"), std::string::npos) << missing;
  EXPECT_NE(missing.find("--src"), std::string::npos) << missing;

  write_bytes(dir.file("in/train/n01/a.JPEG"), jpeg(40, 40, 1));
  write_bytes(dir.file("in/val/v1.JPEG"), jpeg(40, 40, 2));
  const std::string no_csv =
      error_of([&] { prepare_imagenet(dir.file("in"), dir.file("x.h5"), quiet_options(1)); });
  EXPECT_NE(no_csv.find("LOC_val_solution.csv"), std::string::npos) << no_csv;
  EXPECT_NE(no_csv.find("--val-labels"), std::string::npos) << no_csv;
  EXPECT_FALSE(fs::exists(dir.file("x.h5")));

  // Without a synset mapping the classes are the wnids; val in class folders.
  fs::remove(dir.file("in/val/v1.JPEG"));
  write_bytes(dir.file("in/val/n01/v1.JPEG"), jpeg(40, 40, 2));
  const ImportSummary summary =
      prepare_imagenet(dir.file("in"), dir.file("y.h5"), quiet_options(1));
  EXPECT_EQ(summary.train, 1u);
  EXPECT_EQ(summary.val, 1u);
  EXPECT_EQ(DatasetReader(dir.file("y.h5")).info().class_names, std::vector<std::string>{"n01"});
}

TEST(ImagenetImport, CmykJpegIsConvertedToRgb) {
  // CMYK made with libjpeg-turbo's inverted convention (rgb_to_cmyk in its cmyk.h); a
  // grey-free colour field keeps K at its maximum (255), so C = 255 - (255 - R) = R.
  const Image rgb = textured(64, 96, 3);
  Image cmyk{64, 96, 4, std::vector<std::uint8_t>(64 * 96 * 4)};
  for (std::size_t i = 0; i < 64u * 96u; ++i) {
    const std::uint8_t* p = &rgb.pixels[3 * i];
    const int k = std::max({p[0], p[1], p[2]});  // inverted K: 255 - min(1 - rgb) * 255
    for (int c = 0; c < 3; ++c)
      cmyk.pixels[4 * i + c] = k == 0 ? 0 : static_cast<std::uint8_t>((p[c] * 255 + k / 2) / k);
    cmyk.pixels[4 * i + 3] = static_cast<std::uint8_t>(k);
  }
  const auto bytes = encode_jpeg(cmyk, 98);
  const Image decoded = decode_jpeg(bytes.data(), bytes.size(), 3, 8, /*strict=*/true);
  ASSERT_EQ(decoded.pixels.size(), rgb.pixels.size());
  double error = 0;
  for (std::size_t i = 0; i < rgb.pixels.size(); ++i)
    error += std::abs(decoded.pixels[i] - rgb.pixels[i]);
  EXPECT_LT(error / rgb.pixels.size(), 4.0);  // q98 JPEG of a textured image: a few levels
  // And through the importer's path (re-encoded as RGB).
  const auto stored = recompress_image(bytes, 32, 90);
  EXPECT_EQ(decode_jpeg(stored.data(), stored.size(), 3).height, 32);
}

// ImageNet's train split holds a PNG named .JPEG (n02105855_2933.JPEG): it is decoded with
// libpng, resized and stored like the JPEGs, not reported as bad.
TEST(FolderImport, APngNamedJpegIsDecodedAndKept) {
  TempDir dir;
  const Image source = textured(300, 260, 3);
  write_bytes(dir.file("split/train/cat/a.JPEG"), jpeg(200, 220, 1));
  write_bytes(dir.file("split/train/dog/n02105855_2933.JPEG"), encode_png(source));
  ImageImportOptions options = quiet_options(1);
  options.max_bad_fraction = 0;
  const ImportSummary summary = prepare_folder(dir.file("split"), dir.file("split.h5"), options);
  EXPECT_EQ(summary.train, 2u);
  EXPECT_EQ(summary.bad, 0u);
  DatasetReader reader(dir.file("split.h5"));
  const ImageRun run = reader.read_run("train", 0, 2);
  const Image stored = decode_jpeg(run.image(1), run.length(1), 3, 8, /*strict=*/true);
  ASSERT_EQ(stored.width, 256);   // the shorter side 260 -> 256
  ASSERT_EQ(stored.height, 295);  // 300 * 256 / 260 = 295.4
  double error = 0;
  for (int y = 0; y < stored.height; ++y)
    for (int x = 0; x < stored.width; ++x)
      for (int c = 0; c < 3; ++c) {
        const int sy = std::min(299, static_cast<int>((y + 0.5) * 300 / 295)),
                  sx = std::min(259, static_cast<int>((x + 0.5) * 260 / 256));
        error += std::abs(stored.row(y)[x * 3 + c] - source.row(sy)[sx * 3 + c]);
      }
  // Nearest-neighbour against an area resize and a q90 JPEG of fine texture: some 10 levels; a
  // wrong channel order or a garbled decode gives several times that.
  EXPECT_LT(error / (stored.width * stored.height * 3), 20.0);
  // A PNG that libpng cannot read is reported with libpng's reason.
  std::vector<std::uint8_t> broken = encode_png(source);
  broken.resize(broken.size() / 3);
  EXPECT_NE(error_of([&] { recompress_image(broken, 256, 90); }).find("corrupt PNG"),
            std::string::npos);
}

TEST(FolderImport, TrainValFoldersAndHeldOutFraction) {
  TempDir dir;
  for (const char* split : {"train", "val"})
    for (const char* name : {"cat", "dog"})
      for (int i = 0; i < (std::string(split) == "train" ? 3 : 1); ++i)
        write_bytes(
            dir.file(std::string("split/") + split + "/" + name + "/" + std::to_string(i) + ".jpg"),
            jpeg(300, 260, i));
  write_bytes(dir.file("split/train/dog/x.gif"), {'G', 'I', 'F', '8', '9', 'a', 0, 0});
  ImageImportOptions options = quiet_options(2);
  const ImportSummary summary = prepare_folder(dir.file("split"), dir.file("split.h5"), options);
  EXPECT_EQ(summary.train, 6u);
  EXPECT_EQ(summary.val, 2u);
  EXPECT_EQ(summary.bad, 1u);
  EXPECT_NE(read_text(summary.report).find("x.gif\tnot a JPEG or PNG (GIF image)"),
            std::string::npos);
  DatasetReader reader(dir.file("split.h5"));
  EXPECT_EQ(reader.info().class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(reader.info().name, "split");
  EXPECT_EQ(reader.index("val").labels, (std::vector<std::int32_t>{0, 1}));
  const ImageRun run = reader.read_run("val", 0, 1);
  EXPECT_EQ(decode_jpeg(run.image(0), run.length(0), 3).width, 256);  // 260 is the shorter side

  options.val_fraction = 0.25;  // a tree that has its own val/ is not split again
  EXPECT_NE(error_of([&] {
              prepare_folder(dir.file("split"), dir.file("x.h5"), options);
            }).find("--val-fraction"),
            std::string::npos);

  // One level of class folders, a quarter of each class held out.
  for (const char* name : {"a", "b"})
    for (int i = 0; i < 8; ++i)
      write_bytes(dir.file(std::string("flat/") + name + "/" + std::to_string(i) + ".jpeg"),
                  jpeg(30, 40, i));
  options.val_fraction = 0.25;
  const ImportSummary flat = prepare_folder(dir.file("flat"), dir.file("flat.h5"), options);
  EXPECT_EQ(flat.train, 12u);
  EXPECT_EQ(flat.val, 4u);
  EXPECT_EQ(DatasetReader(dir.file("flat.h5")).index("val").labels,
            (std::vector<std::int32_t>{0, 0, 1, 1}));
  options.val_fraction = 0;
  EXPECT_EQ(prepare_folder(dir.file("flat"), dir.file("all.h5"), options).train, 16u);
}

TEST(FolderImport, ClassSplitKeepsTheChosenFoldersRelabelled) {
  TempDir dir;
  for (const char* name : {"ant", "bee", "cat"})
    for (int i = 0; i < 2; ++i)
      write_bytes(dir.file(std::string("tree/") + name + "/" + std::to_string(i) + ".jpg"),
                  jpeg(30, 40, i + 7 * name[0]));
  ImageImportOptions options = quiet_options(1);
  prepare_folder(dir.file("tree"), dir.file("all.h5"), options);
  options.classes = "2,0";  // cat becomes 0, ant 1
  const ImportSummary split = prepare_folder(dir.file("tree"), dir.file("split.h5"), options);
  EXPECT_EQ(split.train, 4u);
  const DatasetReader all(dir.file("all.h5")), part(dir.file("split.h5"));
  EXPECT_EQ(part.info().class_names, (std::vector<std::string>{"cat", "ant"}));
  EXPECT_EQ(part.info().class_selection, "2,0 of 3");
  EXPECT_EQ(part.index("train").labels, (std::vector<std::int32_t>{1, 1, 0, 0}));  // file order
  const ImageRun whole = all.read_run("train", 0, 6), kept = part.read_run("train", 0, 4);
  for (std::uint64_t i : {0u, 1u})  // ant's images are the whole store's first two, byte for byte
    EXPECT_EQ(std::vector<std::uint8_t>(kept.image(i), kept.image(i) + kept.length(i)),
              std::vector<std::uint8_t>(whole.image(i), whole.image(i) + whole.length(i)));
  EXPECT_NE(all.fingerprint(), part.fingerprint());
}

// The pixels of image `i` of a raw store's split.
std::vector<std::uint8_t> raw_pixels(const DatasetReader& reader, const std::string& split,
                                     std::uint64_t i) {
  const ImageRun run = reader.read_run(split, i, 1);
  return {run.image(i), run.image(i) + run.length(i)};
}

TEST(FolderImport, TrainAndTestFoldersOfSmallPngsAndJpegsGiveARawStore) {
  TempDir dir;
  // CIFAR's layout: train/ and test/, 32x32 images, here PNGs and JPEGs mixed.
  std::map<std::string, Image> pngs;  // file -> its pixels
  std::map<std::string, std::vector<std::uint8_t>> jpegs;
  for (const char* split : {"train", "test"})
    for (const char* name : {"cat", "dog"})
      for (int i = 0; i < (std::string(split) == "train" ? 3 : 1); ++i) {
        const std::string file =
            dir.file(std::string("cifar/") + split + "/" + name + "/" + std::to_string(i));
        const int seed = 10 * i + name[0] + split[1];
        if (i % 2 == 0) {
          pngs[file + ".png"] = textured(32, 32, seed);
          write_bytes(file + ".png", encode_png(pngs[file + ".png"]));
        } else {
          jpegs[file + ".jpg"] = jpeg(32, 32, seed);
          write_bytes(file + ".jpg", jpegs[file + ".jpg"]);
        }
      }
  ImageImportOptions options = quiet_options(2);
  options.max_bad_fraction = 0;
  const ImportSummary summary = prepare_folder(dir.file("cifar"), dir.file("cifar.h5"), options);
  EXPECT_EQ(summary.train, 6u);
  EXPECT_EQ(summary.val, 2u);  // test/ is stored as split val, what training evaluates
  EXPECT_EQ(summary.stored_as, "raw 32x32x3");
  DatasetReader reader(dir.file("cifar.h5"));
  EXPECT_EQ(reader.splits(), (std::vector<std::string>{"train", "val"}));
  EXPECT_EQ(reader.info().encoding, ImageEncoding::kRaw);
  EXPECT_EQ(reader.info().height, 32);
  EXPECT_EQ(reader.info().width, 32);
  EXPECT_EQ(reader.info().channels, 3);
  EXPECT_EQ(reader.info().class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(reader.index("train").labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(reader.index("val").labels, (std::vector<std::int32_t>{0, 1}));
  // Raw stores exactly the decoded pixels: a PNG's own, a JPEG's as libjpeg-turbo decodes it.
  const std::string cat = dir.file("cifar/train/cat/");
  EXPECT_EQ(raw_pixels(reader, "train", 0), pngs.at(cat + "0.png").pixels);
  const auto& second = jpegs.at(cat + "1.jpg");
  EXPECT_EQ(raw_pixels(reader, "train", 1),
            decode_jpeg(second.data(), second.size(), 3, 8, /*strict=*/true).pixels);
  EXPECT_EQ(raw_pixels(reader, "val", 1), pngs.at(dir.file("cifar/test/dog/0.png")).pixels);

  // jpeg on request: the same splits, re-encoded.
  options.encoding = StoredEncoding::kJpeg;
  EXPECT_EQ(prepare_folder(dir.file("cifar"), dir.file("jpeg.h5"), options).stored_as, "jpeg");
  EXPECT_EQ(DatasetReader(dir.file("jpeg.h5")).index("val").labels,
            (std::vector<std::int32_t>{0, 1}));

  // val/ beside test/: refused naming both, until --val-folder picks one.
  options.encoding = StoredEncoding::kAuto;
  write_bytes(dir.file("cifar/val/cat/v.png"), encode_png(textured(32, 32, 99)));
  const std::string both =
      error_of([&] { prepare_folder(dir.file("cifar"), dir.file("x.h5"), options); });
  EXPECT_NE(both.find(dir.file("cifar/val")), std::string::npos) << both;
  EXPECT_NE(both.find(dir.file("cifar/test")), std::string::npos) << both;
  EXPECT_NE(both.find("--val-folder"), std::string::npos) << both;
  EXPECT_FALSE(fs::exists(dir.file("x.h5")));
  options.val_folder = "val";
  EXPECT_EQ(prepare_folder(dir.file("cifar"), dir.file("v.h5"), options).val, 1u);
  options.val_folder = "test";
  EXPECT_EQ(prepare_folder(dir.file("cifar"), dir.file("t.h5"), options).val, 2u);
  options.val_folder = "holdout";
  EXPECT_NE(error_of([&] {
              prepare_folder(dir.file("cifar"), dir.file("x.h5"), options);
            }).find("--val-folder 'holdout': expected val or test"),
            std::string::npos);
}

TEST(FolderImport, RawNeedsOneStoredSizeAndAutoChoosesRawOnlyForSmallOnes) {
  TempDir dir;
  for (int i = 0; i < 4; ++i)
    write_bytes(dir.file("mixed/a/" + std::to_string(i) + ".png"),
                encode_png(textured(32, i == 2 ? 40 : 32, i)));
  ImageImportOptions options = quiet_options(1);
  options.encoding = StoredEncoding::kRaw;
  const std::string message =
      error_of([&] { prepare_folder(dir.file("mixed"), dir.file("mixed.h5"), options); });
  EXPECT_NE(message.find(dir.file("mixed/a/2.png") + " is 40x32 pixels as stored, but " +
                         dir.file("mixed/a/0.png") + " is 32x32"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("--encoding jpeg"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.file("mixed.h5")));
  options.encoding = StoredEncoding::kAuto;  // sizes differ: JPEG
  EXPECT_EQ(prepare_folder(dir.file("mixed"), dir.file("auto.h5"), options).stored_as, "jpeg");

  // Square images of two sizes that --shorter-side brings to one: raw works, auto takes it.
  for (int i = 0; i < 3; ++i)
    write_bytes(dir.file("squares/a/" + std::to_string(i) + ".jpg"),
                jpeg(40 + 8 * i, 40 + 8 * i, i));
  options.shorter_side = 32;
  EXPECT_EQ(prepare_folder(dir.file("squares"), dir.file("squares.h5"), options).stored_as,
            "raw 32x32x3");
  options.shorter_side = 256;
  EXPECT_EQ(prepare_folder(dir.file("squares"), dir.file("big.h5"), options).stored_as, "jpeg");

  // One size, but larger than auto's limit: JPEG unless raw is asked for.
  for (int i = 0; i < 2; ++i)
    write_bytes(dir.file("large/a/" + std::to_string(i) + ".png"),
                encode_png(textured(kAutoRawMaxSide + 1, 70, i)));
  EXPECT_EQ(prepare_folder(dir.file("large"), dir.file("large.h5"), options).stored_as, "jpeg");
  options.encoding = StoredEncoding::kRaw;
  EXPECT_EQ(prepare_folder(dir.file("large"), dir.file("large-raw.h5"), options).stored_as,
            "raw 65x70x3");
}

TEST(StoredSize, ShorterSideLandsExactlyLongerIsRounded) {
  EXPECT_EQ(stored_size(400, 300, 256), (std::pair{341, 256}));
  EXPECT_EQ(stored_size(300, 400, 256), (std::pair{256, 341}));
  EXPECT_EQ(stored_size(200, 256, 256), (std::pair{200, 256}));
  EXPECT_EQ(stored_size(5000, 300, 0), (std::pair{5000, 300}));
  EXPECT_EQ(stored_size(10000, 257, 256), (std::pair{9961, 256}));
}

}  // namespace
}  // namespace tleg

// The HDF5 dataset store (format in data/FORMAT.md): images as JPEG bytes or raw uint8, labels,
// class names, splits, a content fingerprint and a format version. Each split's images are
// grouped in shards; a shard's bytes are contiguous in one blob, so a rank reads its share
// with a few large reads, and every image read is checked against its CRC-32. No torch here.
// Not thread-safe (HDF5 is not): one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/hdf5_file.h"

namespace tleg {

inline constexpr std::int64_t kDatasetFormatVersion = 1;

enum class ImageEncoding { kJpeg, kRaw };

struct DatasetInfo {
  std::string name;  // e.g. "fashion-mnist", "imagenet-1k"
  ImageEncoding encoding = ImageEncoding::kJpeg;
  // Raw images all have this shape (height, width, channels, HWC uint8). For JPEG: channels
  // of the decoded images; height/width 0 (they vary).
  std::int64_t height = 0, width = 0, channels = 3;
  std::vector<std::string> class_names;
  std::string source;  // where it was imported from
  // Empty for a whole dataset; for a class-split store (tleg prepare --classes) the source
  // dataset's labels that were kept, in their new label order, e.g. "0,2,4,6,8 of 10". It is
  // part of the fingerprint, so stores of different class sets never pass for one another.
  std::string class_selection;
};

// A subset of a dataset's classes, in a chosen order: source label classes[i] becomes label i.
// The importers apply it as they write, so a split store holds exactly those classes' images.
struct ClassSelection {
  std::vector<std::int32_t> classes;  // empty: every class, labels unchanged
  std::size_t source_classes = 0;

  // "0,2,4,6,8", ranges "5-9", or both ("0-2,7"), of a dataset of `class_count` classes; ""
  // selects all. Errors name --classes and what is wrong.
  static ClassSelection parse(const std::string& text, std::size_t class_count);
  bool all() const { return classes.empty(); }
  // The new label of an image of `source_label`, or -1 when its class is not selected.
  std::int32_t label_of(std::int32_t source_label) const;
  // `info` (of the whole dataset) with only the selected classes' names, the selection recorded
  // and the name marked with it ("fashion-mnist[0,2,4,6,8]").
  DatasetInfo apply(DatasetInfo info) const;
};

// Writes a store split by split through `PATH.partial`, renamed by finish(): an interrupted
// import never leaves a file that looks complete.
class DatasetWriter {
 public:
  DatasetWriter(std::string path, DatasetInfo info, std::int64_t images_per_shard);
  ~DatasetWriter();  // without finish(): removes the partial file

  void begin_split(const std::string& split);
  void add(const std::uint8_t* bytes, std::size_t size, std::int32_t label);
  void end_split();
  // Writes the fingerprint and renames the file into place; returns the fingerprint.
  std::string finish();

 private:
  void flush_shard();

  std::string path_, partial_;
  DatasetInfo info_;
  std::int64_t images_per_shard_;
  std::unique_ptr<h5::File> file_;
  std::string split_;
  std::vector<std::uint8_t> shard_bytes_;
  std::vector<std::uint64_t> offsets_, lengths_, shard_starts_;
  std::vector<std::int32_t> labels_;
  std::vector<std::uint32_t> checksums_;
  std::uint64_t written_bytes_ = 0;
  Crc32 fingerprint_;
  std::vector<std::string> splits_;
  bool finished_ = false;
};

// The CRC-32 the store keeps of one image: its encoded bytes, then its label (FORMAT.md).
std::uint32_t image_checksum(const std::uint8_t* bytes, std::size_t size, std::int32_t label);

// The index of one split, held in memory (16 bytes + 8 per image: 30 MB for ImageNet train).
struct SplitIndex {
  std::vector<std::uint64_t> offsets, lengths;
  std::vector<std::int32_t> labels;
  // image_checksum of each image; empty in a store written before stores had checksums.
  std::vector<std::uint32_t> checksums;
  std::vector<std::uint64_t> shard_starts;  // shard s = samples [starts[s], starts[s+1])
  std::uint64_t blob_size = 0;

  std::size_t size() const { return labels.size(); }
  std::size_t shards() const { return shard_starts.empty() ? 0 : shard_starts.size() - 1; }
  std::size_t shard_of(std::uint64_t sample) const;
};

// Encoded images [first, first + count) read with one large read.
struct ImageRun {
  std::uint64_t first = 0;
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint64_t> offsets;  // into bytes
  std::vector<std::uint64_t> lengths;
  const std::uint8_t* image(std::uint64_t sample) const {
    return bytes.data() + offsets.at(sample - first);
  }
  std::uint64_t length(std::uint64_t sample) const { return lengths.at(sample - first); }
};

class DatasetReader {
 public:
  // Opens and validates: format, version, and every split's index (monotone offsets inside
  // the blob, labels inside the class range); errors name the file and say what to do.
  explicit DatasetReader(const std::string& path);

  const std::string& path() const { return path_; }
  const DatasetInfo& info() const { return info_; }
  const std::string& fingerprint() const { return fingerprint_; }
  std::vector<std::string> splits() const;
  const SplitIndex& index(const std::string& split) const;
  // False for a store written before stores had checksums: its images are read unverified.
  bool has_checksums() const;
  // One HDF5 read of the contiguous bytes of samples [first, first + count), each image checked
  // against its checksum: a mismatch fails naming the file, split, shard and image.
  ImageRun read_run(const std::string& split, std::uint64_t first, std::uint64_t count) const;

 private:
  std::string path_;
  h5::File file_;
  DatasetInfo info_;
  std::string fingerprint_;
  std::vector<std::pair<std::string, SplitIndex>> indexes_;
};

std::string encoding_name(ImageEncoding encoding);
// "jpeg", or a raw store's shape: "raw 28x28x1" (height x width x channels).
std::string describe_encoding(const DatasetInfo& info);

}  // namespace tleg

#include "data/dataset_store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/error.h"

namespace tleg {
namespace {

constexpr const char* kFormatName = "tleg-dataset";
constexpr std::uint64_t kBlobChunk = 1 << 20;   // 1 MiB chunks for the image blob
constexpr std::uint64_t kIndexChunk = 1 << 14;  // entries per chunk of the index datasets

std::string join_lines(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += name + "\n";
  return text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string hex(std::uint32_t value) {
  std::ostringstream out;
  out << std::hex << std::setw(8) << std::setfill('0') << value;
  return out.str();
}

}  // namespace

ClassSelection ClassSelection::parse(const std::string& text, std::size_t class_count) {
  ClassSelection selection;
  selection.source_classes = class_count;
  if (text.empty()) return selection;
  const std::string fix = concat(
      " (--classes takes class numbers 0..", class_count - 1,
      " of the whole dataset, comma-separated, with ranges: e.g. 0,2,4,6,8 or 5-9 or 0-2,7)");
  auto number = [&](const std::string& item) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos ||
        item.size() > 9)
      fail("--classes '", text, "': '", item, "' is not a class number", fix);
    const long value = std::stol(item);
    if (value >= static_cast<long>(class_count))
      fail("--classes '", text, "': class ", value, " does not exist, the dataset has ",
           class_count, " classes", fix);
    return static_cast<std::int32_t>(value);
  };
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      selection.classes.push_back(number(item));
      continue;
    }
    const std::int32_t first = number(item.substr(0, dash)), last = number(item.substr(dash + 1));
    if (last < first) fail("--classes '", text, "': the range ", item, " is empty", fix);
    for (std::int32_t c = first; c <= last; ++c) selection.classes.push_back(c);
  }
  if (selection.classes.empty() || text.back() == ',')
    fail("--classes '", text, "': an empty item", fix);
  std::vector<std::int32_t> sorted = selection.classes;
  std::sort(sorted.begin(), sorted.end());
  if (const auto twice = std::adjacent_find(sorted.begin(), sorted.end()); twice != sorted.end())
    fail("--classes '", text, "': class ", *twice, " is named twice", fix);
  return selection;
}

std::int32_t ClassSelection::label_of(std::int32_t source_label) const {
  if (all()) return source_label;
  const auto found = std::find(classes.begin(), classes.end(), source_label);
  return found == classes.end() ? -1 : static_cast<std::int32_t>(found - classes.begin());
}

DatasetInfo ClassSelection::apply(DatasetInfo info) const {
  if (all()) return info;
  if (info.class_names.size() != source_classes)
    fail("internal: a selection of ", source_classes, " classes applied to ",
         info.class_names.size());
  std::vector<std::string> names;
  std::string kept;
  for (const std::int32_t c : classes) {
    names.push_back(info.class_names.at(static_cast<std::size_t>(c)));
    if (!kept.empty()) kept += ',';
    kept += std::to_string(c);
  }
  info.class_names = std::move(names);
  info.class_selection = concat(kept, " of ", source_classes);
  info.name += "[" + kept + "]";  // what runs, learngenes and reports call the task
  return info;
}

std::uint32_t image_checksum(const std::uint8_t* bytes, std::size_t size, std::int32_t label) {
  Crc32 crc;
  crc.update(bytes, size);
  crc.update(&label, sizeof label);
  return crc.value();
}

std::size_t SplitIndex::shard_of(std::uint64_t sample) const {
  return static_cast<std::size_t>(
      std::upper_bound(shard_starts.begin(), shard_starts.end(), sample) - shard_starts.begin() -
      1);
}

std::string encoding_name(ImageEncoding encoding) {
  return encoding == ImageEncoding::kJpeg ? "jpeg" : "raw";
}

std::string describe_encoding(const DatasetInfo& info) {
  if (info.encoding == ImageEncoding::kJpeg) return "jpeg";
  return concat("raw ", info.height, "x", info.width, "x", info.channels);
}

DatasetWriter::DatasetWriter(std::string path, DatasetInfo info, std::int64_t images_per_shard)
    : path_(std::move(path)),
      partial_(path_ + ".partial"),
      info_(std::move(info)),
      images_per_shard_(images_per_shard) {
  if (images_per_shard_ <= 0) fail("images per shard must be positive, got ", images_per_shard_);
  if (info_.class_names.empty()) fail(path_, ": a dataset needs at least one class");
  // `tleg prepare --out data/x.h5` makes data/ (as a run folder is made), rather than leaving
  // HDF5 to report errno 2.
  if (const auto folder = std::filesystem::path(path_).parent_path(); !folder.empty()) {
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error)
      fail(path_, ": cannot create its folder ", folder.string(), " (", error.message(), ")");
  }
  file_ = std::make_unique<h5::File>(h5::File::create(partial_));
  file_->set_attribute("/", "format", std::string(kFormatName));
  file_->set_attribute("/", "format_version", kDatasetFormatVersion);
  file_->set_attribute("/", "name", info_.name);
  file_->set_attribute("/", "encoding", encoding_name(info_.encoding));
  file_->set_attribute("/", "height", info_.height);
  file_->set_attribute("/", "width", info_.width);
  file_->set_attribute("/", "channels", info_.channels);
  file_->set_attribute("/", "source", info_.source);
  const std::string names = join_lines(info_.class_names);
  file_->write("/class_names", {names.size()}, reinterpret_cast<const std::uint8_t*>(names.data()));
  fingerprint_.update(names);
  if (!info_.class_selection.empty()) {
    // Only split stores carry it, so the fingerprints of whole stores stay as they were.
    file_->set_attribute("/", "class_selection", info_.class_selection);
    fingerprint_.update("class_selection " + info_.class_selection + "\n");
  }
  file_->create_group("/splits");
}

DatasetWriter::~DatasetWriter() {
  if (!finished_) {
    file_.reset();
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }
}

void DatasetWriter::begin_split(const std::string& split) {
  if (!split_.empty()) fail("internal: split '", split_, "' was not ended");
  if (std::find(splits_.begin(), splits_.end(), split) != splits_.end())
    fail(path_, ": split '", split, "' written twice");
  split_ = split;
  const std::string group = "/splits/" + split;
  file_->create_group(group);
  file_->create_extendible_1d<std::uint8_t>(group + "/images", kBlobChunk);
  offsets_.clear(), lengths_.clear(), labels_.clear(), checksums_.clear(), shard_starts_ = {0};
  written_bytes_ = 0;
  fingerprint_.update(split);
}

void DatasetWriter::add(const std::uint8_t* bytes, std::size_t size, std::int32_t label) {
  if (label < 0 || label >= static_cast<std::int32_t>(info_.class_names.size()))
    fail(path_, ": label ", label, " outside the ", info_.class_names.size(), " classes");
  if (info_.encoding == ImageEncoding::kRaw &&
      size != static_cast<std::size_t>(info_.height * info_.width * info_.channels))
    fail(path_, ": raw image of ", size, " bytes, expected ", info_.height, "x", info_.width, "x",
         info_.channels);
  offsets_.push_back(written_bytes_ + shard_bytes_.size());
  lengths_.push_back(size);
  labels_.push_back(label);
  checksums_.push_back(image_checksum(bytes, size, label));
  shard_bytes_.insert(shard_bytes_.end(), bytes, bytes + size);
  fingerprint_.update(bytes, size);
  fingerprint_.update(&label, sizeof label);
  if (static_cast<std::int64_t>(labels_.size() - shard_starts_.back()) == images_per_shard_)
    flush_shard();
}

void DatasetWriter::flush_shard() {
  if (labels_.size() == shard_starts_.back()) return;
  file_->append("/splits/" + split_ + "/images", shard_bytes_.data(), shard_bytes_.size());
  written_bytes_ += shard_bytes_.size();
  shard_bytes_.clear();
  shard_starts_.push_back(labels_.size());
}

void DatasetWriter::end_split() {
  flush_shard();
  const std::string group = "/splits/" + split_;
  const h5::Shape n = {labels_.size()};
  file_->write(group + "/offsets", n, offsets_.data());
  file_->write(group + "/lengths", n, lengths_.data());
  file_->write(group + "/labels", n, labels_.data());
  file_->write(group + "/checksums", n, checksums_.data());
  file_->write(group + "/shard_starts", {shard_starts_.size()}, shard_starts_.data());
  file_->set_attribute(group, "count", static_cast<std::int64_t>(labels_.size()));
  splits_.push_back(split_);
  split_.clear();
}

std::string DatasetWriter::finish() {
  if (!split_.empty()) end_split();
  const std::string fingerprint =
      hex(fingerprint_.value()) + "-" + std::to_string(info_.class_names.size());
  file_->set_attribute("/", "fingerprint", fingerprint);
  file_->flush();
  file_.reset();
  std::filesystem::rename(partial_, path_);
  finished_ = true;
  return fingerprint;
}

DatasetReader::DatasetReader(const std::string& path)
    : path_(path), file_(h5::File::open_read(path, "dataset store")) {
  if (!file_.has_attribute("/", "format") || file_.string_attribute("/", "format") != kFormatName)
    fail(path, ": not a tleg dataset store (make one with tleg prepare)");
  const auto version = file_.int_attribute("/", "format_version");
  if (version != kDatasetFormatVersion)
    fail(path, ": dataset format version ", version, ", this tleg reads version ",
         kDatasetFormatVersion, "; re-run tleg prepare");
  info_.name = file_.string_attribute("/", "name");
  const std::string encoding = file_.string_attribute("/", "encoding");
  if (encoding != "jpeg" && encoding != "raw")
    fail(path, ": unknown image encoding '", encoding, "'");
  info_.encoding = encoding == "jpeg" ? ImageEncoding::kJpeg : ImageEncoding::kRaw;
  info_.height = file_.int_attribute("/", "height");
  info_.width = file_.int_attribute("/", "width");
  info_.channels = file_.int_attribute("/", "channels");
  info_.source = file_.string_attribute("/", "source");
  const auto names = file_.read_all<std::uint8_t>("/class_names");
  info_.class_names = split_lines(std::string(names.begin(), names.end()));
  fingerprint_ = file_.string_attribute("/", "fingerprint");
  if (file_.has_attribute("/", "class_selection"))
    info_.class_selection = file_.string_attribute("/", "class_selection");

  for (const auto& split : file_.children("/splits")) {
    const std::string group = "/splits/" + split;
    SplitIndex index;
    index.offsets = file_.read_all<std::uint64_t>(group + "/offsets");
    index.lengths = file_.read_all<std::uint64_t>(group + "/lengths");
    index.labels = file_.read_all<std::int32_t>(group + "/labels");
    index.shard_starts = file_.read_all<std::uint64_t>(group + "/shard_starts");
    // Stores written before checksums existed have none; they are read unverified.
    if (file_.exists(group + "/checksums"))
      index.checksums = file_.read_all<std::uint32_t>(group + "/checksums");
    index.blob_size = file_.shape(group + "/images").at(0);
    const std::size_t n = index.labels.size();
    auto broken = [&](const auto&... why) {
      fail(path, ": broken index in split '", split, "': ", why...,
           " (the file is corrupt; re-run tleg prepare)");
    };
    if (index.offsets.size() != n || index.lengths.size() != n ||
        (file_.exists(group + "/checksums") && index.checksums.size() != n))
      broken("offsets, lengths, labels and checksums differ in length");
    if (index.shard_starts.empty() || index.shard_starts.front() != 0 ||
        index.shard_starts.back() != n ||
        !std::is_sorted(index.shard_starts.begin(), index.shard_starts.end()))
      broken("shard boundaries do not cover the samples");
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t expected = i == 0 ? 0 : index.offsets[i - 1] + index.lengths[i - 1];
      if (index.offsets[i] != expected) broken("sample ", i, " does not follow sample ", i - 1);
      if (index.labels[i] < 0 ||
          index.labels[i] >= static_cast<std::int32_t>(info_.class_names.size()))
        broken("sample ", i, " has label ", index.labels[i]);
    }
    if (n > 0 && index.offsets.back() + index.lengths.back() != index.blob_size)
      broken("the image bytes end at ", index.offsets.back() + index.lengths.back(),
             " but the blob holds ", index.blob_size);
    indexes_.emplace_back(split, std::move(index));
  }
}

bool DatasetReader::has_checksums() const {
  return std::all_of(indexes_.begin(), indexes_.end(), [](const auto& entry) {
    return entry.second.size() == 0 || !entry.second.checksums.empty();
  });
}

std::vector<std::string> DatasetReader::splits() const {
  std::vector<std::string> names;
  for (const auto& entry : indexes_) names.push_back(entry.first);
  return names;
}

const SplitIndex& DatasetReader::index(const std::string& split) const {
  for (const auto& entry : indexes_)
    if (entry.first == split) return entry.second;
  std::string available;
  for (const auto& name : splits()) available += (available.empty() ? "" : ", ") + name;
  fail(path_, ": no split '", split, "' (it has: ", available, ")");
}

ImageRun DatasetReader::read_run(const std::string& split, std::uint64_t first,
                                 std::uint64_t count) const {
  const SplitIndex& idx = index(split);
  if (first + count > idx.size())
    fail(path_, ": samples [", first, ", ", first + count, ") outside split '", split, "' of ",
         idx.size());
  ImageRun run;
  run.first = first;
  if (count == 0) return run;
  const std::uint64_t begin = idx.offsets[first];
  const std::uint64_t end = idx.offsets[first + count - 1] + idx.lengths[first + count - 1];
  run.bytes.resize(end - begin);
  file_.read_range("/splits/" + split + "/images", begin, end - begin, run.bytes.data());
  for (std::uint64_t i = first; i < first + count; ++i) {
    run.offsets.push_back(idx.offsets[i] - begin);
    run.lengths.push_back(idx.lengths[i]);
    // Checked here, where the bytes were just read: whatever hands them out (the loader, a
    // job over whole shards) gives no image that differs from what tleg prepare wrote.
    if (!idx.checksums.empty() &&
        image_checksum(run.image(i), idx.lengths[i], idx.labels[i]) != idx.checksums[i]) {
      const std::size_t shard = idx.shard_of(i);
      fail(path_, ": split '", split, "', shard ", shard, " (images [", idx.shard_starts[shard],
           ", ", idx.shard_starts[shard + 1], ")): image ", i,
           " does not match its checksum, the file is corrupt (re-run tleg prepare, or restore "
           "the file from a good copy)");
    }
  }
  return run;
}

}  // namespace tleg

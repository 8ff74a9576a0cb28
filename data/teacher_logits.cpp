#include "data/teacher_logits.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "common/checksum.h"
#include "common/error.h"

namespace tleg {
namespace {

constexpr const char* kShardFormat = "tleg-teacher-logits-shard";
constexpr const char* kIndexFormat = "tleg-teacher-logits";
constexpr std::uint64_t kChunk = 1 << 16;  // elements per chunk of the growing datasets
// Class indices fit int16 up to this many classes (ImageNet-1K, -21K's 21,841 classes).
constexpr std::int64_t kNarrowIndexClasses = 32768;
// The fixed part of a view record: source size and crop (6 x u16), flags, augment count, the
// erase box (4 x u16) and the erase noise key (u64); each augment slot adds op (u8) + argument
// (f64).
constexpr std::size_t kFixedRecordBytes = 12 + 2 + 8 + 8;
constexpr std::size_t kAugmentSlotBytes = 9;

// The command that makes a store for what training expects.
std::string regenerate_hint(const std::string& dataset, const TeacherLogitsTags& expected,
                            std::int64_t views, const std::string& dir) {
  return concat("regenerate it with: tleg logits --data.store ", dataset, " --data.train-split ",
                expected.split, " --run.seed ", expected.seed, " --aug.repeats ", expected.repeats,
                " --distill.views ", views, " --distill.teacher TEACHER --out ", dir,
                " (and the training run's aug.*, data.mean/std "
                "and model.image options)");
}

void write_tags(h5::File& file, const TeacherLogitsTags& tags, int augment_slots) {
  file.set_attribute("/", "format_version", kTeacherLogitsFormatVersion);
  file.set_attribute("/", "fingerprint", tags.fingerprint);
  file.set_attribute("/", "split", tags.split);
  file.set_attribute("/", "views", tags.views);
  file.set_attribute("/", "classes", tags.classes);
  file.set_attribute("/", "topk", tags.topk);
  file.set_attribute("/", "repeats", tags.repeats);
  // Attributes are int64: the seed's bits travel unchanged through the cast.
  file.set_attribute("/", "seed", static_cast<std::int64_t>(tags.seed));
  file.set_attribute("/", "recipe", tags.recipe);
  file.set_attribute("/", "teacher", tags.teacher);
  file.set_attribute("/", "augment_slots", static_cast<std::int64_t>(augment_slots));
}

TeacherLogitsTags read_tags(const h5::File& file, const char* format, int& augment_slots) {
  if (!file.has_attribute("/", "format") || file.string_attribute("/", "format") != format)
    fail(file.path(), ": not a file of a tleg teacher-logits store (make one with tleg logits)");
  const auto version = file.int_attribute("/", "format_version");
  if (version != kTeacherLogitsFormatVersion)
    fail(file.path(), ": teacher-logits format version ", version, ", this tleg reads version ",
         kTeacherLogitsFormatVersion, "; regenerate it with tleg logits");
  TeacherLogitsTags tags;
  tags.fingerprint = file.string_attribute("/", "fingerprint");
  tags.split = file.string_attribute("/", "split");
  tags.views = file.int_attribute("/", "views");
  tags.classes = file.int_attribute("/", "classes");
  tags.topk = file.int_attribute("/", "topk");
  tags.repeats = file.int_attribute("/", "repeats");
  tags.seed = static_cast<std::uint64_t>(file.int_attribute("/", "seed"));
  tags.recipe = file.string_attribute("/", "recipe");
  tags.teacher = file.string_attribute("/", "teacher");
  augment_slots = static_cast<int>(file.int_attribute("/", "augment_slots"));
  return tags;
}

bool same_tags(const TeacherLogitsTags& a, const TeacherLogitsTags& b) {
  return a.fingerprint == b.fingerprint && a.split == b.split && a.views == b.views &&
         a.classes == b.classes && a.topk == b.topk && a.repeats == b.repeats && a.seed == b.seed &&
         a.recipe == b.recipe && a.teacher == b.teacher;
}

std::int64_t stored_per_view(const TeacherLogitsTags& tags) {
  return tags.topk > 0 ? tags.topk : tags.classes;
}

// The CRC-32 of one row (one stored view) as the shard file holds it: the view record, the
// values, the indices in their stored width (none when topk = 0), the log-sum-exp.
std::uint32_t row_checksum(const std::uint8_t* record, std::size_t record_bytes,
                           const std::uint16_t* values, const void* indices,
                           std::size_t index_bytes, std::size_t stored, float log_sum_exp) {
  Crc32 crc;
  crc.update(record, record_bytes);
  crc.update(values, stored * sizeof *values);
  crc.update(indices, stored * index_bytes);
  crc.update(&log_sum_exp, sizeof log_sum_exp);
  return crc.value();
}

// Little-endian field writers/readers of the view record.
struct RecordWriter {
  std::uint8_t* out;
  void u8(unsigned value) { *out++ = static_cast<std::uint8_t>(value); }
  void u16(int value, const char* what) {
    if (value < 0 || value > 0xffff)
      fail("view record: ", what, " ", value, " does not fit 16 bits");
    u8(static_cast<unsigned>(value) & 0xff), u8(static_cast<unsigned>(value) >> 8);
  }
  void u64(std::uint64_t value) {
    for (int i = 0; i < 8; ++i) u8(static_cast<unsigned>(value >> (8 * i)) & 0xff);
  }
};

struct RecordReader {
  const std::uint8_t* in;
  unsigned u8() { return *in++; }
  int u16() {
    const unsigned low = u8();
    return static_cast<int>(low | (u8() << 8));
  }
  std::uint64_t u64() {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(u8()) << (8 * i);
    return value;
  }
};

}  // namespace

std::string describe_recipe(const ViewRecipe& r) {
  std::ostringstream out;
  out.precision(17);
  out << "size=" << r.output_height << "x" << r.output_width << " channels=" << r.channels
      << " scale=" << r.scale_min << ".." << r.scale_max << " ratio=" << r.ratio_min << ".."
      << r.ratio_max
      << " interpolation=" << (r.interpolation == Interpolation::kBicubic ? "bicubic" : "bilinear")
      << " flip=" << r.flip_probability << " randaugment=" << r.rand_augment
      << " ops=" << r.augment.ops << " magnitude=" << r.augment.magnitude
      << " magnitude_std=" << r.augment.magnitude_std
      << " op_probability=" << r.augment.op_probability << " increasing=" << r.augment.increasing
      << " translate=" << r.augment.translate_fraction << " erase=" << r.erase_probability
      << " erase_area=" << r.erase_min_area << ".." << r.erase_max_area
      << " erase_aspect=" << r.erase_min_aspect << " mean=";
  for (int c = 0; c < r.channels; ++c) out << (c ? "," : "") << r.mean[static_cast<std::size_t>(c)];
  out << " std=";
  for (int c = 0; c < r.channels; ++c) out << (c ? "," : "") << r.std[static_cast<std::size_t>(c)];
  out << " dct_scaling=" << r.dct_scaling;
  return out.str();
}

std::uint64_t stored_view_index(std::uint64_t epoch, std::uint64_t copy, std::int64_t repeats,
                                std::int64_t views) {
  return (epoch * static_cast<std::uint64_t>(repeats) + copy) % static_cast<std::uint64_t>(views);
}

ViewParams draw_stored_view(const ViewRecipe& recipe, int source_width, int source_height,
                            std::uint64_t seed, std::int64_t repeats, std::uint64_t view,
                            std::uint64_t sample) {
  const auto r = static_cast<std::uint64_t>(repeats);
  return draw_view(recipe, source_width, source_height, seed, view / r, sample, view % r);
}

std::size_t view_record_bytes(int augment_slots) {
  return kFixedRecordBytes + kAugmentSlotBytes * static_cast<std::size_t>(augment_slots);
}

void encode_view(const ViewParams& params, int augment_slots, std::uint8_t* out) {
  if (params.augments.size() > static_cast<std::size_t>(augment_slots))
    fail("view record: ", params.augments.size(), " RandAugment ops, the record has ",
         augment_slots);
  if (params.erase.size() > 1)
    fail("view record: ", params.erase.size(), " erased boxes, at most 1");
  RecordWriter w{out};
  w.u16(params.source_width, "source width");
  w.u16(params.source_height, "source height");
  w.u16(params.crop.x, "crop x"), w.u16(params.crop.y, "crop y");
  w.u16(params.crop.width, "crop width"), w.u16(params.crop.height, "crop height");
  w.u8((params.flip ? 1u : 0u) | (params.erase.empty() ? 0u : 2u));
  w.u8(static_cast<unsigned>(params.augments.size()));
  const EraseBox box = params.erase.empty() ? EraseBox{} : params.erase.front();
  w.u16(box.top, "erase top"), w.u16(box.left, "erase left");
  w.u16(box.height, "erase height"), w.u16(box.width, "erase width");
  w.u64(params.erase_noise_key);
  for (int slot = 0; slot < augment_slots; ++slot) {
    const auto i = static_cast<std::size_t>(slot);
    const AppliedAugment augment =
        i < params.augments.size() ? params.augments[i] : AppliedAugment{};
    w.u8(static_cast<unsigned>(augment.op));
    // The argument in full (f64): a rounded rotation angle would render other pixels.
    w.u64(std::bit_cast<std::uint64_t>(augment.argument));
  }
}

ViewParams decode_view(const std::uint8_t* record, int augment_slots) {
  RecordReader r{record};
  ViewParams params;
  params.source_width = r.u16();
  params.source_height = r.u16();
  params.crop.x = r.u16(), params.crop.y = r.u16();
  params.crop.width = r.u16(), params.crop.height = r.u16();
  const unsigned flags = r.u8();
  const unsigned augments = r.u8();
  if (augments > static_cast<unsigned>(augment_slots) || flags > 3 || params.source_width == 0)
    fail("view record: corrupt (", augments, " ops in ", augment_slots, " slots, flags ", flags,
         "); regenerate the store with tleg logits");
  params.flip = (flags & 1u) != 0;
  EraseBox box;
  box.top = r.u16(), box.left = r.u16(), box.height = r.u16(), box.width = r.u16();
  if ((flags & 2u) != 0) params.erase.push_back(box);
  params.erase_noise_key = r.u64();
  for (unsigned slot = 0; slot < static_cast<unsigned>(augment_slots); ++slot) {
    const unsigned op = r.u8();
    const double argument = std::bit_cast<double>(r.u64());
    if (slot >= augments) continue;
    if (op >= static_cast<unsigned>(kAugmentOpCount)) fail("view record: unknown augment op ", op);
    params.augments.push_back({static_cast<AugmentOp>(op), argument});
  }
  return params;
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Subnormal half: mantissa * 2^-24, exact in float.
    const float value = static_cast<float>(mantissa) * 0x1.0p-24f;
    return sign ? -value : value;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

void reconstruct_logits(const std::uint16_t* values, const std::int32_t* indices,
                        std::int64_t stored, float log_sum_exp, std::int64_t classes, float* out) {
  if (indices == nullptr) {
    for (std::int64_t c = 0; c < classes; ++c) out[c] = half_to_float(values[c]);
    return;
  }
  double kept_mass = 0;
  float lowest = std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0; i < stored; ++i) {
    const float logit = half_to_float(values[i]);
    kept_mass += std::exp(static_cast<double>(logit) - log_sum_exp);
    lowest = std::min(lowest, logit);
  }
  const double rest = 1.0 - kept_mass;
  float fill = -std::numeric_limits<float>::infinity();
  if (rest > 0 && classes > stored)
    // Never above the smallest stored logit: fp16 rounding must not reorder the classes.
    fill = std::min(
        lowest,
        static_cast<float>(std::log(rest / static_cast<double>(classes - stored)) + log_sum_exp));
  std::fill(out, out + classes, fill);
  for (std::int64_t i = 0; i < stored; ++i) {
    if (indices[i] < 0 || indices[i] >= classes)
      fail("teacher logits: class index ", indices[i], " outside ", classes,
           " classes (corrupt store)");
    out[indices[i]] = half_to_float(values[i]);
  }
}

// Writer --------------------------------------------------------------------------------------

TeacherLogitsShardWriter::TeacherLogitsShardWriter(std::string path, const TeacherLogitsTags& tags,
                                                   int augment_slots, std::int64_t shard,
                                                   std::uint64_t first_sample,
                                                   std::uint64_t samples)
    : path_(std::move(path)),
      partial_(path_ + ".partial"),
      tags_(tags),
      augment_slots_(augment_slots),
      expected_views_(samples * static_cast<std::uint64_t>(tags.views)),
      narrow_indices_(tags.classes <= kNarrowIndexClasses) {
  file_ = std::make_unique<h5::File>(h5::File::create(partial_));
  file_->set_attribute("/", "format", std::string(kShardFormat));
  write_tags(*file_, tags_, augment_slots_);
  file_->set_attribute("/", "shard", shard);
  file_->set_attribute("/", "first_sample", static_cast<std::int64_t>(first_sample));
  file_->set_attribute("/", "samples", static_cast<std::int64_t>(samples));
  file_->create_extendible_1d<std::uint8_t>("/params", kChunk);
  file_->create_extendible_1d<std::uint16_t>("/values", kChunk);
  if (tags_.topk > 0) {
    if (narrow_indices_)
      file_->create_extendible_1d<std::int16_t>("/indices", kChunk);
    else
      file_->create_extendible_1d<std::int32_t>("/indices", kChunk);
  }
  file_->create_extendible_1d<float>("/log_sum_exp", kChunk);
  file_->create_extendible_1d<std::uint32_t>("/checksums", kChunk);
}

TeacherLogitsShardWriter::~TeacherLogitsShardWriter() {
  if (!finished_) {
    file_.reset();
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }
}

void TeacherLogitsShardWriter::append(const std::vector<ViewParams>& params,
                                      const std::vector<std::uint16_t>& values,
                                      const std::vector<std::int32_t>& indices,
                                      const std::vector<float>& log_sum_exp) {
  const std::size_t n = params.size();
  const auto per_view = static_cast<std::size_t>(stored_per_view(tags_));
  if (values.size() != n * per_view || log_sum_exp.size() != n ||
      indices.size() != (tags_.topk > 0 ? n * per_view : 0))
    fail("internal: teacher-logits append of ", n, " views with ", values.size(), " values, ",
         indices.size(), " indices, ", log_sum_exp.size(), " log-sum-exps");
  const std::size_t record = view_record_bytes(augment_slots_);
  std::vector<std::uint8_t> records(n * record);
  for (std::size_t i = 0; i < n; ++i)
    encode_view(params[i], augment_slots_, records.data() + i * record);
  const std::vector<std::int16_t> narrow =
      narrow_indices_ ? std::vector<std::int16_t>(indices.begin(), indices.end())
                      : std::vector<std::int16_t>();
  const std::size_t index_bytes = tags_.topk == 0   ? 0
                                  : narrow_indices_ ? sizeof(std::int16_t)
                                                    : sizeof(std::int32_t);
  const auto* index_data = static_cast<const char*>(
      narrow_indices_ ? static_cast<const void*>(narrow.data()) : indices.data());
  std::vector<std::uint32_t> checksums(n);
  for (std::size_t i = 0; i < n; ++i)
    checksums[i] = row_checksum(records.data() + i * record, record, values.data() + i * per_view,
                                index_data + i * per_view * index_bytes, index_bytes, per_view,
                                log_sum_exp[i]);
  file_->append("/params", records.data(), records.size());
  file_->append("/values", values.data(), values.size());
  if (tags_.topk > 0) {
    if (narrow_indices_)
      file_->append("/indices", narrow.data(), narrow.size());
    else
      file_->append("/indices", indices.data(), indices.size());
  }
  file_->append("/log_sum_exp", log_sum_exp.data(), log_sum_exp.size());
  file_->append("/checksums", checksums.data(), checksums.size());
  written_views_ += n;
}

void TeacherLogitsShardWriter::finish() {
  if (written_views_ != expected_views_)
    fail("internal: ", path_, " got ", written_views_, " views, expected ", expected_views_);
  file_->flush();
  file_.reset();
  std::filesystem::rename(partial_, path_);
  finished_ = true;
}

std::string teacher_logits_shard_path(const std::string& dir, std::int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(shard));
  return (std::filesystem::path(dir) / name).string();
}

bool teacher_logits_shard_complete(const std::string& path, const TeacherLogitsTags& tags,
                                   std::int64_t shard, std::uint64_t first_sample,
                                   std::uint64_t samples) {
  if (!std::filesystem::exists(path)) return false;
  try {
    const h5::File file = h5::File::open_read(path, "teacher-logits shard");
    int slots = 0;
    return same_tags(read_tags(file, kShardFormat, slots), tags) &&
           file.int_attribute("/", "shard") == shard &&
           file.int_attribute("/", "first_sample") == static_cast<std::int64_t>(first_sample) &&
           file.int_attribute("/", "samples") == static_cast<std::int64_t>(samples);
  } catch (const Error&) {
    return false;  // unreadable or of other options: written again
  }
}

void write_teacher_logits_index(const std::string& dir, const TeacherLogitsTags& tags,
                                int augment_slots, const std::vector<std::uint64_t>& shard_starts) {
  const std::string path = (std::filesystem::path(dir) / "index.h5").string();
  const std::string partial = path + ".partial";
  {
    h5::File file = h5::File::create(partial);
    file.set_attribute("/", "format", std::string(kIndexFormat));
    write_tags(file, tags, augment_slots);
    file.write("/shard_starts", {shard_starts.size()}, shard_starts.data());
    file.flush();
  }
  std::filesystem::rename(partial, path);
}

// Reader --------------------------------------------------------------------------------------

struct TeacherLogitsStore::Shard {
  h5::File file;
  bool narrow_indices = false;
  bool has_checksums = false;  // false in files written before rows had checksums
};

TeacherLogitsStore::TeacherLogitsStore(const std::string& dir) : dir_(dir) {
  const std::string index = (std::filesystem::path(dir) / "index.h5").string();
  if (!std::filesystem::exists(index))
    fail(dir, ": no teacher-logits store here (", index,
         " is missing: make the store with "
         "tleg logits, or let an interrupted tleg logits run finish)");
  {
    const h5::File file = h5::File::open_read(index, "teacher-logits index");
    tags_ = read_tags(file, kIndexFormat, augment_slots_);
    shard_starts_ = file.read_all<std::uint64_t>("/shard_starts");
  }
  if (shard_starts_.size() < 2 || tags_.views < 1 || tags_.classes < 1 || tags_.repeats < 1)
    fail(index, ": broken index (", shard_starts_.size(), " shard bounds, ", tags_.views,
         " views, ", tags_.classes, " classes); regenerate the store with tleg logits");
  const auto per_view = static_cast<std::uint64_t>(stored_per_view(tags_));
  for (std::size_t s = 0; s + 1 < shard_starts_.size(); ++s) {
    const std::string path = teacher_logits_shard_path(dir, static_cast<std::int64_t>(s));
    auto shard = std::make_unique<Shard>(
        Shard{h5::File::open_read(path, "teacher-logits shard"), false, false});
    int slots = 0;
    const std::uint64_t samples = shard_starts_[s + 1] - shard_starts_[s];
    if (!same_tags(read_tags(shard->file, kShardFormat, slots), tags_) || slots != augment_slots_ ||
        shard->file.int_attribute("/", "first_sample") !=
            static_cast<std::int64_t>(shard_starts_[s]) ||
        shard->file.int_attribute("/", "samples") != static_cast<std::int64_t>(samples))
      fail(path, ": belongs to another tleg logits run than ", index,
           " (mixed files in one folder); regenerate the store with tleg logits into an empty "
           "folder");
    const std::uint64_t views = samples * static_cast<std::uint64_t>(tags_.views);
    if (shard->file.shape("/log_sum_exp").at(0) != views ||
        shard->file.shape("/values").at(0) != views * per_view)
      fail(path, ": holds ", shard->file.shape("/log_sum_exp").at(0), " views, expected ", views,
           " (truncated); regenerate the store with tleg logits");
    if (tags_.topk > 0) shard->narrow_indices = shard->file.element_type("/indices").first == 2;
    shard->has_checksums = shard->file.exists("/checksums");
    if (shard->has_checksums && shard->file.shape("/checksums").at(0) != views)
      fail(path, ": holds ", shard->file.shape("/checksums").at(0), " checksums for ", views,
           " views (truncated); regenerate the store with tleg logits");
    shards_.push_back(std::move(shard));
  }
}

TeacherLogitsStore::~TeacherLogitsStore() = default;

void TeacherLogitsStore::check(const std::string& dataset,
                               const TeacherLogitsTags& expected) const {
  auto differs = [&](const char* what, const auto& stored, const auto& wanted) {
    fail(dir_, ": teacher logits were made for ", what, " ", stored, ", but training uses ", wanted,
         "; ",
         regenerate_hint(dataset, expected, expected.views > 0 ? expected.views : tags_.views,
                         dir_));
  };
  if (tags_.fingerprint != expected.fingerprint)
    differs("the dataset with fingerprint", tags_.fingerprint,
            concat(dataset, " (fingerprint ", expected.fingerprint, ")"));
  if (tags_.split != expected.split) differs("split", tags_.split, expected.split);
  if (tags_.classes != expected.classes)
    differs("a class count of", tags_.classes, expected.classes);
  if (expected.views > 0 && tags_.views != expected.views)
    differs("a view count of", tags_.views, expected.views);
  if (tags_.seed != expected.seed) differs("seed (run.seed)", tags_.seed, expected.seed);
  if (tags_.repeats != expected.repeats)
    differs("repeated augmentation (aug.repeats)", tags_.repeats, expected.repeats);
  if (tags_.recipe != expected.recipe) {
    // Name the first recipe word that differs, not two long lines.
    std::istringstream stored(tags_.recipe), wanted(expected.recipe);
    std::string a, b;
    while (stored >> a && wanted >> b && a == b) {
    }
    differs("the view recipe with", a, b);
  }
}

StoredView TeacherLogitsStore::read(std::uint64_t sample, std::uint64_t view) const {
  if (sample >= shard_starts_.back() || view >= static_cast<std::uint64_t>(tags_.views))
    fail(dir_, ": no stored view ", view, " of sample ", sample, " (the store holds ", tags_.views,
         " views of ", shard_starts_.back(), " samples)");
  const auto s = static_cast<std::size_t>(
      std::upper_bound(shard_starts_.begin(), shard_starts_.end(), sample) - shard_starts_.begin() -
      1);
  const Shard& shard = *shards_[s];
  const std::uint64_t row =
      (sample - shard_starts_[s]) * static_cast<std::uint64_t>(tags_.views) + view;
  const std::size_t record = view_record_bytes(augment_slots_);
  std::vector<std::uint8_t> bytes(record);
  shard.file.read_range("/params", row * record, record, bytes.data());
  const auto per_view = static_cast<std::uint64_t>(stored_per_view(tags_));
  std::vector<std::uint16_t> values(per_view);
  shard.file.read_range("/values", row * per_view, per_view, values.data());
  float log_sum_exp = 0;
  shard.file.read_range("/log_sum_exp", row, 1, &log_sum_exp);
  std::vector<std::int32_t> indices;
  std::vector<std::int16_t> narrow;
  if (tags_.topk > 0) {
    if (shard.narrow_indices) {
      narrow.resize(per_view);
      shard.file.read_range("/indices", row * per_view, per_view, narrow.data());
      indices.assign(narrow.begin(), narrow.end());
    } else {
      indices.resize(per_view);
      shard.file.read_range("/indices", row * per_view, per_view, indices.data());
    }
  }
  if (shard.has_checksums) {
    std::uint32_t expected = 0;
    shard.file.read_range("/checksums", row, 1, &expected);
    const void* index_data = shard.narrow_indices ? static_cast<const void*>(narrow.data())
                                                  : static_cast<const void*>(indices.data());
    const std::size_t index_bytes = tags_.topk == 0        ? 0
                                    : shard.narrow_indices ? sizeof(std::int16_t)
                                                           : sizeof(std::int32_t);
    if (row_checksum(bytes.data(), record, values.data(), index_data, index_bytes, per_view,
                     log_sum_exp) != expected)
      fail(shard.file.path(), ": the stored view ", view, " of sample ", sample, " (shard ", s,
           ", samples [", shard_starts_[s], ", ", shard_starts_[s + 1],
           ")) does not match its checksum, the file is corrupt (delete it and run the same tleg "
           "logits command again: it redoes missing shards)");
  }
  StoredView stored{decode_view(bytes.data(), augment_slots_),
                    std::vector<float>(static_cast<std::size_t>(tags_.classes))};
  reconstruct_logits(values.data(), indices.empty() ? nullptr : indices.data(),
                     static_cast<std::int64_t>(per_view), log_sum_exp, tags_.classes,
                     stored.logits.data());
  return stored;
}

}  // namespace tleg

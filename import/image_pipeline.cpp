// The image import pipeline (JPEG, and PNG): worker threads read, decode (strictly), resize and
// re-encode (or keep the pixels, for raw stores); the calling thread alone talks to HDF5 and
// writes the results in plan order, so the store is the same whatever the thread count.
#include "import/image_pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <thread>
#include <tuple>

#include "common/format.h"
#include "data/jpeg_codec.h"
#include "data/ordered_pool.h"
#include "data/png_codec.h"

namespace tleg {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw BadImage(concat("cannot open: ", std::strerror(errno)));
  const std::streamsize size = in.tellg();
  if (size < 0) throw BadImage("cannot read (not a regular file?)");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw BadImage(concat("read error: ", std::strerror(errno)));
  return bytes;
}

bool starts_with(const std::vector<std::uint8_t>& bytes, std::string_view magic,
                 std::size_t at = 0) {
  return bytes.size() >= at + magic.size() &&
         std::equal(magic.begin(), magic.end(), bytes.begin() + at,
                    [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; });
}

// Names the format of a file that is neither JPEG nor PNG, so the report says "GIF image" rather
// than a libjpeg message about a missing SOI marker.
std::string other_format(const std::vector<std::uint8_t>& bytes) {
  if (starts_with(bytes, "GIF8")) return "GIF image";
  if (starts_with(bytes, "BM")) return "BMP image";
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return "WebP image";
  if (starts_with(bytes, "II*") || starts_with(bytes, "MM")) return "TIFF image";
  return "unknown format";
}

// One tab-separated field: tabs and line breaks in a file name would break the columns.
std::string tsv_field(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
  return text;
}

void write_report(const std::string& path, const std::vector<BadInput>& bad) {
  std::ofstream out(path, std::ios::trunc);
  out << "split\tfile\treason\n";
  for (const auto& entry : bad)
    out << tsv_field(entry.split) << '\t' << tsv_field(entry.path) << '\t'
        << tsv_field(entry.reason) << '\n';
  if (!out.flush()) fail(path, ": cannot write the bad-input report: ", std::strerror(errno));
}

// "done/total, images/s, ETA" on stderr. On a terminal the line is rewritten in place a few
// times a second; in a log file a new line every 10 s keeps the log readable.
class ProgressLine {
 public:
  ProgressLine(std::uint64_t total, bool enabled)
      : total_(total),
        enabled_(enabled),
        terminal_(isatty(fileno(stderr)) == 1),
        interval_(terminal_ ? std::chrono::milliseconds(250) : std::chrono::seconds(10)),
        start_(Clock::now()),
        last_(start_) {}

  void update(std::uint64_t done) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - last_ < interval_) return;
    last_ = now;
    print(done, false);
  }
  void finish(std::uint64_t done) {
    if (enabled_) print(done, true);
  }

 private:
  void print(std::uint64_t done, bool last) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = seconds > 0 ? done / seconds : 0;
    char text[160];
    std::snprintf(text, sizeof text, "prepare: %llu/%llu images (%.1f%%), %.0f images/s, %s %s",
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                  total_ ? 100.0 * done / total_ : 100.0, rate, last ? "took" : "ETA",
                  format_duration(last       ? seconds
                                  : rate > 0 ? (total_ - done) / rate
                                             : 0)
                      .c_str());
    if (terminal_)
      std::fprintf(stderr, "\r%s\033[K%s", text, last ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", text);
    std::fflush(stderr);
  }

  std::uint64_t total_;
  bool enabled_, terminal_;
  Clock::duration interval_;
  Clock::time_point start_, last_;
};

// A JPEG or PNG file decoded strictly to RGB and shrunk to its stored size.
Image decode_for_store(const std::vector<std::uint8_t>& file, int shorter_side) {
  Image image;
  try {
    int width = 0, height = 0;
    if (is_png(file.data(), file.size())) {
      image = decode_png(file.data(), file.size(), 3);
      std::tie(width, height) = stored_size(image.width, image.height, shorter_side);
    } else {
      const JpegSize size = jpeg_size(file.data(), file.size());
      std::tie(width, height) = stored_size(size.width, size.height, shorter_side);
      // Decode at the smallest DCT scale that still covers the target (a 4000x3000 photo is
      // decoded at 1/8 or so), then finish with an area filter: fast, and no aliasing.
      const int eighths = jpeg_scale_eighths(size, width, height);
      image = decode_jpeg(file.data(), file.size(), 3, eighths, /*strict=*/true);
    }
    if (image.width != width || image.height != height) {
      const cv::Mat decoded(image.height, image.width, CV_8UC3, image.pixels.data());
      Image resized{height, width, 3,
                    std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
      cv::Mat target(height, width, CV_8UC3, resized.pixels.data());
      cv::resize(decoded, target, target.size(), 0, 0, cv::INTER_AREA);
      image = std::move(resized);
    }
  } catch (const BadImage&) {
    throw;
  } catch (const Error& error) {  // the decoder's reason: truncated, corrupt, unsupported
    throw BadImage(error.what());
  }
  return image;
}

// The size a file's image is stored at, from its header alone (a PNG's IHDR chunk comes first,
// at a fixed place); nullopt for a file that is no readable image: the pipeline reports it.
std::optional<std::pair<int, int>> header_stored_size(const std::string& path, int shorter_side) {
  try {
    const std::vector<std::uint8_t> file = read_file(path);
    if (is_png(file.data(), file.size())) {
      if (file.size() < 24) return std::nullopt;
      const auto big_endian = [&](std::size_t at) {
        return static_cast<int>((std::uint32_t{file[at]} << 24) | (file[at + 1] << 16) |
                                (file[at + 2] << 8) | file[at + 3]);
      };
      return stored_size(big_endian(16), big_endian(20), shorter_side);
    }
    const JpegSize size = jpeg_size(file.data(), file.size());
    return stored_size(size.width, size.height, shorter_side);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Resolves --encoding (StoredEncoding) into the store's encoding and raw shape. Raw needs every
// image at one size, known before the first is written: the headers are read first, stopping
// at the first image that rules raw out (auto) or failing naming it (raw).
void choose_encoding(const std::vector<const ImageSource*>& sources,
                     const ImageImportOptions& options, DatasetInfo& info) {
  info.encoding = ImageEncoding::kJpeg;
  info.height = info.width = 0;
  info.channels = 3;
  if (options.encoding == StoredEncoding::kJpeg) return;
  const bool automatic = options.encoding == StoredEncoding::kAuto;
  std::optional<std::pair<int, int>> first;
  const std::string* first_path = nullptr;
  for (const ImageSource* source : sources) {
    const auto size = header_stored_size(source->path, options.shorter_side);
    if (!size) continue;
    if (!first) {
      first = size, first_path = &source->path;
      if (automatic && std::max(size->first, size->second) > kAutoRawMaxSide) return;
    } else if (*size != *first) {
      if (automatic) return;
      fail(source->path, " is ", size->first, "x", size->second, " pixels as stored, but ",
           *first_path, " is ", first->first, "x", first->second,
           ": --encoding raw stores every image at one size (use --encoding jpeg, or resize the "
           "images to one size)");
    }
  }
  if (!first) return;  // nothing readable: every image is reported as bad
  info.encoding = ImageEncoding::kRaw;
  info.width = first->first, info.height = first->second;
}

// The outcome for one source image: the bytes to store (JPEG, or raw RGB pixels), or why it is
// bad.
struct Processed {
  std::vector<std::uint8_t> bytes;
  int width = 0, height = 0;
  std::string bad_reason;
};

Processed process(const ImageSource& source, const ImageImportOptions& options, bool raw) {
  Processed result;
  try {
    const std::vector<std::uint8_t> file = read_file(source.path);
    if (file.empty()) throw BadImage("empty file (0 bytes)");
    if (!starts_with(file, "\xFF\xD8") && !is_png(file.data(), file.size()))
      throw BadImage("not a JPEG or PNG (" + other_format(file) + ")");
    Image image = decode_for_store(file, options.shorter_side);
    result.width = image.width, result.height = image.height;
    // A JPEG store re-encodes every image, also those already small enough: it then holds one
    // uniform kind of JPEG (baseline RGB 4:2:0, no CMYK, no EXIF or ICC blocks, no progressive
    // scans), so the training loader's decode cost is predictable and no source quirk reaches
    // it. At quality 90 the extra generation is far below the augmentation noise (FFCV makes
    // the same choice).
    result.bytes = raw ? std::move(image.pixels) : encode_jpeg(image, options.quality);
  } catch (const BadImage& bad) {
    result.bad_reason = bad.what();
  }
  return result;
}

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g%%", 100 * fraction);
  return text;
}

}  // namespace

std::string report_path(const std::string& out) { return out + ".report.tsv"; }

StoredEncoding parse_stored_encoding(const std::string& text) {
  if (text == "auto") return StoredEncoding::kAuto;
  if (text == "jpeg") return StoredEncoding::kJpeg;
  if (text == "raw") return StoredEncoding::kRaw;
  fail("--encoding '", text, "': expected auto, jpeg or raw");
}

std::pair<int, int> stored_size(int width, int height, int shorter_side) {
  const int shorter = std::min(width, height);
  if (shorter_side <= 0 || shorter <= shorter_side) return {width, height};
  const double scale = static_cast<double>(shorter_side) / shorter;
  // The shorter side lands exactly on shorter_side; the longer one is rounded.
  const int new_width =
      width == shorter ? shorter_side : std::max(1, static_cast<int>(std::lround(width * scale)));
  const int new_height =
      width == shorter ? std::max(1, static_cast<int>(std::lround(height * scale))) : shorter_side;
  return {new_width, new_height};
}

std::vector<std::uint8_t> recompress_image(const std::vector<std::uint8_t>& file, int shorter_side,
                                           int quality) {
  return encode_jpeg(decode_for_store(file, shorter_side), quality);
}

namespace {
// Processes and writes the (already class-selected) plan.
ImportSummary write_import(const ImportPlan& plan, const std::string& out,
                           const ImageImportOptions& options);
}  // namespace

ImportSummary run_image_import(const ImportPlan& plan, const std::string& out,
                               const ImageImportOptions& options) {
  if (options.quality < 1 || options.quality > 100)
    fail("JPEG quality must be in 1..100, got ", options.quality);
  if (options.shorter_side < 0)
    fail("the shorter side must be >= 0 (0 keeps the size), got ", options.shorter_side);
  if (!(options.max_bad_fraction >= 0 && options.max_bad_fraction <= 1))
    fail("the bad fraction must be in [0, 1], got ", options.max_bad_fraction);

  // A class split (--classes) keeps the selected classes' images, relabelled, before any is
  // decoded: the others cost nothing. Listing problems stay reported whatever their class.
  const ClassSelection selection =
      ClassSelection::parse(options.classes, plan.info.class_names.size());
  ImportPlan selected{selection.apply(plan.info), {}, plan.bad};
  for (const auto& [split, images] : plan.splits) {
    auto& kept = selected.splits.emplace_back(split, std::vector<ImageSource>{}).second;
    for (const auto& image : images)
      if (const std::int32_t label = selection.label_of(image.label); label >= 0)
        kept.push_back({image.path, label});
  }
  return write_import(selected, out, options);
}

namespace {
ImportSummary write_import(const ImportPlan& plan, const std::string& out,
                           const ImageImportOptions& options) {
  const int threads =
      options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<const ImageSource*> sources;
  for (const auto& [split, images] : plan.splits)
    for (const auto& image : images) sources.push_back(&image);
  const std::uint64_t inputs = sources.size() + plan.bad.size();
  // Known up front, so an import that will fail stops as soon as the bad count says so.
  const auto allowed_bad =
      static_cast<std::uint64_t>(std::floor(options.max_bad_fraction * inputs));

  ImportSummary summary;
  summary.path = out;
  summary.report = report_path(out);
  std::vector<BadInput> bad = plan.bad;
  auto check_bad_fraction = [&](std::uint64_t checked) {
    if (bad.size() <= allowed_bad) return;
    write_report(summary.report, bad);
    fail("too many bad inputs: ", bad.size(), " of ", inputs, " is more than --max-bad-fraction ",
         percent(options.max_bad_fraction), " allows",
         checked < inputs ? concat(" (stopped after checking ", checked, ")") : "",
         "; they are listed in ", summary.report,
         ": fix or remove them, or raise --max-bad-fraction");
  };
  check_bad_fraction(plan.bad.size());

  DatasetInfo info = plan.info;
  choose_encoding(sources, options, info);
  const bool raw = info.encoding == ImageEncoding::kRaw;
  summary.stored_as = describe_encoding(info);
  DatasetWriter writer(out, info, options.images_per_shard);
  ProgressLine progress(sources.size(), options.show_progress);
  const auto start = Clock::now();
  {
    // 32 images per thread (a few MB) keep every worker busy while the writer flushes a shard.
    const std::size_t window = std::max<std::size_t>(64, 32 * static_cast<std::size_t>(threads));
    OrderedPool<Processed> pipeline(sources.size(), threads, window, [&](std::size_t i) {
      return process(*sources[i], options, raw);
    });
    std::size_t next = 0;
    for (const auto& [split, images] : plan.splits) {
      writer.begin_split(split);
      std::uint64_t written = 0;
      for (const auto& image : images) {
        Processed result = pipeline.take(next++);
        if (!result.bad_reason.empty()) {
          bad.push_back({split, image.path, result.bad_reason});
          check_bad_fraction(plan.bad.size() + next);
        } else {
          if (raw && (result.width != info.width || result.height != info.height))
            fail(image.path, " decoded to ", result.width, "x", result.height,
                 " pixels, but the headers read first gave every image ", info.width, "x",
                 info.height, " (was it changed during tleg prepare?); run tleg prepare again");
          writer.add(result.bytes.data(), result.bytes.size(), image.label);
          ++written;
        }
        progress.update(next);
      }
      writer.end_split();
      if (split == "train") summary.train = written;
      if (split == "val") summary.val = written;
    }
    progress.finish(next);
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  summary.bad = bad.size();
  write_report(summary.report, bad);
  summary.fingerprint = writer.finish();
  return summary;
}
}  // namespace

}  // namespace tleg

#include "import/importers.h"

#include <filesystem>
#include <vector>

#include "common/error.h"
#include "data/dataset_store.h"
#include "import/idx_file.h"

namespace tleg {
namespace {

// The file as installed (.gz) or already uncompressed.
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  fail("no ", stem, "(.gz) in ", dir,
       " (install Debian's dataset-fashion-mnist or pass --src with the four IDX files)");
}

}  // namespace

ImportSummary prepare_fashion_mnist(const std::string& source_dir, const std::string& out,
                                    std::int64_t images_per_shard, const std::string& classes,
                                    std::int64_t hold_out) {
  if (hold_out < 0) fail("--hold-out must be 0 or more images, got ", hold_out);
  DatasetInfo info;
  info.name = "fashion-mnist";
  info.encoding = ImageEncoding::kRaw;
  info.height = 28, info.width = 28, info.channels = 1;
  info.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  info.source = source_dir;
  const ClassSelection selection = ClassSelection::parse(classes, info.class_names.size());
  DatasetWriter writer(out, selection.apply(info), images_per_shard);
  ImportSummary summary;
  summary.path = out;
  summary.stored_as = describe_encoding(info);
  for (const auto& [split, prefix] : {std::pair{"train", "train"}, std::pair{"val", "t10k"}}) {
    const std::string images_path =
        find_idx(source_dir, std::string(prefix) + "-images-idx3-ubyte");
    const std::string labels_path =
        find_idx(source_dir, std::string(prefix) + "-labels-idx1-ubyte");
    const IdxArray images = read_idx(images_path);
    const IdxArray labels = read_idx(labels_path);
    if (images.shape.size() != 3 || images.shape[1] != 28 || images.shape[2] != 28)
      fail(images_path, ": expected [n, 28, 28] images");
    if (labels.shape.size() != 1 || labels.shape[0] != images.shape[0])
      fail(labels_path, ": ", labels.shape.empty() ? 0 : labels.shape[0], " labels for ",
           images.shape[0], " images in ", images_path);
    std::vector<std::int32_t> kept;  // the label of each image kept, -1 for one left out
    std::uint64_t kept_count = 0;
    for (std::int64_t i = 0; i < images.shape[0]; ++i) {
      if (labels.values[i] > 9) fail(labels_path, ": label ", int(labels.values[i]), " at ", i);
      kept.push_back(selection.label_of(labels.values[i]));
      kept_count += kept.back() >= 0;
    }
    const bool training = std::string(split) == "train";
    const auto held_out = static_cast<std::uint64_t>(training ? hold_out : 0);
    if (held_out >= kept_count && held_out > 0)
      fail("--hold-out ", hold_out, ": the training split has only ", kept_count,
           " images; hold out fewer");
    // The first images stay in the split; the last `held_out` go to the held-out split.
    writer.begin_split(split);
    std::uint64_t written = 0;
    for (std::int64_t i = 0; i < images.shape[0]; ++i) {
      if (kept[static_cast<std::size_t>(i)] < 0) continue;
      if (written == kept_count - held_out) {
        writer.end_split();
        writer.begin_split(kHeldOutSplit);
      }
      writer.add(images.values.data() + i * 28 * 28, 28 * 28, kept[static_cast<std::size_t>(i)]);
      ++written;
    }
    writer.end_split();
    if (training) {
      summary.train = kept_count - held_out;
      summary.held_out = held_out;
    } else {
      summary.val = written;
    }
  }
  summary.fingerprint = writer.finish();
  return summary;
}

}  // namespace tleg

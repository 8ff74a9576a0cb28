// Importers that turn a dataset on disk into a tleg dataset store.
#pragma once

#include <cstdint>
#include <string>

namespace tleg {

struct ImportSummary {
  std::string path, fingerprint;
  std::string stored_as;  // "jpeg", "raw 28x28x1": how the images are stored
  std::uint64_t train = 0, val = 0, held_out = 0, bad = 0;
  std::string report;  // the bad-input report (JPEG importers), empty when none is written
  double seconds = 0;  // wall time of the image processing
};

// How the image importers store images (--encoding): JPEG, re-encoded at the import's quality;
// raw RGB pixels, every image at one size (refused naming an image of another size); or auto:
// raw when every image is stored at one size of at most kAutoRawMaxSide pixels a side (CIFAR's
// 32x32, Tiny ImageNet's 64x64: decoding a JPEG that small costs more than reading its pixels,
// and q90 would blur them), else JPEG.
enum class StoredEncoding { kAuto, kJpeg, kRaw };
inline constexpr int kAutoRawMaxSide = 64;
// "auto", "jpeg" or "raw"; anything else fails naming --encoding.
StoredEncoding parse_stored_encoding(const std::string& text);

// Options of the image importers (ImageNet and class folders).
struct ImageImportOptions {
  int shorter_side = 256;  // images are shrunk so the shorter side is at most this; 0 keeps them
  StoredEncoding encoding = StoredEncoding::kAuto;
  int quality = 90;                // JPEG quality of the stored images
  int threads = 0;                 // decode/resize/encode threads; 0: one per core
  double max_bad_fraction = 0.01;  // fail when more of the inputs than this are bad
  std::int64_t images_per_shard = 4096;
  bool show_progress = true;  // a progress line on stderr
  // Folder importer without train/ and val/: hold out this fraction of each class as "val".
  double val_fraction = 0;
  // Folder importer with both DIR/val/ and DIR/test/: the one stored as split "val" ("val" or
  // "test"); "" when there is at most one of them.
  std::string val_folder;
  // ImageNet: LOC_val_solution.csv and LOC_synset_mapping.txt when they are not in or above
  // the source folder (Kaggle puts them three levels above ILSVRC/Data/CLS-LOC).
  std::string val_labels, synset_mapping;
  // Keep only these classes, relabelled in this order (ClassSelection::parse); "": all.
  std::string classes;
};

// Where the bad-input report of the store `out` goes: a TSV of split, file and reason.
std::string report_path(const std::string& out);

// ImageNet-1K: train/<wnid>/*.JPEG, and val either as val/<wnid>/ folders or flat val/*.JPEG
// labelled by LOC_val_solution.csv. Class order and names from LOC_synset_mapping.txt when
// found (the standard sorted-wnid order), else the sorted train folder names.
ImportSummary prepare_imagenet(const std::string& source_dir, const std::string& out,
                               const ImageImportOptions& options);

// Any class-per-folder tree: DIR/<class>/**/*.jpg, or DIR/train/<class>/ with DIR/val/<class>/
// or DIR/test/<class>/, stored as split "val" either way (what training evaluates by default);
// with both val/ and test/, options.val_folder picks one. JPEG and PNG are decoded (whatever
// the file name says); other files (GIF, ...) in class folders are reported as bad.
ImportSummary prepare_folder(const std::string& source_dir, const std::string& out,
                             const ImageImportOptions& options);

// Fashion-MNIST from its four IDX files (gzip or plain), as Debian's dataset-fashion-mnist
// installs them: raw 28x28x1 images, splits "train" (60,000) and "val" (10,000, the test set).
// With `classes` (ClassSelection::parse) only those classes' images, relabelled 0..k-1 in that
// order. With `hold_out` > 0 the last `hold_out` training images (of those kept) form split
// kHeldOutSplit instead of "train": a validation split for choosing a recipe, so that "val"
// (the test set) serves only the reported numbers. The split is part of the fingerprint.
ImportSummary prepare_fashion_mnist(const std::string& source_dir, const std::string& out,
                                    std::int64_t images_per_shard, const std::string& classes = "",
                                    std::int64_t hold_out = 0);
inline constexpr const char* kHeldOutSplit = "holdout";

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace tleg

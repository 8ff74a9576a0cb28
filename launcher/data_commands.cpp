// Commands that make and read dataset stores: prepare.
#include <iostream>

#include "common/error.h"
#include "common/format.h"
#include "import/importers.h"
#include "launcher/command.h"

namespace tleg {
namespace {

struct PrepareSettings {
  std::string kind, source, out;
  std::int64_t shard = ImageImportOptions{}.images_per_shard;
  ImageImportOptions import;  // imagenet and folder
  std::int64_t hold_out = 0;  // fashion-mnist
};

PrepareSettings prepare_settings(Options& o) {
  PrepareSettings s;
  s.kind = o.get<std::string>("kind");
  s.out = o.get<std::string>("out");
  s.shard = o.get<std::int64_t>("shard-size");
  if (s.kind != "fashion-mnist" && s.kind != "imagenet" && s.kind != "folder")
    fail("unknown dataset kind '", s.kind, "': this tleg prepares fashion-mnist, imagenet, folder");
  const auto source = o.find<std::string>("src");
  if (s.kind != "fashion-mnist" && !source)
    fail("tleg prepare ", s.kind, " needs --src, the folder to import");
  s.source = source.value_or(std::string(kFashionMnistDir));
  s.import.shorter_side = o.get<int>("shorter-side");
  s.import.encoding = parse_stored_encoding(o.get<std::string>("encoding"));
  s.import.quality = o.get<int>("quality");
  s.import.threads = o.get<int>("threads");
  s.import.max_bad_fraction = o.get<double>("max-bad-fraction");
  s.import.images_per_shard = s.shard;
  s.import.show_progress = !o.given("quiet");
  s.import.val_fraction = o.get<double>("val-fraction");
  if (const auto folder = o.find<std::string>("val-folder")) s.import.val_folder = *folder;
  if (const auto labels = o.find<std::string>("val-labels")) s.import.val_labels = *labels;
  if (const auto mapping = o.find<std::string>("synset-mapping"))
    s.import.synset_mapping = *mapping;
  s.import.classes = o.get<std::string>("classes");
  s.hold_out = o.get<std::int64_t>("hold-out");
  if (s.hold_out > 0 && s.kind != "fashion-mnist")
    fail(
        "--hold-out is for fashion-mnist; a folder import holds out a validation split with "
        "--val-fraction (from a folder without val/), or give the folder a val/ of its own");
  return s;
}

int prepare(const PrepareSettings& s) {
  const ImportSummary summary =
      s.kind == "fashion-mnist"
          ? prepare_fashion_mnist(s.source, s.out, s.shard, s.import.classes, s.hold_out)
      : s.kind == "imagenet" ? prepare_imagenet(s.source, s.out, s.import)
                             : prepare_folder(s.source, s.out, s.import);
  std::cout << "wrote " << summary.path << ": " << summary.train << " train + ";
  if (summary.held_out > 0) std::cout << summary.held_out << " " << kHeldOutSplit << " + ";
  std::cout << summary.val << " val images, stored as " << summary.stored_as;
  if (!summary.report.empty())
    std::cout << ", " << summary.bad << " bad (listed in " << summary.report << ")";
  if (summary.seconds > 0)
    std::cout << ", " << static_cast<long>((summary.train + summary.val) / summary.seconds)
              << " images/s";
  std::cout << ", fingerprint " << summary.fingerprint << "\n";
  return 0;
}

}  // namespace

std::vector<Command> data_commands() {
  return {
      {"prepare", "import a dataset into an HDF5 dataset store",
       "KIND (fashion-mnist | imagenet | folder)",
       [](po::options_description& o, po::positional_options_description& p) {
         const ImageImportOptions d;
         o.add_options()("kind", po::value<std::string>()->required(),
                         "dataset kind: fashion-mnist (IDX files, stored raw); imagenet "
                         "(train/<wnid>/*.JPEG, val/<wnid>/ or flat val/ with "
                         "LOC_val_solution.csv, names from LOC_synset_mapping.txt); folder "
                         "(DIR/<class>/*, or DIR/train/<class>/ with DIR/val/<class>/ or "
                         "DIR/test/<class>/, stored as split val). imagenet and folder decode "
                         "JPEG and PNG, whatever the file name says; other files (GIF, BMP, "
                         "WebP, TIFF, ...) are reported as bad")(
             "src", po::value<std::string>(),
             "source folder (fashion-mnist default: /usr/share/datasets/fashion-mnist)")(
             "out", po::value<std::string>()->required(),
             "output dataset store (.h5); bad inputs are listed in OUT.report.tsv")(
             "shard-size", po::value<std::int64_t>()->default_value(d.images_per_shard),
             "images per shard (a shard is read with one large read)")(
             "shorter-side", po::value<int>()->default_value(d.shorter_side),
             "imagenet/folder: shrink images so the shorter side is at most this (0 keeps "
             "the size)")(
             "encoding", po::value<std::string>()->default_value("auto"),
             concat("imagenet/folder: how images are stored: jpeg (re-encoded at --quality), "
                    "raw (decoded RGB pixels; every image must be stored at one size, after "
                    "--shorter-side), or auto: raw when every image is stored at one size of at "
                    "most ",
                    kAutoRawMaxSide, " px a side (CIFAR, Tiny ImageNet), else jpeg")
                 .c_str())(
             "quality", po::value<int>()->default_value(d.quality),
             "imagenet/folder: JPEG quality of the stored images (--encoding jpeg: all are "
             "re-encoded)")("threads", po::value<int>()->default_value(d.threads),
                            "imagenet/folder: decode/resize/encode threads (0: one per core)")(
             "max-bad-fraction",
             po::value<double>()->default_value(d.max_bad_fraction, shortest(d.max_bad_fraction)),
             "imagenet/folder: fail when more than this fraction of the inputs is bad "
             "(unreadable, truncated, empty, not JPEG or PNG, unlabelled, empty class folder)")(
             "val-fraction",
             po::value<double>()->default_value(d.val_fraction, shortest(d.val_fraction)),
             "folder without train/: hold out this fraction of each class as "
             "split val (chosen by a hash of the file name)")(
             "val-folder", po::value<std::string>(),
             "folder with train/ and both val/ and test/: the one stored as split val (val "
             "or test; default: whichever exists)")(
             "val-labels", po::value<std::string>(),
             "imagenet: LOC_val_solution.csv for a flat val/ (default: looked up in --src "
             "and up to three folders above)")(
             "synset-mapping", po::value<std::string>(),
             "imagenet: LOC_synset_mapping.txt (default: looked up like --val-labels; "
             "without it the classes are the sorted train/ folder names)")(
             "classes", po::value<std::string>()->default_value(d.classes),
             "keep only these classes, relabelled 0..k-1 in the order given: class numbers "
             "of the whole dataset, comma-separated, with ranges (0,2,4,6,8 or 5-9); the "
             "selection is recorded in the store and its fingerprint (a class split for "
             "transfer)")(
             "hold-out", po::value<std::int64_t>()->default_value(0),
             "fashion-mnist: the last N training images form split 'holdout' instead of "
             "'train', a validation split for choosing a recipe (train on 'train', evaluate "
             "on it with --data.val-split holdout), so that 'val' (the test set) serves only "
             "the reported numbers; recorded in the fingerprint")(
             "quiet", "imagenet/folder: no progress line on stderr");
         p.add("kind", 1);
       },
       [](Options& o) { return [s = prepare_settings(o)] { return prepare(s); }; }},
  };
}

}  // namespace tleg

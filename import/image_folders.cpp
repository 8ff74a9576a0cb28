// The ImageNet and class-folder importers: they scan the source layout into an ImportPlan
// (sorted, so the store does not depend on the order the file system lists files in) and hand
// it to the pipeline in image_pipeline.cpp.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/checksum.h"
#include "import/image_pipeline.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;

// Paths joined onto the source folder as the user typed it, so reports show familiar paths.
std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

bool hidden(const fs::path& path) { return path.filename().string().starts_with('.'); }

std::vector<std::string> sorted_subfolders(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && !hidden(entry.path()))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Every visible regular file under `dir` (class folders may nest), as paths relative to it,
// sorted bytewise. Anything here is meant to be an image; what is not is reported, not skipped.
std::vector<std::string> sorted_files(const std::string& dir, bool recursive) {
  std::vector<std::string> names;
  auto add = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file() && !hidden(entry.path()))
      names.push_back(entry.path().lexically_relative(dir).string());
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
      if (it->is_directory() && hidden(it->path())) it.disable_recursion_pending();
      add(*it);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir)) add(entry);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Adds the images of one class folder to a split; an empty folder is a bad input, since it
// usually means a failed copy or download.
void add_class_folder(const std::string& split, const std::string& folder, std::int32_t label,
                      std::vector<ImageSource>& images, std::vector<BadInput>& bad) {
  const auto files = sorted_files(folder, /*recursive=*/true);
  if (files.empty()) bad.push_back({split, folder, "empty class folder (no images)"});
  for (const auto& file : files) images.push_back({join(folder, file), label});
}

// Class folders of one split, labelled by `labels`; folders of unknown classes are bad.
std::vector<ImageSource> scan_class_folders(const std::string& split, const std::string& dir,
                                            const std::map<std::string, std::int32_t>& labels,
                                            const std::string& unknown_reason, bool missing_is_bad,
                                            std::vector<BadInput>& bad) {
  std::vector<ImageSource> images;
  const auto folders = sorted_subfolders(dir);
  for (const auto& folder : folders) {
    const auto label = labels.find(folder);
    if (label != labels.end()) {
      add_class_folder(split, join(dir, folder), label->second, images, bad);
      continue;
    }
    const auto files = sorted_files(join(dir, folder), true);
    if (files.empty()) bad.push_back({split, join(dir, folder), unknown_reason});
    for (const auto& file : files)
      bad.push_back({split, join(join(dir, folder), file), unknown_reason});
  }
  if (missing_is_bad) {
    std::set<std::string> present(folders.begin(), folders.end());
    std::vector<std::pair<std::int32_t, std::string>> missing;
    for (const auto& [name, label] : labels)
      if (!present.count(name)) missing.emplace_back(label, name);
    std::sort(missing.begin(), missing.end());
    for (const auto& [label, name] : missing)
      bad.push_back({split, join(dir, name), "missing class folder"});
  }
  // Loose files beside class folders have no class.
  for (const auto& file : sorted_files(dir, false))
    bad.push_back({split, join(dir, file), "not inside a class folder"});
  return images;
}

void require_folder(const std::string& dir, const std::string& what_and_fix) {
  if (!fs::is_directory(dir)) fail(dir, ": no such folder (", what_and_fix, ")");
}

// A LOC_* file: the one given, else in the source folder or up to three levels above it (the
// Kaggle download keeps them beside ILSVRC/, and the images in ILSVRC/Data/CLS-LOC).
std::string find_loc_file(const std::string& given, const std::string& source_dir,
                          const std::string& name) {
  if (!given.empty()) {
    if (!fs::is_regular_file(given)) fail(given, ": no such file");
    return given;
  }
  fs::path dir = source_dir;
  for (int level = 0; level < 4; ++level, dir /= "..")
    if (fs::is_regular_file(dir / name)) return (dir / name).lexically_normal().string();
  return "";
}

struct Synsets {
  std::vector<std::string> ids, names;
};

// "n01440764 tench, Tinca tinca": the wnid, then the names (kept whole: the first names are
// not unique, e.g. two classes are called "crane").
Synsets read_synset_mapping(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read the synset mapping");
  Synsets synsets;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto space = line.find(' ');
    const std::string id = line.substr(0, space);
    if (id.empty() || std::find(synsets.ids.begin(), synsets.ids.end(), id) != synsets.ids.end())
      fail(path, ":", number, ": expected \"wnid name, other names\" with a new wnid, got \"", line,
           "\"");
    synsets.ids.push_back(id);
    synsets.names.push_back(space == std::string::npos ? id : line.substr(space + 1));
  }
  if (synsets.ids.empty()) fail(path, ": no classes in the synset mapping");
  return synsets;
}

// LOC_val_solution.csv: "ImageId,PredictionString" rows such as
// "ILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295"; the label is
// the first wnid (every box of an image has the same class).
std::map<std::string, std::string> read_val_solution(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read the validation labels");
  std::map<std::string, std::string> labels;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (number == 1 && line.starts_with("ImageId"))) continue;
    const auto comma = line.find(',');
    const auto end = comma == std::string::npos ? comma : line.find(' ', comma + 1);
    if (comma == std::string::npos || comma == 0 || comma + 1 >= line.size())
      fail(path, ":", number, ": expected \"ImageId,wnid ...\", got \"", line, "\"");
    labels[line.substr(0, comma)] =
        line.substr(comma + 1, end == std::string::npos ? end : end - comma - 1);
  }
  return labels;
}

std::string stem(const std::string& file) { return fs::path(file).stem().string(); }

std::vector<ImageSource> scan_flat_val(const std::string& val_dir, const std::string& csv,
                                       const std::map<std::string, std::int32_t>& labels,
                                       std::vector<BadInput>& bad) {
  const auto solution = read_val_solution(csv);
  std::vector<ImageSource> images;
  std::set<std::string> seen;
  for (const auto& file : sorted_files(val_dir, false)) {
    const std::string path = join(val_dir, file);
    const auto entry = solution.find(stem(file));
    if (entry == solution.end()) {
      bad.push_back({"val", path, "no label in " + csv});
      continue;
    }
    seen.insert(entry->first);
    const auto label = labels.find(entry->second);
    if (label == labels.end())
      bad.push_back({"val", path, "label " + entry->second + " is not one of the classes"});
    else
      images.push_back({path, label->second});
  }
  for (const auto& [id, wnid] : solution)
    if (!seen.count(id))
      bad.push_back({"val", join(val_dir, id + ".JPEG"), "listed in " + csv + " but missing"});
  return images;
}

std::map<std::string, std::int32_t> label_map(const std::vector<std::string>& ids) {
  std::map<std::string, std::int32_t> labels;
  for (std::size_t i = 0; i < ids.size(); ++i) labels[ids[i]] = static_cast<std::int32_t>(i);
  return labels;
}

// The folder of the held-out split, stored as split "val" whatever its name (the split training
// evaluates by default): DIR/val/ or DIR/test/ (CIFAR and most small sets ship train/ and
// test/); with both, `chosen` (--val-folder) says which. "": neither.
std::string held_out_folder(const std::string& source_dir, const std::string& chosen) {
  if (!chosen.empty()) {
    if (chosen != "val" && chosen != "test")
      fail("--val-folder '", chosen, "': expected val or test (the folder of ", source_dir,
           " stored as split val)");
    require_folder(join(source_dir, chosen), "--val-folder " + chosen + " names it");
    return chosen;
  }
  const bool val = fs::is_directory(join(source_dir, "val"));
  const bool test = fs::is_directory(join(source_dir, "test"));
  if (val && test)
    fail(source_dir, " has both ", join(source_dir, "val"), " and ", join(source_dir, "test"),
         ": pass --val-folder val or --val-folder test to say which one is stored as split val "
         "(the other is not imported)");
  return val ? "val" : test ? "test" : "";
}

std::string folder_name(const std::string& dir) {
  const fs::path path = fs::absolute(dir).lexically_normal();
  const std::string name = path.filename().string();
  return name.empty() ? path.parent_path().filename().string() : name;
}

}  // namespace

ImportSummary prepare_imagenet(const std::string& source_dir, const std::string& out,
                               const ImageImportOptions& options) {
  const std::string fix =
      "pass --src the ImageNet folder holding train/<wnid>/ and val/, "
      "e.g. ILSVRC/Data/CLS-LOC of the Kaggle download";
  require_folder(source_dir, fix);
  const std::string train_dir = join(source_dir, "train");
  require_folder(train_dir, fix);
  if (options.val_fraction > 0)
    fail("--val-fraction is for folder imports; ImageNet has its own val/");

  ImportPlan plan;
  plan.info.name = "imagenet";
  plan.info.source = source_dir;
  const std::string mapping =
      find_loc_file(options.synset_mapping, source_dir, "LOC_synset_mapping.txt");
  Synsets synsets;
  if (!mapping.empty()) {
    synsets = read_synset_mapping(mapping);
  } else {  // sorted wnids are the standard ImageNet class order too
    synsets.ids = sorted_subfolders(train_dir);
    synsets.names = synsets.ids;
    if (synsets.ids.empty()) fail(train_dir, ": no class folders (", fix, ")");
  }
  if (synsets.ids.size() == 1000) plan.info.name = "imagenet-1k";
  plan.info.class_names = synsets.names;
  const auto labels = label_map(synsets.ids);
  const std::string unknown =
      mapping.empty() ? "class folder not in train/" : "class folder not in " + mapping;

  plan.splits.emplace_back("train",
                           scan_class_folders("train", train_dir, labels, unknown, true, plan.bad));

  const std::string val_dir = join(source_dir, "val");
  if (fs::is_directory(val_dir)) {
    if (!sorted_subfolders(val_dir).empty()) {
      plan.splits.emplace_back("val",
                               scan_class_folders("val", val_dir, labels, unknown, true, plan.bad));
    } else {
      const std::string csv = find_loc_file(options.val_labels, source_dir, "LOC_val_solution.csv");
      if (csv.empty())
        fail(val_dir,
             " holds images without class folders, and no LOC_val_solution.csv was found in ",
             source_dir,
             " or above it: pass --val-labels LOC_val_solution.csv (from the Kaggle "
             "ImageNet download), or sort val/ into val/<wnid>/ folders");
      plan.splits.emplace_back("val", scan_flat_val(val_dir, csv, labels, plan.bad));
    }
  }
  return run_image_import(plan, out, options);
}

ImportSummary prepare_folder(const std::string& source_dir, const std::string& out,
                             const ImageImportOptions& options) {
  const std::string fix =
      "pass --src a folder of class folders, DIR/<class>/*.jpg, or with "
      "DIR/train/<class>/ and DIR/val/<class>/ or DIR/test/<class>/";
  require_folder(source_dir, fix);
  if (!(options.val_fraction >= 0 && options.val_fraction < 1))
    fail("the validation fraction must be in [0, 1), got ", options.val_fraction);
  ImportPlan plan;
  plan.info.name = folder_name(source_dir);
  plan.info.source = source_dir;
  const std::string train_dir = join(source_dir, "train");
  const bool has_splits = fs::is_directory(train_dir);
  const std::string classes_dir = has_splits ? train_dir : source_dir;
  plan.info.class_names = sorted_subfolders(classes_dir);
  if (plan.info.class_names.empty()) fail(classes_dir, ": no class folders (", fix, ")");
  const auto labels = label_map(plan.info.class_names);

  if (has_splits && options.val_fraction > 0)
    fail(source_dir,
         " has a train/ folder: --val-fraction only splits a folder of class folders without it");
  if (!has_splits && !options.val_folder.empty())
    fail("--val-folder ", options.val_folder, ": ", source_dir,
         " has no train/ folder, so no held-out split to choose");
  if (has_splits) {
    const std::string unknown = "class folder not in " + train_dir;
    plan.splits.emplace_back(
        "train", scan_class_folders("train", train_dir, labels, unknown, false, plan.bad));
    if (const std::string held_out = held_out_folder(source_dir, options.val_folder);
        !held_out.empty())
      plan.splits.emplace_back("val", scan_class_folders("val", join(source_dir, held_out), labels,
                                                         unknown, false, plan.bad));
    return run_image_import(plan, out, options);
  }

  std::vector<ImageSource> images;
  for (const auto& name : plan.info.class_names)
    add_class_folder("train", join(source_dir, name), labels.at(name), images, plan.bad);
  if (options.val_fraction == 0) {
    plan.splits.emplace_back("train", std::move(images));
    return run_image_import(plan, out, options);
  }
  // Hold out the same fraction of every class, chosen by a hash of the file name: the choice
  // is deterministic and an image keeps its split when other files are added.
  std::vector<ImageSource> train, val;
  for (std::size_t begin = 0; begin < images.size();) {
    std::size_t end = begin;
    while (end < images.size() && images[end].label == images[begin].label) ++end;
    std::vector<std::pair<std::uint32_t, std::size_t>> ranked;
    for (std::size_t i = begin; i < end; ++i) {
      Crc32 hash;
      hash.update(fs::path(images[i].path).lexically_relative(source_dir).string());
      ranked.emplace_back(hash.value(), i);
    }
    std::sort(ranked.begin(), ranked.end());
    const auto held_out =
        static_cast<std::size_t>(std::lround(options.val_fraction * (end - begin)));
    std::vector<bool> is_val(end - begin, false);
    for (std::size_t k = 0; k < held_out; ++k) is_val[ranked[k].second - begin] = true;
    for (std::size_t i = begin; i < end; ++i)
      (is_val[i - begin] ? val : train).push_back(images[i]);
    begin = end;
  }
  plan.splits.emplace_back("train", std::move(train));
  plan.splits.emplace_back("val", std::move(val));
  return run_image_import(plan, out, options);
}

}  // namespace tleg

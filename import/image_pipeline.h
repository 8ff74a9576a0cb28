// The part of the image importers (ImageNet, class folders) that does not depend on the layout:
// worker threads decode, resize and re-encode images while the calling thread writes them to
// the store in a fixed order, and bad inputs go to a report instead of stopping the import.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "data/dataset_store.h"
#include "import/importers.h"

namespace tleg {

struct ImageSource {
  std::string path;  // as the user's --src spelled it, joined with the relative path
  std::int32_t label = 0;
};

struct BadInput {
  std::string split, path, reason;
};

// What a layout scan found: the store's description, the images of each split in the order
// they are written, and the problems found while listing (empty class folders, unlabelled
// validation images), which count as bad inputs like unreadable images do.
struct ImportPlan {
  DatasetInfo info;
  std::vector<std::pair<std::string, std::vector<ImageSource>>> splits;
  std::vector<BadInput> bad;
};

// Thrown by recompress_image for input that is not a usable image: the import reports it and
// goes on. Anything else thrown while importing is a real error and ends the import.
class BadImage : public Error {
 public:
  using Error::Error;
};

// A JPEG or PNG file's bytes (the formats a real ImageNet tree holds, whatever the file name
// says), decoded strictly, shrunk so that its shorter side is at most `shorter_side` (0: keep
// the size) and encoded as JPEG at `quality`.
std::vector<std::uint8_t> recompress_image(const std::vector<std::uint8_t>& file, int shorter_side,
                                           int quality);

// The size an image of width x height is stored at.
std::pair<int, int> stored_size(int width, int height, int shorter_side);

// Writes the plan's images to `out` (through out.partial) and the bad inputs to
// report_path(out); throws when the bad fraction exceeds options.max_bad_fraction.
ImportSummary run_image_import(const ImportPlan& plan, const std::string& out,
                               const ImageImportOptions& options);

}  // namespace tleg

// The teacher-logits store (format in data/FORMAT.md): for K stored augmentation views of every
// image of a split, the view's parameters and the teacher's top-k logits (fp16), one HDF5 file
// per dataset shard plus an index, tagged with what they belong to (dataset fingerprint, split,
// recipe, seed, teacher). Training renders the stored view and distils from its stored logits
// instead of running the teacher (the FKD approach). No torch here; not thread-safe (HDF5).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/hdf5_file.h"
#include "data/view.h"

namespace tleg {

inline constexpr std::int64_t kTeacherLogitsFormatVersion = 1;

// What a store was made from; a training run must agree on all but `teacher`.
struct TeacherLogitsTags {
  std::string fingerprint;  // of the dataset store
  std::string split;
  std::int64_t views = 0;    // K stored views per image
  std::int64_t classes = 0;  // the teacher's (and the dataset's) class count
  std::int64_t topk = 0;     // logits kept per view; 0: all classes
  std::int64_t repeats = 1;  // the training run's repeated augmentation (maps views, see below)
  std::uint64_t seed = 0;    // the training run's run.seed
  std::string recipe;        // describe_recipe() of the training view recipe
  std::string teacher;       // Teacher::identity()
};

// Every field of a recipe as "key=value" words; equal text means equal rendering.
std::string describe_recipe(const ViewRecipe& recipe);

// Which stored view training uses for copy `copy` (repeated augmentation) of a sample in `epoch`:
// (epoch * repeats + copy) mod views. Stored view v is the view live training draws at epoch
// v / repeats, copy v % repeats, so with views >= epochs * repeats every training view is the one
// a live-teacher run would see; fewer views are reused cyclically.
std::uint64_t stored_view_index(std::uint64_t epoch, std::uint64_t copy, std::int64_t repeats,
                                std::int64_t views);
ViewParams draw_stored_view(const ViewRecipe& recipe, int source_width, int source_height,
                            std::uint64_t seed, std::int64_t repeats, std::uint64_t view,
                            std::uint64_t sample);

// ViewParams as a fixed-size little-endian record of view_record_bytes(augment slots) bytes.
std::size_t view_record_bytes(int augment_slots);
void encode_view(const ViewParams& params, int augment_slots, std::uint8_t* out);
ViewParams decode_view(const std::uint8_t* record, int augment_slots);

float half_to_float(std::uint16_t bits);

// The full logit vector from stored top-k: stored classes get their logit; every other class gets
// the same logit, chosen so that the teacher's probability mass outside the top k (known from
// the stored log-sum-exp) is spread evenly over them (FKD's marginal smoothing, exact at tau = 1).
// When the top k hold all the mass (rounding), the others get -infinity (probability 0).
// `indices` is empty when all classes are stored (in class order).
void reconstruct_logits(const std::uint16_t* values, const std::int32_t* indices,
                        std::int64_t stored, float log_sum_exp, std::int64_t classes, float* out);

// Writes one shard file: PATH.partial, renamed by finish() (an interrupted run leaves no file
// that looks complete). Views are appended in (sample, view) order.
class TeacherLogitsShardWriter {
 public:
  TeacherLogitsShardWriter(std::string path, const TeacherLogitsTags& tags, int augment_slots,
                           std::int64_t shard, std::uint64_t first_sample, std::uint64_t samples);
  ~TeacherLogitsShardWriter();  // without finish(): removes the partial file
  // `views` records; values [views * stored], indices [views * stored] (empty when topk = 0),
  // log_sum_exp [views].
  void append(const std::vector<ViewParams>& params, const std::vector<std::uint16_t>& values,
              const std::vector<std::int32_t>& indices, const std::vector<float>& log_sum_exp);
  void finish();

 private:
  std::string path_, partial_;
  TeacherLogitsTags tags_;
  int augment_slots_;
  std::uint64_t expected_views_, written_views_ = 0;
  bool narrow_indices_;
  std::unique_ptr<h5::File> file_;
  bool finished_ = false;
};

// Writes DIR/index.h5 last, when every shard is in place: its presence marks a complete store.
void write_teacher_logits_index(const std::string& dir, const TeacherLogitsTags& tags,
                                int augment_slots, const std::vector<std::uint64_t>& shard_starts);
std::string teacher_logits_shard_path(const std::string& dir, std::int64_t shard);
// Whether a finished shard file with these tags and bounds is already there (a re-run skips it).
bool teacher_logits_shard_complete(const std::string& path, const TeacherLogitsTags& tags,
                                   std::int64_t shard, std::uint64_t first_sample,
                                   std::uint64_t samples);

struct StoredView {
  ViewParams params;
  std::vector<float> logits;  // [classes], reconstructed
};

// Opens a store directory: the index and every shard file, checked against each other.
class TeacherLogitsStore {
 public:
  explicit TeacherLogitsStore(const std::string& dir);
  ~TeacherLogitsStore();

  const std::string& path() const { return dir_; }
  const TeacherLogitsTags& tags() const { return tags_; }
  // Fails, naming what differs and how to regenerate, unless the store was made for this
  // dataset (fingerprint, split, classes), this view recipe and seed, and `views` (0: any).
  // `dataset` is the store path as the user typed it, for the message.
  void check(const std::string& dataset, const TeacherLogitsTags& expected) const;
  // Stored view `view` of `sample` (an index into the split): a few small reads.
  StoredView read(std::uint64_t sample, std::uint64_t view) const;

 private:
  struct Shard;
  std::string dir_;
  TeacherLogitsTags tags_;
  int augment_slots_ = 0;
  std::vector<std::uint64_t> shard_starts_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tleg

// The training/evaluation loader of one rank: one reader thread does every HDF5 read (large
// runs of contiguous samples, or the whole split once when it is small), a pool of threads
// decodes and augments, and a bounded queue hands out ready batches in step order. Batch
// content is a function of (seed, epoch, step, rank) only: thread count and timing never change
// it, and a run resumed at (epoch, step) sees the batches it would have seen.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset_store.h"
#include "data/sampler.h"
#include "data/view.h"

namespace tleg {

struct LoaderOptions {
  std::string path;  // the dataset store, as the user typed it
  std::string split = "train";
  std::int64_t batch_size = 128;  // per rank
  std::int64_t ranks = 1, rank = 0;
  SamplerOptions sampler;  // its seed also keys the views
  bool train = true;       // random training views; false: the evaluation view
  ViewRecipe recipe;
  int threads = 2;              // decode/augment threads
  int prefetch_batches = 4;     // batches read and in work ahead of the consumer
  bool drop_last_batch = true;  // a short final batch: dropped (training) or kept (evaluation)
  // A split whose image bytes fit in this is read whole, once, and kept in memory.
  std::uint64_t in_memory_bytes = std::uint64_t{1} << 30;
  // Otherwise samples needed by the next prefetch_batches batches are read sorted, and two
  // neighbours share one read when the bytes between them are at most this.
  std::uint64_t read_gap_bytes = std::uint64_t{1} << 20;
  // Where batches go: a CUDA device makes the loader fill pinned host memory and copy with
  // non_blocking (when the build and the machine have CUDA).
  c10::Device device = c10::kCPU;
  // A teacher-logits store (tleg logits; training only): each sample's view is the stored view
  // that stored_view_index picks for its epoch and copy, rendered from the stored parameters,
  // and the batch carries that view's stored logits. Empty: views are drawn, no logits.
  std::string teacher_logits;
  std::int64_t teacher_logits_views = 0;  // the view count the store must hold (0: any)
};

struct Batch {
  std::uint64_t epoch = 0, step = 0;
  at::Tensor images;   // [B, C, H, W] float32, normalised
  at::Tensor labels;   // [B] int64
  at::Tensor samples;  // [B] int64, indices into the split
  std::vector<ViewParams> views;
  at::Tensor teacher_logits;  // [B, classes] float32 on the CPU, with LoaderOptions::teacher_logits
};

class Loader {
 public:
  explicit Loader(LoaderOptions options);
  ~Loader();  // stops and joins every thread
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const DatasetInfo& info() const;
  bool has_teacher_logits() const;
  // What the teacher-logits store says its teacher was (empty without a store).
  std::string teacher_logits_identity() const;
  std::uint64_t steps_per_epoch() const;
  std::int64_t batch_size() const;  // per rank
  // Starts `epoch` at `first_step` (0, or the step to resume at); abandons an epoch in progress.
  void start_epoch(std::uint64_t epoch, std::uint64_t first_step = 0);
  // The next batch, or nullopt after the epoch's last; rethrows a reader or worker error
  // (naming the file and the sample) when the batch it belongs to is due.
  std::optional<Batch> next();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tleg

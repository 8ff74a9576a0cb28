#include "data/loader.h"

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "data/teacher_logits.h"

namespace tleg {
namespace {

// The encoded bytes of one sample; the run keeps its buffer alive.
struct SampleBytes {
  std::shared_ptr<const ImageRun> run;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// One batch on its way: the reader fills the bytes, workers render samples into `batch`.
struct BatchWork {
  std::uint64_t step = 0;
  std::vector<std::uint64_t> samples, views;
  std::vector<SampleBytes> bytes;
  Batch batch;
  std::int64_t next_sample = 0, done_samples = 0;  // guarded by the loader's mutex
  std::string error;                               // the first failure, guarded likewise
};

bool use_pinned_memory(const c10::Device& device) {
#ifdef TLEG_HAVE_CUDA
  return device.is_cuda() && at::hasCUDA();
#else
  (void)device;
  return false;
#endif
}

}  // namespace

struct Loader::State {
  LoaderOptions options;
  DatasetReader reader;  // touched only by the reader thread while an epoch runs
  SplitIndex index;      // a copy, so that workers never call into the reader
  std::unique_ptr<TeacherLogitsStore> logits;  // reader thread only, like `reader`
  DistributedSampler sampler;
  bool pinned = false;
  // The whole split, read once, when it is small enough: one run per shard.
  std::vector<std::shared_ptr<const ImageRun>> resident_shards;

  std::mutex mutex;
  std::condition_variable work_available, batch_ready, capacity_available;
  bool stopping = false;
  std::deque<std::shared_ptr<BatchWork>> work_queue;
  std::map<std::uint64_t, std::shared_ptr<BatchWork>> ready;
  std::uint64_t epoch = 0, next_step = 0, steps = 0, in_flight = 0;
  std::optional<std::uint64_t> reader_failed_at;
  std::string reader_error;
  std::thread reader_thread;
  std::vector<std::thread> workers;
  // Image buffers handed out before, reused once the consumer has dropped every reference: a
  // fresh 38 MB tensor per batch of 64 cost page faults worth ~30% of the loader's CPU time.
  // Reader thread only. Pinned buffers are not reused here: an asynchronous copy may still be
  // reading one, and the CUDA host allocator already caches them safely.
  std::vector<at::Tensor> image_buffers;

  explicit State(LoaderOptions opts)
      : options(std::move(opts)),
        reader(options.path),
        index(reader.index(options.split)),
        sampler(index.size(), options.ranks, options.rank, options.sampler),
        pinned(use_pinned_memory(options.device)) {
    // Once per run (rank 0's training loader), not by every rank and reader of the store.
    if (!reader.has_checksums() && options.train && options.rank == 0)
      std::cerr << "warning: " << options.path
                << " has no image checksums (written by an earlier tleg prepare): its images are "
                   "read unverified; re-run tleg prepare to add them\n";
    if (options.teacher_logits.empty()) return;
    if (!options.train) fail("loader: teacher logits are for training views, not evaluation");
    logits = std::make_unique<TeacherLogitsStore>(options.teacher_logits);
    TeacherLogitsTags expected;
    expected.fingerprint = reader.fingerprint();
    expected.split = options.split;
    expected.views = options.teacher_logits_views;
    expected.classes = static_cast<std::int64_t>(reader.info().class_names.size());
    expected.repeats = options.sampler.repeats;
    expected.seed = options.sampler.seed;
    expected.recipe = describe_recipe(options.recipe);
    logits->check(options.path, expected);
  }

  std::string where(std::uint64_t sample) const {
    return concat(options.path, ", split '", options.split, "', sample ", sample, " (shard ",
                  index.shard_of(sample), ")");
  }

  std::uint64_t batch_size_at(std::uint64_t step) const {
    const auto b = static_cast<std::uint64_t>(options.batch_size);
    return std::min(b, sampler.per_rank() - step * b);
  }

  // Reader side -------------------------------------------------------------------------

  void load_resident() {
    // All or nothing: after a failed read (a damaged image), the next epoch tries again rather
    // than finding some shards resident and looking up the others out of bounds.
    std::vector<std::shared_ptr<const ImageRun>> shards;
    for (std::size_t s = 0; s < index.shards(); ++s) {
      const std::uint64_t first = index.shard_starts[s], last = index.shard_starts[s + 1];
      shards.push_back(
          std::make_shared<const ImageRun>(reader.read_run(options.split, first, last - first)));
    }
    resident_shards = std::move(shards);
  }

  SampleBytes resident_bytes(std::uint64_t sample) const {
    const auto& run = resident_shards[index.shard_of(sample)];
    return {run, run->image(sample), static_cast<std::size_t>(run->length(sample))};
  }

  // Reads what the given samples need, sorted, merging neighbours of one shard whose gap is
  // small into a single read.
  std::map<std::uint64_t, SampleBytes> read_samples(std::vector<std::uint64_t> wanted) {
    std::map<std::uint64_t, SampleBytes> result;
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::size_t begin = 0;
    while (begin < wanted.size()) {
      std::size_t end = begin + 1;
      while (end < wanted.size()) {
        const std::uint64_t previous = wanted[end - 1], sample = wanted[end];
        const std::uint64_t gap =
            index.offsets[sample] - (index.offsets[previous] + index.lengths[previous]);
        if (index.shard_of(sample) != index.shard_of(previous) || gap > options.read_gap_bytes)
          break;
        ++end;
      }
      const std::uint64_t first = wanted[begin], last = wanted[end - 1];
      auto run =
          std::make_shared<const ImageRun>(reader.read_run(options.split, first, last - first + 1));
      for (std::size_t i = begin; i < end; ++i)
        result[wanted[i]] = {run, run->image(wanted[i]),
                             static_cast<std::size_t>(run->length(wanted[i]))};
      begin = end;
    }
    return result;
  }

  at::Tensor image_buffer(at::IntArrayRef shape) {
    const auto tensor_options = at::TensorOptions().dtype(at::kFloat).pinned_memory(pinned);
    if (pinned) return at::empty(shape, tensor_options);
    for (const at::Tensor& buffer : image_buffers)
      if (buffer.use_count() == 1 && buffer.storage().use_count() == 1 && buffer.sizes() == shape)
        return buffer;
    at::Tensor fresh = at::empty(shape, tensor_options);
    if (image_buffers.size() < static_cast<std::size_t>(options.prefetch_batches + 4))
      image_buffers.push_back(fresh);
    return fresh;
  }

  std::shared_ptr<BatchWork> make_work(std::uint64_t step, const std::vector<std::uint64_t>& order,
                                       std::uint64_t epoch_number) {
    auto work = std::make_shared<BatchWork>();
    work->step = step;
    const std::uint64_t size = batch_size_at(step);
    const auto first = step * static_cast<std::uint64_t>(options.batch_size);
    const auto ranks = static_cast<std::uint64_t>(options.ranks);
    const auto rank = static_cast<std::uint64_t>(options.rank);
    const auto repeats = static_cast<std::uint64_t>(options.sampler.repeats);
    for (std::uint64_t i = 0; i < size; ++i) {
      work->samples.push_back(order[first + i]);
      // With repeated augmentation the copies of a sample sit at consecutive global positions;
      // the copy number makes each copy a different view.
      work->views.push_back((rank + (first + i) * ranks) % repeats);
    }
    const ViewRecipe& recipe = options.recipe;
    const auto b = static_cast<std::int64_t>(size);
    Batch& batch = work->batch;
    batch.epoch = epoch_number;
    batch.step = step;
    batch.images = image_buffer({b, recipe.channels, recipe.output_height, recipe.output_width});
    batch.labels = at::empty({b}, at::kLong);
    batch.samples = at::empty({b}, at::kLong);
    for (std::int64_t i = 0; i < b; ++i) {
      const std::uint64_t sample = work->samples[static_cast<std::size_t>(i)];
      batch.labels.data_ptr<std::int64_t>()[i] = index.labels[sample];
      batch.samples.data_ptr<std::int64_t>()[i] = static_cast<std::int64_t>(sample);
    }
    batch.views.resize(size);
    if (logits) {
      // The stored view and its logits: read here, on the one thread that calls HDF5.
      const std::int64_t classes = logits->tags().classes;
      batch.teacher_logits = at::empty({b, classes}, at::kFloat);
      for (std::int64_t i = 0; i < b; ++i) {
        const auto slot = static_cast<std::size_t>(i);
        const std::uint64_t view = stored_view_index(epoch_number, work->views[slot],
                                                     options.sampler.repeats, logits->tags().views);
        StoredView stored = logits->read(work->samples[slot], view);
        std::copy(stored.logits.begin(), stored.logits.end(),
                  batch.teacher_logits.data_ptr<float>() + i * classes);
        batch.views[slot] = std::move(stored.params);
      }
    }
    return work;
  }

  void read_epoch(std::uint64_t epoch_number, std::uint64_t first_step, std::uint64_t last_step) {
    std::uint64_t step = first_step;
    try {
      if (resident_shards.empty() && index.blob_size <= options.in_memory_bytes) load_resident();
      const std::vector<std::uint64_t> order = sampler.epoch_indices(epoch_number);
      const auto window = static_cast<std::uint64_t>(std::max(1, options.prefetch_batches));
      while (step < last_step) {
        const std::uint64_t window_end = std::min(last_step, step + window);
        std::vector<std::shared_ptr<BatchWork>> works;
        std::vector<std::uint64_t> wanted;
        for (std::uint64_t s = step; s < window_end; ++s) {
          works.push_back(make_work(s, order, epoch_number));
          wanted.insert(wanted.end(), works.back()->samples.begin(), works.back()->samples.end());
        }
        std::map<std::uint64_t, SampleBytes> bytes;
        if (resident_shards.empty()) bytes = read_samples(wanted);
        for (auto& work : works) {
          for (const std::uint64_t sample : work->samples)
            work->bytes.push_back(resident_shards.empty() ? bytes.at(sample)
                                                          : resident_bytes(sample));
          std::unique_lock lock(mutex);
          capacity_available.wait(lock, [&] {
            return stopping || in_flight < static_cast<std::uint64_t>(options.prefetch_batches);
          });
          if (stopping) return;
          ++in_flight;
          work_queue.push_back(std::move(work));
          work_available.notify_all();
          ++step;
        }
      }
    } catch (const std::exception& error) {
      std::lock_guard lock(mutex);
      reader_failed_at = step;
      reader_error = concat(options.path, ", split '", options.split, "', reading step ", step,
                            " of epoch ", epoch_number, ": ", error.what());
      batch_ready.notify_all();
    }
  }

  // Worker side -------------------------------------------------------------------------

  void render_sample(BatchWork& work, std::int64_t i) {
    const auto slot = static_cast<std::size_t>(i);
    const std::uint64_t sample = work.samples[slot];
    const SampleBytes& bytes = work.bytes[slot];
    const DatasetInfo& info = reader.info();
    EncodedImage encoded{bytes.data,
                         bytes.size,
                         info.encoding == ImageEncoding::kJpeg,
                         static_cast<int>(info.height),
                         static_cast<int>(info.width),
                         static_cast<int>(info.channels)};
    const ViewRecipe& recipe = options.recipe;
    const JpegSize size = source_size(encoded);
    ViewParams params;
    if (logits) {
      params = std::move(work.batch.views[slot]);  // the stored view, read with its logits
      if (params.source_width != size.width || params.source_height != size.height)
        fail("the stored view is of a ", params.source_width, "x", params.source_height,
             " image but the image is ", size.width, "x", size.height, " (", options.teacher_logits,
             " belongs to another dataset; regenerate it with tleg logits)");
    } else {
      params = options.train ? draw_view(recipe, size.width, size.height, options.sampler.seed,
                                         work.batch.epoch, sample, work.views[slot])
                             : eval_view(recipe, size.width, size.height);
    }
    const Image view = render_view(encoded, params, recipe);
    const std::size_t floats =
        static_cast<std::size_t>(recipe.channels) * recipe.output_height * recipe.output_width;
    normalize_view(view, params, recipe, work.batch.images.data_ptr<float>() + slot * floats);
    work.batch.views[slot] = std::move(params);
  }

  void work_loop() {
    for (;;) {
      std::shared_ptr<BatchWork> work;
      std::int64_t sample = 0;
      {
        std::unique_lock lock(mutex);
        work_available.wait(lock, [&] { return stopping || !work_queue.empty(); });
        if (stopping) return;
        work = work_queue.front();
        sample = work->next_sample++;
        if (work->next_sample == static_cast<std::int64_t>(work->samples.size()))
          work_queue.pop_front();
      }
      std::string error;
      try {
        render_sample(*work, sample);
      } catch (const std::exception& failure) {
        error =
            concat(where(work->samples[static_cast<std::size_t>(sample)]), ": ", failure.what());
      }
      std::lock_guard lock(mutex);
      if (!error.empty() && work->error.empty()) work->error = std::move(error);
      if (++work->done_samples == static_cast<std::int64_t>(work->samples.size())) {
        ready[work->step] = work;
        batch_ready.notify_all();
      }
    }
  }

  // Control -----------------------------------------------------------------------------

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    work_available.notify_all();
    capacity_available.notify_all();
    batch_ready.notify_all();
    if (reader_thread.joinable()) reader_thread.join();
    for (auto& worker : workers) worker.join();
    workers.clear();
    work_queue.clear();
    ready.clear();
    in_flight = 0;
    reader_failed_at.reset();
    reader_error.clear();
    stopping = false;
  }
};

Loader::Loader(LoaderOptions options) {
  if (options.batch_size <= 0)
    fail("loader: batch size must be positive, got ", options.batch_size);
  if (options.threads <= 0) fail("loader: threads must be positive, got ", options.threads);
  if (options.prefetch_batches <= 0)
    fail("loader: prefetch_batches must be positive, got ", options.prefetch_batches);
  state_ = std::make_unique<State>(std::move(options));
  // The loader owns the parallelism: OpenCV's own pool inside every worker's resize would
  // oversubscribe the cores and make "N threads" mean something else.
  cv::setNumThreads(1);
}

Loader::~Loader() { state_->stop(); }

const DatasetInfo& Loader::info() const { return state_->reader.info(); }

bool Loader::has_teacher_logits() const { return state_->logits != nullptr; }

std::string Loader::teacher_logits_identity() const {
  return state_->logits ? state_->logits->tags().teacher : std::string();
}

std::int64_t Loader::batch_size() const { return state_->options.batch_size; }

std::uint64_t Loader::steps_per_epoch() const {
  const auto b = static_cast<std::uint64_t>(state_->options.batch_size);
  const std::uint64_t n = state_->sampler.per_rank();
  return state_->options.drop_last_batch ? n / b : (n + b - 1) / b;
}

void Loader::start_epoch(std::uint64_t epoch, std::uint64_t first_step) {
  State& s = *state_;
  s.stop();
  s.epoch = epoch;
  s.steps = steps_per_epoch();
  if (first_step > s.steps)
    fail("loader: cannot resume at step ", first_step, " of an epoch of ", s.steps, " steps");
  s.next_step = first_step;
  s.reader_thread =
      std::thread([&s, epoch, first_step] { s.read_epoch(epoch, first_step, s.steps); });
  for (int i = 0; i < s.options.threads; ++i) s.workers.emplace_back([&s] { s.work_loop(); });
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  std::shared_ptr<BatchWork> work;
  {
    std::unique_lock lock(s.mutex);
    if (s.next_step >= s.steps) return std::nullopt;
    s.batch_ready.wait(lock, [&] {
      return s.ready.count(s.next_step) > 0 ||
             (s.reader_failed_at && *s.reader_failed_at <= s.next_step);
    });
    const auto found = s.ready.find(s.next_step);
    if (found == s.ready.end()) throw Error(s.reader_error);
    work = std::move(found->second);
    s.ready.erase(found);
    ++s.next_step;
    --s.in_flight;
  }
  s.capacity_available.notify_all();
  if (!work->error.empty()) throw Error(work->error);
  Batch batch = std::move(work->batch);
  if (s.options.device != c10::Device(c10::kCPU)) {
    batch.images = batch.images.to(s.options.device, /*non_blocking=*/s.pinned);
    batch.labels = batch.labels.to(s.options.device, /*non_blocking=*/false);
  }
  return batch;
}

}  // namespace tleg

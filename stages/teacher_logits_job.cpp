#include "stages/teacher_logits_job.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "common/error.h"
#include "common/timing.h"
#include "data/dataset_store.h"
#include "data/teacher_logits.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "train/run_record.h"
#include "train/teacher.h"

namespace tleg {
namespace {

// One batch of rows (sample, view) in sample-major order, the order of the shard file: each
// view drawn from its stored key, rendered and normalised into `images`.
std::vector<ViewParams> render_rows(const ImageRun& run, const DatasetInfo& info,
                                    const ViewRecipe& recipe, const TeacherLogitsTags& tags,
                                    std::uint64_t first, std::uint64_t begin, at::Tensor& images) {
  const std::int64_t n = images.size(0);
  const std::int64_t floats =
      static_cast<std::int64_t>(recipe.channels) * recipe.output_height * recipe.output_width;
  const auto views = static_cast<std::uint64_t>(tags.views);
  std::vector<ViewParams> params(static_cast<std::size_t>(n));
  at::parallel_for(0, n, 1, [&](std::int64_t from, std::int64_t to) {
    for (std::int64_t j = from; j < to; ++j) {
      const std::uint64_t row = begin + static_cast<std::uint64_t>(j);
      const std::uint64_t sample = first + row / views;
      const EncodedImage encoded{run.image(sample),
                                 static_cast<std::size_t>(run.length(sample)),
                                 info.encoding == ImageEncoding::kJpeg,
                                 static_cast<int>(info.height),
                                 static_cast<int>(info.width),
                                 static_cast<int>(info.channels)};
      const JpegSize size = source_size(encoded);
      ViewParams& view = params[static_cast<std::size_t>(j)];
      view = draw_stored_view(recipe, size.width, size.height, tags.seed, tags.repeats, row % views,
                              sample);
      normalize_view(render_view(encoded, view, recipe), view, recipe,
                     images.data_ptr<float>() + j * floats);
    }
  });
  return params;
}

// The teacher's logits of one batch as the store keeps them: top-k (or all) values as IEEE half
// bits, their class indices, and each row's log-sum-exp over all classes.
void append_logits(const at::Tensor& logits, const TeacherLogitsTags& tags,
                   const std::vector<ViewParams>& params, TeacherLogitsShardWriter& writer) {
  const std::int64_t n = logits.size(0);
  const at::Tensor log_sum_exp = at::logsumexp(logits, 1).contiguous();
  at::Tensor kept = logits, indices;
  if (tags.topk > 0) {
    auto top = logits.topk(tags.topk, 1);
    kept = std::get<0>(top);
    indices = std::get<1>(top).to(at::kInt).contiguous();
  }
  const at::Tensor half = kept.to(at::kHalf).contiguous();
  std::vector<std::uint16_t> value_bits(static_cast<std::size_t>(half.numel()));
  std::memcpy(value_bits.data(), half.data_ptr(), value_bits.size() * sizeof(std::uint16_t));
  std::vector<std::int32_t> index_values;
  if (indices.defined())
    index_values.assign(indices.data_ptr<std::int32_t>(),
                        indices.data_ptr<std::int32_t>() + indices.numel());
  writer.append(
      params, value_bits, index_values,
      std::vector<float>(log_sum_exp.data_ptr<float>(), log_sum_exp.data_ptr<float>() + n));
}

// The time of the runs that wrote a store, summed over the runs (segments) of an interrupted and
// re-run job, as training sums its segments through checkpoints: rank 0 keeps DIR/elapsed.json
// up to date after each shard it writes, so a killed segment loses at most its current shard's
// time (whose work is redone and counted again). Kept only for the same store settings.
class LogitsElapsed {
 public:
  LogitsElapsed(std::string dir, std::string settings)
      : path_(std::move(dir) + "/elapsed.json"), settings_(std::move(settings)) {
    std::ifstream in(path_);
    if (!in) return;
    const nlohmann::json record = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (record.is_object() && record.value("settings", std::string()) == settings_) {
      before_ = record.value("elapsed_seconds", 0.0);
      segments_ = record.value("segments", std::int64_t{0}) + 1;
    }
  }
  double seconds() const { return before_ + seconds_since(started_); }
  std::int64_t segments() const { return segments_; }
  void save() const {
    const nlohmann::json record = {
        {"settings", settings_}, {"elapsed_seconds", seconds()}, {"segments", segments_}};
    {
      std::ofstream out(path_ + ".partial");
      out << record.dump(2) << "\n";
      if (!out) fail(path_, ": cannot write the elapsed time of tleg logits");
    }
    std::filesystem::rename(path_ + ".partial", path_);
  }

 private:
  std::string path_, settings_;
  const Clock::time_point started_ = Clock::now();
  double before_ = 0;
  std::int64_t segments_ = 1;
};

std::string describe_tags(const TeacherLogitsTags& t) {
  return concat(t.fingerprint, " ", t.split, " views=", t.views, " topk=", t.topk,
                " repeats=", t.repeats, " seed=", t.seed, " ", t.recipe, " ", t.teacher);
}

}  // namespace

void write_teacher_logits(const LogitsSettings& s, const StageContext& context) {
  if (s.views < 1) fail("--distill.views must be at least 1, got ", s.views);
  if (s.topk < 0) fail("--logits.topk must be 0 (all classes) or positive, got ", s.topk);
  if (s.batch < 1 || s.threads < 1) fail("--logits.batch and --run.threads must be positive");
  at::set_num_threads(static_cast<int>(s.threads));
  const DatasetReader dataset(s.data);
  const DatasetInfo& info = dataset.info();
  const SplitIndex& index = dataset.index(s.split);
  const ViewRecipe recipe = view_recipe(s.view, info.channels);
  const auto classes = static_cast<std::int64_t>(info.class_names.size());
  const Precision precision = run_precision(s.precision, context);
  const std::unique_ptr<Teacher> teacher = load_teacher(s.teacher, context.device, precision);
  check_teacher_fits(*teacher, s.teacher, info.channels, recipe.output_height, classes, s.data,
                     context.device);
  TeacherLogitsTags tags;
  tags.fingerprint = dataset.fingerprint();
  tags.split = s.split;
  tags.views = s.views;
  tags.classes = classes;
  tags.topk = s.topk >= classes ? 0 : s.topk;  // k >= classes keeps them all, without indices
  tags.repeats = s.view.repeats;
  if (tags.repeats < 1) fail("aug.repeats must be at least 1");
  tags.seed = static_cast<std::uint64_t>(s.seed);
  tags.recipe = describe_recipe(recipe);
  tags.teacher = teacher->identity();
  const int slots = recipe.rand_augment ? recipe.augment.ops : 0;
  std::filesystem::create_directories(s.out);

  const auto shards = static_cast<std::int64_t>(index.shards());
  ProgressLine progress(context.root(), 0);
  const Clock::time_point started = Clock::now();
  std::optional<LogitsElapsed> elapsed;
  if (context.root()) elapsed.emplace(s.out, describe_tags(tags));
  std::int64_t written = 0;
  for (std::int64_t shard = context.comm.rank(); shard < shards; shard += context.comm.size()) {
    const std::string path = teacher_logits_shard_path(s.out, shard);
    const std::uint64_t first = index.shard_starts[static_cast<std::size_t>(shard)];
    const std::uint64_t samples = index.shard_starts[static_cast<std::size_t>(shard) + 1] - first;
    if (teacher_logits_shard_complete(path, tags, shard, first, samples)) continue;
    const ImageRun run = dataset.read_run(s.split, first, samples);
    TeacherLogitsShardWriter writer(path, tags, slots, shard, first, samples);
    const std::uint64_t total = samples * static_cast<std::uint64_t>(s.views);
    for (std::uint64_t begin = 0; begin < total; begin += static_cast<std::uint64_t>(s.batch)) {
      const auto n = static_cast<std::int64_t>(
          std::min<std::uint64_t>(static_cast<std::uint64_t>(s.batch), total - begin));
      at::Tensor images =
          at::empty({n, recipe.channels, recipe.output_height, recipe.output_width});
      const std::vector<ViewParams> params =
          render_rows(run, info, recipe, tags, first, begin, images);
      const at::Tensor logits =
          teacher->logits(images.to(context.device)).to(at::kCPU, at::kFloat).contiguous();
      if (logits.dim() != 2 || logits.size(0) != n || logits.size(1) != classes)
        fail(s.teacher, ": the teacher gave logits of shape ", logits.sizes(), " for ", n,
             " images of a dataset with ", classes, " classes");
      append_logits(logits, tags, params, writer);
    }
    writer.finish();
    if (elapsed) elapsed->save();
    written += static_cast<std::int64_t>(total);
    progress.update("shard", shard + 1, shards,
                    static_cast<double>(written) / std::max(seconds_since(started), 1e-9),
                    "views of rank 0");
  }
  // Resumed shards leave ranks very different amounts of work: no deadline here.
  context.comm.wait_for_all();
  if (context.root()) {
    write_teacher_logits_index(s.out, tags, slots, index.shard_starts);
    // The teacher's share of stage 1, paid here once: the report adds it to the aux run's cost.
    RunLedger ledger;
    ledger.method = "teacher-logits";
    ledger.evaluated = false;  // it trains nothing
    ledger.init = teacher->identity();
    ledger.images = static_cast<std::int64_t>(index.size()) * s.views;
    ledger.flops = static_cast<double>(ledger.images) * teacher->forward_flops();
    // Every segment's time (an interrupted job re-run finishes the missing shards).
    elapsed->save();
    ledger.wall_seconds = elapsed->seconds();
    ledger.device_seconds = ledger.wall_seconds * context.comm.size();
    ledger.ranks = context.comm.size();
    ledger.device = context.device.is_cuda() ? "cuda" : "cpu";
    ledger.dataset = info.name;
    ledger.dataset_fingerprint = dataset.fingerprint();
    ledger.classes = classes;
    ledger.teacher_mode = "live";
    ledger.command = s.provenance.command();
    ledger.config = s.provenance.configs();
    ledger.placement = context.world.placement();  // every rank of the world ran this job
    ledger.extra = {{"teacher_flops_per_image", std::to_string(teacher->forward_flops())},
                    {"teacher_flops_source", teacher->flops_source()},
                    {"views", std::to_string(s.views)},
                    {"precision", precision_name(precision)},
                    {"split", s.split},
                    {"segments", std::to_string(elapsed->segments())},
                    {"segment_wall_seconds", std::to_string(seconds_since(started))}};
    write_run_ledger(ledger, s.out + "/run.json");
    std::cout << "logits: " << s.out << ": " << s.views << " view(s) of " << index.size()
              << " images (" << s.split << "), "
              << (tags.topk > 0 ? "top-" + std::to_string(tags.topk) : "all") << " of " << classes
              << " classes, from " << tags.teacher << "\n";
  }
}

}  // namespace tleg

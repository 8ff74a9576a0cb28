#include "stages/stage.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <fstream>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/format.h"
#include "data/dataset_store.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "expansion/learngene.h"
#include "expansion/methods.h"
#include "weights/model_io.h"
#include "weights/weights_file.h"
#include "model/cnn.h"
#include "model/vit.h"
#include "train/run_record.h"
#include "train/teacher.h"

namespace tleg {
namespace {

std::array<float, 3> channel_values(const std::vector<float>& values, std::int64_t channels,
                                    const char* name) {
  if (static_cast<std::int64_t>(values.size()) < channels)
    fail(name, " needs ", channels, " comma-separated values, got ", values.size());
  std::array<float, 3> out{};
  for (std::size_t i = 0; i < std::min<std::size_t>(3, values.size()); ++i) out[i] = values[i];
  return out;
}

LoaderOptions loader_options(const StageSettings& s, const StageContext& context,
                             std::int64_t channels, bool train) {
  LoaderOptions options;
  options.path = s.data.store;
  options.split = train ? s.data.train_split : s.data.val_split;
  options.batch_size = s.train.batch;
  options.ranks = context.comm.size();
  options.rank = context.comm.rank();
  options.sampler.seed = s.train.seed;
  options.sampler.shuffle = train;
  options.sampler.repeats = train ? s.view.repeats : 1;
  options.train = train;
  options.drop_last_batch = train;
  options.threads = static_cast<int>(s.data.threads);
  options.device = context.device;
  options.recipe = view_recipe(s.view, channels);
  if (train && !s.teacher.logits.empty()) {
    options.teacher_logits = s.teacher.logits;
    options.teacher_logits_views = s.teacher.views;
  }
  return options;
}

// What a stage run is: its label in run.json, how its model was initialised and what that keeps
// on disk.
struct RunLabel {
  std::string method, init;
  std::int64_t stored_parameters = 0;
  SourceDataset source;  // a transfer: the dataset the initialisation was trained on
  // Evaluate the model as initialised, before its first step (TLEG descendants: what the
  // expansion alone gives; recorded in run.json, and a check that the inheritance works).
  bool evaluate_initial = false;
  std::map<std::string, std::string> extra;  // added to run.json's extra fields
};

// Trains `model` (initialised) and writes its output and run.json. Returns whether it ran to the
// end (not stopped by run.stop-after-steps).
std::string channels_text(const std::vector<float>& values) {
  std::string text;
  for (const float v : values) text += (text.empty() ? "" : ",") + shortest(v);
  return text;
}

std::vector<float> channels_of(const std::string& text) {
  std::vector<float> values;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) values.push_back(std::stof(item));
  return values;
}

// The evaluation view and precision `e` asks for, where not given, as the model's file records
// its run evaluated it; says which it took.
std::pair<ViewSettings, PrecisionRequest> evaluation_as_trained(
    const EvaluateSettings& e, const std::map<std::string, std::string>& recorded, bool root) {
  ViewSettings view = e.view;
  PrecisionRequest precision = e.precision;
  std::string taken;
  // `option`: evaluate's option; the file records it as "eval." + `key`.
  const auto take = [&](const std::string& option, const std::string& key, const auto& apply) {
    const auto found = recorded.find("eval." + key);
    if (e.given.contains(option) || found == recorded.end()) return;
    apply(found->second);
    taken += concat(taken.empty() ? "" : ", ", option, "=", found->second);
  };
  take("data.mean", "data.mean", [&](const std::string& v) { view.mean = channels_of(v); });
  take("data.std", "data.std", [&](const std::string& v) { view.std = channels_of(v); });
  take("aug.eval-crop-fraction", "aug.eval-crop-fraction",
       [&](const std::string& v) { view.eval_crop_fraction = std::stod(v); });
  take("run.precision", "precision", [&](const std::string& v) { precision = parse_precision(v); });
  if (root && !taken.empty())
    std::cerr << "evaluate: as its run evaluated it (recorded in the file): " << taken
              << " (an option given here overrides)\n";
  const bool view_recorded = recorded.contains("eval.data.mean");
  if (root && !view_recorded && !e.given.contains("data.mean"))
    std::cerr << "warning: the model file does not record how its run evaluated it (a file of "
                 "an older tleg), so the built-in view is used (ImageNet's normalisation, a "
              << ViewRecipe{}.eval_crop_fraction
              << " crop); give its run's --data.mean, --data.std and --aug.eval-crop-fraction, "
                 "or its training INI files with --config, to get its run's number\n";
  return {view, precision};
}

// A run folder holds one run. A finished one (run.json) is not trained again: --resume says so
// and does nothing (so a resubmitted experiment skips it), without --resume it is refused; one
// with checkpoints is continued only with --resume, never overwritten.
bool finished_already(const TrainSettings& s, bool root) {
  const std::filesystem::path dir = s.run_dir;
  if (std::filesystem::exists(dir / "run.json")) {
    if (!s.resume)
      fail(s.run_dir, " holds a finished run (run.json): give another --run.dir, or remove the ",
           "folder to train it again");
    if (root) std::cerr << s.run_dir << ": finished already (run.json); nothing to do\n";
    return true;
  }
  const std::filesystem::path checkpoints = dir / "checkpoints";
  bool has_checkpoint = false;  // a written one (checkpoint-N.pt; not a .partial being written)
  if (std::filesystem::is_directory(checkpoints))
    for (const auto& entry : std::filesystem::directory_iterator(checkpoints)) {
      const std::string name = entry.path().filename().string();
      has_checkpoint |= name.starts_with("checkpoint-") && name.ends_with(".pt");
    }
  if (!s.resume && has_checkpoint)
    fail(s.run_dir, " holds checkpoints of an unfinished run: continue it with --resume, or give ",
         "another --run.dir");
  return false;
}

bool run_stage(const StageSettings& s, const StageContext& context, Classifier& model,
               const RunLabel& label) {
  if (finished_already(s.train, context.root())) return true;
  at::set_num_threads(static_cast<int>(s.threads));  // LibTorch would pick 1 here: be explicit
  const Precision precision = run_precision(s.precision, context);
  model.set_precision(precision);
  const DatasetReader dataset(s.data.store);
  Loader train(loader_options(s, context, model.channels(), true));
  std::unique_ptr<Loader> val;
  std::uint64_t val_size = 0;
  if (!s.data.val_split.empty()) {
    val = std::make_unique<Loader>(loader_options(s, context, model.channels(), false));
    val_size = dataset.index(s.data.val_split).size();
  }
  std::unique_ptr<Teacher> teacher;
  if (!s.teacher.model.empty()) {
    teacher = load_teacher(s.teacher.model, context.device, precision);
    check_teacher_fits(*teacher, s.teacher.model, model.channels(), model.image_size(),
                       model.classes(), s.data.store, context.device);
  }
  if (context.root())
    std::cerr << s.stage << ": " << model.describe() << ", " << context.comm.size()
              << " rank(s) on " << context.device.str() << ", " << label.method << " ("
              << label.init << ")\n";
  std::optional<Accuracy> initial;
  if (label.evaluate_initial && val) {
    // Deterministic: a resumed run evaluates the same initialisation again and records the same.
    initial = evaluate_model(model, *val, val_size, context.comm, context.device);
    model.train();
    if (context.root())
      std::cerr << label.method << " before fine-tuning: top-1 " << initial->top1 * 100
                << "%, top-5 " << initial->top5 * 100 << "%\n";
  }
  if (context.root()) {
    std::filesystem::create_directories(s.train.run_dir);
    write_resolved_config(s.provenance, s.train.run_dir + "/config.ini");
  }
  TrainSettings training = s.train;
  training.recorded_settings["data.fingerprint"] = dataset.fingerprint();
  const TrainOutcome outcome =
      train_model(model, {train, val.get(), val_size, teacher.get()}, training, context);
  if (!outcome.finished) {
    if (context.root())
      std::cerr << "stopped after " << s.train.stop_after_steps << " steps; resume with --resume\n";
    return false;
  }
  // Where this stage's ranks ran (the world's, or a sweep group's), by their world rank.
  const at::Tensor world_ranks =
      context.comm
          .all_gather(at::full({1}, context.world.rank(),
                               at::TensorOptions().dtype(at::kLong).device(context.device)))
          .cpu();
  if (!context.root()) return true;

  const std::string& dir = s.train.run_dir;
  const std::string command = s.provenance.command();
  const std::string output = dir + (s.stage == "distill" ? "/learngene.h5" : "/model.h5");
  // How the run evaluated the model, so that tleg evaluate of the file gives the same number.
  save_weights(
      weights_of(model, {{"command", command},
                         {"dataset", dataset.info().name},
                         {"dataset_fingerprint", dataset.fingerprint()},
                         {"method", label.method},
                         {"eval.data.mean", channels_text(s.view.mean)},
                         {"eval.data.std", channels_text(s.view.std)},
                         {"eval.aug.eval-crop-fraction", shortest(s.view.eval_crop_fraction)},
                         {"eval.precision", precision_name(precision)}}),
      output);
  RunLedger ledger;
  ledger.method = label.method;
  ledger.init = label.init;
  ledger.depth = model.depth();
  ledger.model = model.describe();
  ledger.epochs = s.train.epochs;
  ledger.steps = outcome.steps;
  ledger.images = outcome.images;
  // Stored logits cost no teacher FLOPs in training (tleg logits paid them, in its own ledger).
  const double teacher_flops = teacher ? teacher->forward_flops() : 0.0;
  ledger.flops = static_cast<double>(outcome.images) *
                 (3.0 * static_cast<double>(model.image_forward_flops()) + teacher_flops);
  ledger.wall_seconds = outcome.wall_seconds;
  ledger.device_seconds = outcome.wall_seconds * context.comm.size();
  ledger.ranks = context.comm.size();
  ledger.device = context.device.is_cuda() ? "cuda" : "cpu";
  // Every tensor the optimiser updates: for the auxiliary net the learngene and the shared
  // tensors (learngene_parameter_count), for a ViT vit_parameter_count.
  ledger.parameters_trained = 0;
  for (const auto& parameter : model.parameters()) ledger.parameters_trained += parameter.numel();
  ledger.parameters_stored = label.stored_parameters;
  ledger.top1 = outcome.top1;
  ledger.top5 = outcome.top5;
  ledger.best_top1 = outcome.best_top1;
  ledger.best_top5 = outcome.best_top5;
  ledger.best_epoch = outcome.best_epoch;
  ledger.evaluated = outcome.best_epoch > 0;
  if (initial) {
    ledger.initial_top1 = initial->top1;
    ledger.initial_top5 = initial->top5;
  }
  ledger.dataset = dataset.info().name;
  ledger.dataset_fingerprint = dataset.fingerprint();
  ledger.classes = model.classes();
  ledger.transfer_from = label.source.name;
  ledger.transfer_fingerprint = label.source.fingerprint;
  ledger.teacher_mode = train.has_teacher_logits() ? "stored-logits" : teacher ? "live" : "";
  ledger.command = command;
  ledger.config = s.provenance.configs();
  ledger.seed = static_cast<std::int64_t>(s.train.seed);
  ledger.recipe = s.recipe;
  ledger.extra = {{"output", output},
                  {"seed", std::to_string(s.train.seed)},
                  {"data_wait_fraction", std::to_string(outcome.data_wait_fraction)},
                  {"teacher", teacher ? teacher->identity() : train.teacher_logits_identity()},
                  {"teacher_logits", train.has_teacher_logits() ? s.teacher.logits : ""},
                  {"teacher_flops_per_image", std::to_string(teacher_flops)},
                  {"teacher_flops_source", teacher ? teacher->flops_source() : ""},
                  {"precision", precision_name(precision)},
                  {"threads", std::to_string(s.threads)},
                  {"resumed_from", std::to_string(outcome.resumed_from)},
                  {"segments", std::to_string(outcome.segments)},
                  {"segment_wall_seconds", std::to_string(outcome.segment_seconds)}};
  ledger.extra.insert(label.extra.begin(), label.extra.end());
  for (std::int64_t i = 0; i < world_ranks.size(0); ++i)
    ledger.placement.push_back(context.world.placement().at(
        static_cast<std::size_t>(world_ranks[i][0].item<std::int64_t>())));
  write_run_ledger(ledger, dir + "/run.json");
  std::cout << s.stage << " done: top-1 " << outcome.top1 * 100 << "% (best "
            << outcome.best_top1 * 100 << "% at epoch " << outcome.best_epoch << "), top-5 "
            << outcome.top5 * 100 << "%, " << outcome.wall_seconds << " s; wrote " << output
            << " and " << dir << "/run.json\n";
  return true;
}

}  // namespace

Precision run_precision(PrecisionRequest request, const StageContext& context) {
  const PrecisionChoice choice = choose_precision(request, context.device);
  if (context.root()) {
    std::cerr << choice.reason << "\n";
    if (!choice.warning.empty()) std::cerr << "warning: " << choice.warning << "\n";
  }
  return choice.precision;
}

StageSettings stage_defaults(const std::string& stage) {
  StageSettings s;
  s.stage = stage;
  const bool distill = stage == "distill";
  s.train.distill = distill;
  s.train.epochs = distill ? 150 : 35;
  s.train.warmup_epochs = distill ? 5 : 0;
  s.model.drop_path = distill ? 0.0 : 0.1;
  return s;
}

ViewRecipe view_recipe(const ViewSettings& s, std::int64_t channels) {
  if (s.recipe != "deit" && s.recipe != "basic")
    fail("aug.recipe must be deit or basic, got '", s.recipe, "'");
  const auto size = static_cast<int>(s.image);
  ViewRecipe recipe = s.recipe == "deit" ? ViewRecipe::deit(size) : ViewRecipe::basic(size);
  recipe.channels = static_cast<int>(channels);
  recipe.scale_min = s.scale_min;
  recipe.flip_probability = s.flip;
  recipe.dct_scaling = s.dct_scaling;
  recipe.eval_crop_fraction = s.eval_crop_fraction;
  if (!(recipe.eval_crop_fraction > 0 && recipe.eval_crop_fraction <= 1))
    fail("aug.eval-crop-fraction must be in (0, 1], got ", recipe.eval_crop_fraction);
  if (s.recipe == "deit") {
    recipe.erase_probability = s.erase;
    recipe.augment = RandAugmentRecipe::parse(s.rand_augment);
  }
  recipe.mean = channel_values(s.mean, channels, "data.mean");
  recipe.std = channel_values(s.std, channels, "data.std");
  return recipe;
}

// A store of raw images holds one size; a model that takes much larger images would train on
// upsampled pixels, which is what the built-in, ImageNet-sized defaults do to a 28-px store:
// refused, naming both sizes and the fix.
void check_image_fits(std::int64_t image, const DatasetInfo& data, const std::string& store) {
  const std::int64_t side = std::max(data.height, data.width);
  if (side == 0 || image <= 2 * side) return;  // JPEG stores: sizes vary, resizing is the recipe
  fail(store, ": its images are ", data.height, "x", data.width, " but the model takes ", image,
       "x", image, " (model.image): every image would be upsampled ", image / side,
       "x. Give the model this store's size, --model.image ", side,
       " (with the store's recipe, e.g. --config experiments/fashion-mnist/common.ini), or a "
       "learngene or model trained at that size");
}

VitConfig model_config(const StageSettings& s, const DatasetInfo& data) {
  VitConfig config = vit_preset(s.model.size);
  if (s.model.dim > 0) config.dim = s.model.dim;
  if (s.model.heads > 0) config.heads = s.model.heads;
  config.depth = s.model.depth;
  config.patch_size = s.model.patch;
  config.image_size = s.view.image;
  config.drop_path = s.model.drop_path;
  config.channels = data.channels;
  config.classes = static_cast<std::int64_t>(data.class_names.size());
  config.validate();
  return config;
}

CnnConfig cnn_config(const StageSettings& s, const DatasetInfo& data) {
  CnnConfig config;
  config.image_size = s.view.image;
  config.channels = data.channels;
  config.classes = static_cast<std::int64_t>(data.class_names.size());
  config.widths = s.model.cnn_widths;
  config.convs = s.model.cnn_convs;
  config.validate();
  return config;
}

void train_teacher(const StageSettings& s, const StageContext& context) {
  const DatasetReader dataset(s.data.store);
  check_image_fits(s.view.image, dataset.info(), s.data.store);
  if (s.model.arch == "cnn") {
    Cnn model(cnn_config(s, dataset.info()));
    initialise(model, s.train.seed);
    run_stage(s, context, model, {.method = s.method_or("teacher"), .init = "scratch"});
    return;
  }
  if (s.model.arch != "vit") fail("model.arch must be vit or cnn, got '", s.model.arch, "'");
  ViT model(model_config(s, dataset.info()));
  initialise(model, s.train.seed);
  run_stage(s, context, model, {.method = s.method_or("teacher"), .init = "scratch"});
}

void distill(const StageSettings& s, const StageContext& context) {
  const DatasetReader dataset(s.data.store);
  check_image_fits(s.view.image, dataset.info(), s.data.store);
  AuxViT model(model_config(s, dataset.info()));
  initialise(model, s.train.seed);
  std::string init = "scratch";
  if (!s.init_learngene.empty()) {
    // A learngene fitted from a trained model (tleg linearity --write-learngene) or an earlier
    // stage 1. A resumed run then overwrites these values from its checkpoint, as it does the
    // random ones, so resuming stays exact.
    const WeightsFile learngene = load_learngene(s.init_learngene);
    const VitConfig& c = learngene.config;
    if (!c.same_architecture(model.config()) || c.depth != model.depth())
      fail("--init-learngene ", s.init_learngene, ": a learngene of ", c.describe(),
           " cannot start the auxiliary net of ", model.config().describe(),
           "; give the --model.* options (and dataset) that match it");
    copy_into(learngene, model);
    init = "learngene " + s.init_learngene;
  }
  run_stage(s, context, model, {.method = s.method_or("aux"), .init = init});
}

VitConfig descendant_config(const StageSettings& s, const InitSettings& init,
                            const DatasetInfo& data, std::int64_t depth) {
  VitConfig config = model_config(s, data);
  if (!init.learngene.empty()) {
    const double drop_path = config.drop_path;
    config = load_learngene(init.learngene).config;
    config.drop_path = drop_path;
    config.classes = static_cast<std::int64_t>(data.class_names.size());
  }
  config.depth = depth;
  check_image_fits(config.image_size, data, s.data.store);
  return config;
}

InitSpec init_spec(const InitSettings& init, const std::string& method, std::uint64_t seed) {
  check_initializer(method);
  return {.method = method,
          .source = find_method(method)->needs_learngene ? init.learngene : init.pretrained,
          .subset_layers = init.subset_layers,
          .seed = seed,
          .new_head = init.new_head};
}

bool finetune(const StageSettings& s, const VitConfig& config, const InitSpec& init,
              const std::string& method, const StageContext& context,
              const std::map<std::string, std::string>& extra) {
  InitSpec spec = init;
  spec.dataset_fingerprint = DatasetReader(s.data.store).fingerprint();
  const auto initializer = make_initializer(spec);
  ViT model(config);
  initializer->initialise(model);
  RunLabel label{.method = method,
                 .init = initializer->describe(),
                 .stored_parameters = initializer->stored_parameters(),
                 .evaluate_initial = find_method(init.method)->needs_learngene,
                 .extra = extra};
  // A transfer: the source was trained on another store (the report's transfer section).
  const SourceDataset source = initializer->source_dataset();
  if (!source.fingerprint.empty() && source.fingerprint != spec.dataset_fingerprint)
    label.source = source;
  return run_stage(s, context, model, label);
}

void finetune(const StageSettings& s, const InitSettings& init, const StageContext& context) {
  const DatasetReader dataset(s.data.store);
  const std::int64_t depth = init.depth > 0 ? init.depth : s.model.depth;
  finetune(s, descendant_config(s, init, dataset.info(), depth),
           init_spec(init, init.method, s.train.seed), s.method_or(init.method), context);
}

EvaluateResult evaluate(const EvaluateSettings& e, const StageContext& context) {
  if (e.model.empty() == e.learngene.empty())
    fail("evaluate needs exactly one of --model (a model file) and --learngene (with --depth)");
  at::set_num_threads(static_cast<int>(e.threads));
  std::shared_ptr<Classifier> model;
  EvaluateResult result;
  const WeightsFile file = load_weights(e.model.empty() ? e.learngene : e.model);
  const auto [view, requested] = evaluation_as_trained(e, file.metadata, context.root());
  if (!e.model.empty()) {
    model = load_classifier(e.model);
    result.model = e.model + " (" + model->describe() + ")";
  } else {
    if (e.depth < 1) fail("--learngene needs --depth D (at least 1), got ", e.depth);
    model = expand(load_learngene(e.learngene), e.depth);  // as tleg expand writes it
    result.model =
        concat("depth-", e.depth, " descendant of ", e.learngene, " (", model->describe(), ")");
  }
  const DatasetReader dataset(e.data.store);
  const auto classes = static_cast<std::int64_t>(dataset.info().class_names.size());
  if (dataset.info().channels != model->channels() || classes != model->classes())
    fail(e.data.store, ": ", dataset.info().channels, " channel(s) and ", classes,
         " classes, but the model takes ", model->channels(), " and predicts ", model->classes(),
         "; evaluate it on the store it was trained for");
  check_image_fits(model->image_size(), dataset.info(), e.data.store);
  if (e.data.val_split.empty()) fail("evaluate needs a split (--data.val-split)");
  model->to(context.device);
  const Precision precision = run_precision(requested, context);
  model->set_precision(precision);
  StageSettings s;
  s.data = e.data;
  s.view = view;
  s.view.image = model->image_size();
  s.train.batch = e.batch;
  Loader val(loader_options(s, context, model->channels(), false));
  const Accuracy accuracy = evaluate_model(*model, val, dataset.index(e.data.val_split).size(),
                                           context.comm, context.device, e.progress_seconds);
  result.top1 = accuracy.top1;
  result.top5 = accuracy.top5;
  result.samples = accuracy.samples;
  if (!context.root()) return result;
  std::cout << "evaluate: top-1 " << result.top1 * 100 << "%, top-5 " << result.top5 * 100
            << "% on " << result.samples << " images of " << e.data.store << " split '"
            << e.data.val_split << "': " << result.model << "\n";
  if (!e.out.empty()) {
    const nlohmann::json record = {{"format", "tleg-evaluation"},
                                   {"model", e.model},
                                   {"learngene", e.learngene},
                                   {"depth", e.learngene.empty() ? model->depth() : e.depth},
                                   {"architecture", model->describe()},
                                   {"data", e.data.store},
                                   {"split", e.data.val_split},
                                   {"precision", precision_name(precision)},
                                   {"ranks", context.comm.size()},
                                   {"top1", result.top1},
                                   {"top5", result.top5},
                                   {"samples", result.samples}};
    const std::string temporary = e.out + ".partial";
    {
      std::ofstream out(temporary);
      out << record.dump(2) << "\n";
      if (!out) fail(e.out, ": cannot write the evaluation result");
    }
    std::filesystem::rename(temporary, e.out);
  }
  return result;
}

}  // namespace tleg

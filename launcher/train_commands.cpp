// The training commands: teacher (a model to distil from), distill (stage 1: the auxiliary net
// and its learngene) and finetune (stage 2: a descendant or a baseline). All run data-parallel
// under mpirun/srun and share one set of options, from the command line or INI files.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "data/dataset_store.h"
#include "data/loader.h"
#include "data/teacher_logits.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "expansion/initializer.h"
#include "expansion/learngene.h"
#include "expansion/model_io.h"
#include "experiments/sweep_plan.h"
#include "launcher/command.h"
#include "train/run_record.h"
#include "train/teacher.h"
#include "train/trainer.h"

namespace tleg {
namespace {

// A default as a person writes it (0.08, not 0.080000000000000002) for --help.
std::string shortest(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

template <typename T>
T get(const po::variables_map& o, const char* key) {
  return o[key].as<T>();
}

// The options that decide how a training view is drawn and rendered: training and tleg logits
// share them, so that stored views are the views training renders.
void add_view_options(po::options_description& o) {
  auto value_s = [](const char* v) { return po::value<std::string>()->default_value(v); };
  auto value_d = [](double v) { return po::value<double>()->default_value(v, shortest(v)); };
  o.add_options()("data.mean", value_s("0.485,0.456,0.406"), "normalisation mean per channel")(
      "data.std", value_s("0.229,0.224,0.225"), "normalisation std per channel")(
      "aug.recipe", value_s("deit"),
      "deit (RandomResizedCrop, flip, RandAugment, erasing) or basic (crop and flip)")(
      "aug.scale-min", value_d(0.08), "RandomResizedCrop minimum area fraction")(
      "aug.rand-augment", value_s("rand-m9-mstd0.5-inc1"),
      "timm's RandAugment config string (deit recipe; DeiT's default)")(
      "aug.dct-scaling", po::value<bool>()->default_value(false),
      "decode JPEGs at 1/2, 1/4 or 1/8 scale where the crop allows (faster on full-size "
      "images; the released pipeline decodes in full)")(
      "aug.eval-crop-fraction", value_d(0.875),
      "evaluation: Resize(output / fraction) then CenterCrop(output) (DeiT's eval_crop_ratio)")(
      "aug.erase", value_d(0.25), "random-erasing probability (deit recipe)")(
      "aug.repeats", po::value<std::int64_t>()->default_value(1),
      "repeated augmentation (3 in the DeiT recipe)")(
      "model.image", po::value<std::int64_t>()->default_value(224), "input image size");
}

void add_training_options(po::options_description& o, const std::string& stage) {
  add_view_options(o);
  auto value_s = [](const char* v) { return po::value<std::string>()->default_value(v); };
  auto value_i = [](std::int64_t v) { return po::value<std::int64_t>()->default_value(v); };
  auto value_d = [](double v) { return po::value<double>()->default_value(v, shortest(v)); };
  const bool distill = stage == "distill";
  o.add_options()("data.store", po::value<std::string>()->required(),
                  "dataset store (.h5, from tleg prepare)")("data.train-split", value_s("train"),
                                                            "split to train on")(
      "data.val-split", value_s("val"), "split to evaluate on ('' to skip evaluation)")(
      "data.threads", value_i(2), "decode/augment threads per rank")("aug.mixup", value_d(0.8),
                                                                     "Mixup alpha (0: off)")(
      "aug.cutmix", value_d(1.0), "CutMix alpha (0: off)")("aug.mix-prob", value_d(1.0),
                                                           "probability of mixing a batch")(
      "aug.smoothing", value_d(0.1), "label smoothing")("model.size", value_s("Ti"),
                                                        "Ti, S or B: sets dim and heads")(
      "model.dim", value_i(0), "embedding dim (0: from model.size)")(
      "model.heads", value_i(0), "attention heads (0: from model.size)")(
      "model.depth", value_i(12), distill ? "auxiliary depth L" : "depth (finetune: --depth wins)")(
      "model.patch", value_i(16), "patch size")("model.drop-path", value_d(distill ? 0.0 : 0.1),
                                                "drop-path rate of the last block")(
      "optim.epochs", value_i(distill ? 150 : 35), "epochs")(
      "optim.steps-per-epoch", value_i(0), "cap on steps per epoch (0: whole epochs)")(
      "optim.batch", value_i(128), "batch per rank")(
      "optim.lr", value_d(5e-4), "learning rate per 512 images (scaled by the global batch)")(
      "optim.min-lr", value_d(1e-5), "cosine floor")("optim.warmup-lr", value_d(1e-6),
                                                     "warm-up start")(
      "optim.warmup-epochs", value_i(distill ? 5 : 0), "warm-up epochs")(
      "optim.warmup-prefix", po::value<bool>()->default_value(false),
      "start the cosine after the warm-up (default: timm's CosineLRScheduler as DeiT uses it, "
      "warm-up inside the cosine; epoch e trains at lr(e-1) as DeiT steps it after each epoch)")(
      "optim.lr-per-step", po::value<bool>()->default_value(false),
      "update the rate every step (default: every epoch, as the recipes)")(
      "optim.weight-decay", value_d(0.05), "AdamW weight decay (none on biases, norms, pos_embed)")(
      "optim.clip-grad", value_d(0.0), "max gradient norm (0: no clipping)")(
      "run.dir", po::value<std::string>()->required(),
      "run folder: checkpoints, metrics.jsonl, run.json, outputs")("run.seed", value_i(0),
                                                                   "seed of every random choice")(
      "run.method", value_s(""),
      "method label written to run.json (default from the stage and --init)")(
      "run.log-interval", value_i(50), "steps between log lines")(
      "run.checkpoint-every", value_i(0), "steps between checkpoints (0: at epoch ends)")(
      "run.keep", value_i(3), "checkpoints kept")("run.threads", value_i(1),
                                                  "compute threads per rank (CPU)")(
      "run.stop-after-steps", value_i(0),
      "stop (with a checkpoint) after this many steps of this process")(
      "dist.timeout", value_i(600),
      "seconds a collective may wait for the other ranks before the job ends naming it")(
      "resume", po::bool_switch(), "continue from the newest valid checkpoint in run.dir");
  if (distill) {
    o.add_options()("distill.teacher", value_s(""),
                    "teacher run live on every batch: tleg model (.h5) or TorchScript file")(
        "distill.logits", value_s(""),
        "stored teacher logits (folder from tleg logits) instead of a live teacher")(
        "distill.views", value_i(0), "view count the stored logits must hold (0: any)")(
        "distill.tau", value_d(1.0), "distillation temperature")(
        "distill.alpha", value_d(1.0), "weight of the distillation term (1: no label term)")(
        "distill.kl-reduction", value_s("mean"),
        "mean: the KL summed and divided by batch x classes (DeiT's losses.py); batchmean: by "
        "the batch only (the KL per image, classes times larger)");
  }
  if (stage == "finetune") {
    o.add_options()("init", value_s("scratch"), "tleg, scratch, subset or prefin")(
        "depth", value_i(0), "depth of the model (0: model.depth)")("learngene", value_s(""),
                                                                    "learngene file (--init tleg)")(
        "pretrained", value_s(""), "pre-trained model file (--init subset or prefin)")(
        "subset-layers", value_s("first"), "subset: first or spread");
  }
}

std::array<float, 3> channel_values(const std::string& text, std::int64_t channels,
                                    const char* name) {
  std::array<float, 3> values{};
  std::istringstream in(text);
  std::string item;
  std::int64_t n = 0;
  while (std::getline(in, item, ',') && n < 3)
    values[static_cast<std::size_t>(n++)] = std::stof(item);
  if (n < channels) fail(name, " needs ", channels, " comma-separated values, got '", text, "'");
  return values;
}

VitConfig model_config(const po::variables_map& o, const DatasetInfo& data) {
  VitConfig config = vit_preset(get<std::string>(o, "model.size"));
  if (get<std::int64_t>(o, "model.dim") > 0) config.dim = get<std::int64_t>(o, "model.dim");
  if (get<std::int64_t>(o, "model.heads") > 0) config.heads = get<std::int64_t>(o, "model.heads");
  config.depth = get<std::int64_t>(o, "model.depth");
  config.patch_size = get<std::int64_t>(o, "model.patch");
  config.image_size = get<std::int64_t>(o, "model.image");
  config.drop_path = get<double>(o, "model.drop-path");
  config.channels = data.channels;
  config.classes = static_cast<std::int64_t>(data.class_names.size());
  config.validate();
  return config;
}

// Where a stage runs: its communicator (the world, or a sweep group) and this rank's device.
struct StageContext {
  dist::Communicator& comm;
  c10::Device device;
  bool root() const { return comm.rank() == 0; }
};

// The view recipe from the aug.* and data.mean/std options (training and tleg logits share them,
// so that stored views are the views training renders).
ViewRecipe view_recipe(const po::variables_map& o, std::int64_t image_size, std::int64_t channels) {
  const std::string name = get<std::string>(o, "aug.recipe");
  if (name != "deit" && name != "basic") fail("aug.recipe must be deit or basic, got '", name, "'");
  ViewRecipe recipe = name == "deit" ? ViewRecipe::deit(static_cast<int>(image_size))
                                     : ViewRecipe::basic(static_cast<int>(image_size));
  recipe.channels = static_cast<int>(channels);
  recipe.scale_min = get<double>(o, "aug.scale-min");
  recipe.dct_scaling = get<bool>(o, "aug.dct-scaling");
  recipe.eval_crop_fraction = get<double>(o, "aug.eval-crop-fraction");
  if (!(recipe.eval_crop_fraction > 0 && recipe.eval_crop_fraction <= 1))
    fail("aug.eval-crop-fraction must be in (0, 1], got ", recipe.eval_crop_fraction);
  if (name == "deit") {
    recipe.erase_probability = get<double>(o, "aug.erase");
    recipe.augment = RandAugmentRecipe::parse(get<std::string>(o, "aug.rand-augment"));
  }
  recipe.mean = channel_values(get<std::string>(o, "data.mean"), channels, "data.mean");
  recipe.std = channel_values(get<std::string>(o, "data.std"), channels, "data.std");
  return recipe;
}

LoaderOptions loader_options(const po::variables_map& o, const StageContext& context,
                             const VitConfig& model, bool train) {
  LoaderOptions options;
  options.path = get<std::string>(o, "data.store");
  options.split = get<std::string>(o, train ? "data.train-split" : "data.val-split");
  options.batch_size = get<std::int64_t>(o, "optim.batch");
  options.ranks = context.comm.size();
  options.rank = context.comm.rank();
  options.sampler.seed = static_cast<std::uint64_t>(get<std::int64_t>(o, "run.seed"));
  options.sampler.shuffle = train;
  options.sampler.repeats = train ? get<std::int64_t>(o, "aug.repeats") : 1;
  options.train = train;
  options.drop_last_batch = train;
  options.threads = static_cast<int>(get<std::int64_t>(o, "data.threads"));
  options.device = context.device;
  options.recipe = view_recipe(o, model.image_size, model.channels);
  if (train && o.count("distill.logits") && !get<std::string>(o, "distill.logits").empty()) {
    options.teacher_logits = get<std::string>(o, "distill.logits");
    options.teacher_logits_views = get<std::int64_t>(o, "distill.views");
  }
  return options;
}

TrainSettings train_settings(const po::variables_map& o, const std::string& stage) {
  TrainSettings s;
  s.epochs = get<std::int64_t>(o, "optim.epochs");
  s.max_steps_per_epoch = get<std::int64_t>(o, "optim.steps-per-epoch");
  s.lr = get<double>(o, "optim.lr");
  s.min_lr = get<double>(o, "optim.min-lr");
  s.warmup_lr = get<double>(o, "optim.warmup-lr");
  s.warmup_epochs = get<std::int64_t>(o, "optim.warmup-epochs");
  s.warmup_prefix = get<bool>(o, "optim.warmup-prefix");
  s.lr_per_step = get<bool>(o, "optim.lr-per-step");
  s.weight_decay = get<double>(o, "optim.weight-decay");
  s.clip_grad = get<double>(o, "optim.clip-grad");
  s.mixup.mixup_alpha = get<double>(o, "aug.mixup");
  s.mixup.cutmix_alpha = get<double>(o, "aug.cutmix");
  s.mixup.probability = get<double>(o, "aug.mix-prob");
  s.mixup.label_smoothing = get<double>(o, "aug.smoothing");
  s.log_interval = get<std::int64_t>(o, "run.log-interval");
  s.checkpoint_every = get<std::int64_t>(o, "run.checkpoint-every");
  s.keep_checkpoints = get<std::int64_t>(o, "run.keep");
  s.resume = get<bool>(o, "resume");
  s.seed = static_cast<std::uint64_t>(get<std::int64_t>(o, "run.seed"));
  s.run_dir = get<std::string>(o, "run.dir");
  s.stop_after_steps = get<std::int64_t>(o, "run.stop-after-steps");
  if (stage == "distill") {
    s.distill = true;
    s.tau = get<double>(o, "distill.tau");
    s.alpha = get<double>(o, "distill.alpha");
    const std::string reduction = get<std::string>(o, "distill.kl-reduction");
    if (reduction != "mean" && reduction != "batchmean")
      fail("distill.kl-reduction must be mean or batchmean, got '", reduction, "'");
    s.kl_reduction = reduction == "mean" ? KlReduction::kMean : KlReduction::kBatchMean;
  }
  if (s.epochs < 1) fail("optim.epochs must be at least 1");
  if (s.log_interval < 1) fail("run.log-interval must be at least 1");
  return s;
}

std::string command_line_of(const po::variables_map& o) {
  std::ostringstream text;
  for (const auto& [key, value] : o) {
    if (value.defaulted()) continue;
    const auto& any = value.value();
    text << "--" << key << "=";
    if (const auto* s = boost::any_cast<std::string>(&any))
      text << *s;
    else if (const auto* i = boost::any_cast<std::int64_t>(&any))
      text << *i;
    else if (const auto* d = boost::any_cast<double>(&any))
      text << *d;
    else if (const auto* b = boost::any_cast<bool>(&any))
      text << (*b ? "true" : "false");
    else if (const auto* v = boost::any_cast<std::vector<std::string>>(&any))
      for (const auto& item : *v) text << item << ";";
    text << " ";
  }
  return text.str();
}

// Runs one training stage and writes its outputs and run.json. `model` is ready (initialised).
// Returns whether it ran to the end (not stopped by run.stop-after-steps).
bool run_stage(const po::variables_map& o, const StageContext& context, const std::string& stage,
               VitBase& model, const std::string& method, const std::string& init,
               std::int64_t stored_parameters, const TrainSettings& settings) {
  const auto threads = get<std::int64_t>(o, "run.threads");
  at::set_num_threads(static_cast<int>(threads));  // LibTorch would pick 1 here anyway: be explicit
  const std::string store = get<std::string>(o, "data.store");
  const DatasetReader dataset(store);
  const VitConfig& config = model.config();
  Loader train(loader_options(o, context, config, true));
  const std::string val_split = get<std::string>(o, "data.val-split");
  std::unique_ptr<Loader> val;
  std::uint64_t val_size = 0;
  if (!val_split.empty()) {
    val = std::make_unique<Loader>(loader_options(o, context, config, false));
    val_size = dataset.index(val_split).size();
  }
  std::unique_ptr<Teacher> teacher;
  const std::string teacher_path = stage == "distill" ? get<std::string>(o, "distill.teacher") : "";
  if (!teacher_path.empty()) teacher = load_teacher(teacher_path, context.device);
  if (context.root())
    std::cerr << stage << ": " << config.describe() << ", " << context.comm.size() << " rank(s) on "
              << context.device.str() << ", " << method << " (" << init << ")\n";
  const TrainOutcome outcome = train_model(model, train, val.get(), val_size, context.comm,
                                           teacher.get(), settings, context.device);
  if (!outcome.finished) {
    if (context.root())
      std::cerr << "stopped after " << settings.stop_after_steps
                << " steps; resume with --resume\n";
    return false;
  }
  if (!context.root()) return true;

  const std::string dir = settings.run_dir;
  std::map<std::string, std::string> provenance = {
      {"command", "tleg " + stage + " " + command_line_of(o)},
      {"dataset", dataset.info().name},
      {"dataset_fingerprint", dataset.fingerprint()},
      {"method", method}};
  std::string output;
  if (stage == "distill") {
    output = dir + "/learngene.h5";
    save_weights(extract_learngene(dynamic_cast<AuxViT&>(model), provenance), output);
  } else {
    output = dir + "/model.h5";
    save_weights(vit_weights(dynamic_cast<ViT&>(model), provenance), output);
  }
  RunLedger ledger;
  ledger.method = method;
  ledger.init = init;
  ledger.depth = config.depth;
  ledger.epochs = settings.epochs;
  ledger.steps = outcome.steps;
  ledger.images = outcome.images;
  // Stored logits cost no teacher FLOPs in training (tleg logits paid them once).
  const double teacher_flops =
      teacher_path.ends_with(".h5")
          ? static_cast<double>(forward_flops(load_weights(teacher_path).config))
          : 0.0;
  ledger.flops = static_cast<double>(outcome.images) *
                 (static_cast<double>(training_flops(config)) + teacher_flops);
  ledger.wall_seconds = outcome.wall_seconds;
  ledger.device_seconds = outcome.wall_seconds * context.comm.size();
  ledger.ranks = context.comm.size();
  ledger.device = context.device.is_cuda() ? "cuda" : "cpu";
  ledger.parameters_trained =
      stage == "distill" ? learngene_parameter_count(config) : vit_parameter_count(config);
  ledger.parameters_stored = stored_parameters;
  ledger.top1 = outcome.top1;
  ledger.top5 = outcome.top5;
  ledger.best_top1 = outcome.best_top1;
  ledger.best_top5 = outcome.best_top5;
  ledger.best_epoch = outcome.best_epoch;
  ledger.dataset = dataset.info().name;
  ledger.dataset_fingerprint = dataset.fingerprint();
  ledger.classes = config.classes;
  ledger.teacher_mode = train.has_teacher_logits() ? "stored-logits" : teacher ? "live" : "";
  ledger.command = provenance["command"];
  if (o.count("config"))
    for (const auto& path : o["config"].as<std::vector<std::string>>()) ledger.config += path + " ";
  ledger.extra = {
      {"output", output},
      {"seed", std::to_string(settings.seed)},
      {"data_wait_fraction", std::to_string(outcome.data_wait_fraction)},
      {"teacher", teacher ? teacher->identity() : train.teacher_logits_identity()},
      {"teacher_logits", train.has_teacher_logits() ? get<std::string>(o, "distill.logits") : ""},
      {"teacher_flops_per_image", std::to_string(teacher_flops)},
      {"resumed_from", std::to_string(outcome.resumed_from)}};
  write_run_ledger(ledger, dir + "/run.json");
  std::cout << stage << " done: top-1 " << outcome.top1 * 100 << "% (best "
            << outcome.best_top1 * 100 << "% at epoch " << outcome.best_epoch << "), top-5 "
            << outcome.top5 * 100 << "%, " << outcome.wall_seconds << " s; wrote " << output
            << " and " << dir << "/run.json\n";
  return true;
}

dist::CommunicatorOptions communicator_options(const po::variables_map& o) {
  return {.timeout = std::chrono::seconds(get<std::int64_t>(o, "dist.timeout"))};
}

// A stage over the whole world of this job.
int run_on_world(const po::variables_map& o, const std::function<void(const StageContext&)>& body) {
  dist::World world(nullptr, nullptr);
  return dist::run_or_abort(world, [&] {
    auto communicator = dist::make_communicator(world, world.device(), communicator_options(o));
    body({*communicator, world.device()});
    return 0;
  });
}

std::string method_or(const po::variables_map& o, const std::string& fallback) {
  const std::string method = get<std::string>(o, "run.method");
  return method.empty() ? fallback : method;
}

int teacher_command(const po::variables_map& o) {
  return run_on_world(o, [&](const StageContext& context) {
    const DatasetReader dataset(get<std::string>(o, "data.store"));
    ViT model(model_config(o, dataset.info()));
    initialise(model, static_cast<std::uint64_t>(get<std::int64_t>(o, "run.seed")));
    run_stage(o, context, "teacher", model, method_or(o, "teacher"), "scratch", 0,
              train_settings(o, "teacher"));
  });
}

int distill_command(const po::variables_map& o) {
  if (get<std::string>(o, "distill.teacher").empty() ==
      get<std::string>(o, "distill.logits").empty())
    fail(
        "distill needs exactly one of --distill.teacher (a live teacher) and --distill.logits "
        "(stored logits from tleg logits)");
  return run_on_world(o, [&](const StageContext& context) {
    const DatasetReader dataset(get<std::string>(o, "data.store"));
    AuxViT model(model_config(o, dataset.info()));
    initialise(model, static_cast<std::uint64_t>(get<std::int64_t>(o, "run.seed")));
    run_stage(o, context, "distill", model, method_or(o, "aux"), "scratch", 0,
              train_settings(o, "distill"));
  });
}

// The architecture of stage-2 models: the learngene's when one is given (baselines included,
// so that every method trains the same network), else the model.* options; depth `depth`.
VitConfig descendant_config(const po::variables_map& o, const DatasetInfo& data,
                            std::int64_t depth) {
  VitConfig config = model_config(o, data);
  const std::string learngene = get<std::string>(o, "learngene");
  if (!learngene.empty()) {
    const double drop_path = config.drop_path;
    config = load_weights(learngene).config;
    config.drop_path = drop_path;
    config.classes = static_cast<std::int64_t>(data.class_names.size());
  }
  config.depth = depth;
  return config;
}

InitSpec init_spec(const po::variables_map& o, const std::string& init) {
  return {.method = init,
          .source =
              init == "tleg" ? get<std::string>(o, "learngene") : get<std::string>(o, "pretrained"),
          .subset_layers = get<std::string>(o, "subset-layers"),
          .seed = static_cast<std::uint64_t>(get<std::int64_t>(o, "run.seed"))};
}

// One stage-2 run: a model of `config`, initialised by `spec`, trained with `settings`.
bool finetune_once(const po::variables_map& o, const StageContext& context, const VitConfig& config,
                   const InitSpec& spec, const std::string& method, const TrainSettings& settings) {
  auto initializer = make_initializer(spec);
  ViT model(config);
  initializer->initialise(model);
  return run_stage(o, context, "finetune", model, method, initializer->describe(),
                   initializer->stored_parameters(), settings);
}

int finetune_command(const po::variables_map& o) {
  return run_on_world(o, [&](const StageContext& context) {
    const DatasetReader dataset(get<std::string>(o, "data.store"));
    const std::int64_t depth = get<std::int64_t>(o, "depth") > 0
                                   ? get<std::int64_t>(o, "depth")
                                   : get<std::int64_t>(o, "model.depth");
    const std::string init = get<std::string>(o, "init");
    finetune_once(o, context, descendant_config(o, dataset.info(), depth), init_spec(o, init),
                  method_or(o, init), train_settings(o, "finetune"));
  });
}

// The directory of one sweep run: RUN_DIR/<method>/depth-<d>.
std::string sweep_run_dir(const po::variables_map& o, const std::string& method,
                          std::int64_t depth) {
  return get<std::string>(o, "run.dir") + "/" + method + "/depth-" + std::to_string(depth);
}

bool run_finished(const std::string& dir) { return std::filesystem::exists(dir + "/run.json"); }

// Fans the depths out over groups of ranks (sub-communicators), one group per depth or several
// depths per group in sequence; each depth is initialised by --init and fine-tuned
// data-parallel inside its group. A depth that fails is reported and the others go on.
int sweep_command(const po::variables_map& o) {
  dist::World world(nullptr, nullptr);
  return dist::run_or_abort(world, [&] {
    const DatasetReader dataset(get<std::string>(o, "data.store"));
    const std::string init = get<std::string>(o, "init");
    if (init == "tleg" && get<std::string>(o, "learngene").empty())
      fail("--init tleg needs --learngene (the file tleg distill wrote)");
    const std::vector<std::int64_t> depths = parse_depths(get<std::string>(o, "depths"));
    const TrainSettings finetune = train_settings(o, "finetune");
    TrainSettings pretrain = finetune;
    pretrain.epochs = get<std::int64_t>(o, "pretrain-epochs") > 0
                          ? get<std::int64_t>(o, "pretrain-epochs")
                          : finetune.epochs;
    const std::string method = method_or(o, init);

    std::vector<SweepJob> jobs;
    for (const auto depth : depths) {
      const double flops =
          static_cast<double>(training_flops(descendant_config(o, dataset.info(), depth)));
      const double epochs =
          static_cast<double>(finetune.epochs + (init == "prefin" ? pretrain.epochs : 0));
      jobs.push_back({depth, flops * epochs * 1e-9});
    }
    const SweepPlan plan = plan_sweep(jobs, world.size());
    if (world.is_root()) std::cerr << plan.describe("GFLOP per image") << "\n";

    auto everyone = dist::make_communicator(world, world.device(), communicator_options(o));
    const int group = plan.group_of(world.rank());
    auto group_comm = everyone->split(group, world.rank());
    const StageContext context{*group_comm, world.device()};
    std::vector<std::string> failures;
    for (const SweepJob& job : plan.groups[static_cast<std::size_t>(group)].jobs) {
      const VitConfig config = descendant_config(o, dataset.info(), job.depth);
      const std::string dir = sweep_run_dir(o, method, job.depth);
      if (run_finished(dir)) {
        if (context.root())
          std::cerr << "depth " << job.depth << ": already done (" << dir << ")\n";
        continue;
      }
      try {
        InitSpec spec = init_spec(o, init);
        if (init == "prefin") {
          // Pre-train this depth on its own and store it, then fine-tune from it.
          const std::string pretrained = sweep_run_dir(o, "prefin-pretrain", job.depth);
          if (!run_finished(pretrained)) {
            TrainSettings settings = pretrain;
            settings.run_dir = pretrained;
            if (!finetune_once(o, context, config, init_spec(o, "scratch"), "prefin-pretrain",
                               settings))
              continue;
          }
          spec.source = pretrained + "/model.h5";
        }
        TrainSettings settings = finetune;
        settings.run_dir = dir;
        finetune_once(o, context, config, spec, method, settings);
      } catch (const std::exception& error) {
        // Every rank of the group sees the same failure (configuration, data, a NaN loss):
        // record it and go on with the group's next depth.
        const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
        const std::string message =
            torch_error ? torch_error->what_without_backtrace() : error.what();
        failures.push_back("depth " + std::to_string(job.depth) + ": " + message);
        if (context.root()) {
          std::filesystem::create_directories(dir);
          std::ofstream(dir + "/failed.txt") << message << "\n";
          std::cerr << "depth " << job.depth << " failed: " << message << "\n";
        }
      }
    }
    everyone->barrier();
    // Rank 0 lists every depth's outcome from the run folders (groups write them).
    if (world.is_root()) {
      std::cout << "sweep " << method << ":\n";
      for (const auto depth : depths) {
        const std::string dir = sweep_run_dir(o, method, depth);
        if (run_finished(dir)) {
          const RunLedger ledger = read_run_ledger(dir + "/run.json");
          std::cout << "  depth " << depth << ": top-1 " << ledger.top1 * 100 << "%, "
                    << ledger.wall_seconds << " s on " << ledger.ranks << " rank(s)\n";
        } else {
          std::cout << "  depth " << depth << ": FAILED or unfinished (see " << dir
                    << "; rerun with --resume)\n";
        }
      }
    }
    at::Tensor failed = at::tensor({static_cast<std::int64_t>(failures.size())}, at::kLong);
    everyone->all_reduce(failed);
    return failed.item<std::int64_t>() > 0 ? 1 : 0;
  });
}

// tleg logits: the teacher over K stored views of every image of a split (the views training
// will render, see stored_view_index), written as a teacher-logits store (data/FORMAT.md). Each
// rank writes the shards s with s % ranks == rank, one file each; rank 0 writes the index last.
// Finished shard files of the same options are kept, so an interrupted run is re-run as is.
int logits_command(const po::variables_map& o) {
  const auto views = get<std::int64_t>(o, "views");
  const auto topk = get<std::int64_t>(o, "topk");
  const auto batch = get<std::int64_t>(o, "batch");
  const auto threads = get<std::int64_t>(o, "threads");
  if (views < 1) fail("--views must be at least 1, got ", views);
  if (topk < 0) fail("--topk must be 0 (all classes) or positive, got ", topk);
  if (batch < 1 || threads < 1) fail("--batch and --threads must be positive");
  dist::World world(nullptr, nullptr);
  return dist::run_or_abort(world, [&] {
    const auto communicator = dist::make_communicator(world, world.device());
    const StageContext context{*communicator, world.device()};
    at::set_num_threads(static_cast<int>(threads));
    const std::string data = get<std::string>(o, "data"), out = get<std::string>(o, "out");
    const DatasetReader dataset(data);
    const DatasetInfo& info = dataset.info();
    const std::string split = get<std::string>(o, "split");
    const SplitIndex& index = dataset.index(split);
    const ViewRecipe recipe = view_recipe(o, get<std::int64_t>(o, "model.image"), info.channels);
    const auto classes = static_cast<std::int64_t>(info.class_names.size());
    const std::unique_ptr<Teacher> teacher =
        load_teacher(get<std::string>(o, "teacher"), context.device);
    TeacherLogitsTags tags;
    tags.fingerprint = dataset.fingerprint();
    tags.split = split;
    tags.views = views;
    tags.classes = classes;
    tags.topk = topk >= classes ? 0 : topk;  // k >= classes keeps them all, without indices
    tags.repeats = get<std::int64_t>(o, "aug.repeats");
    if (tags.repeats < 1) fail("aug.repeats must be at least 1");
    tags.seed = static_cast<std::uint64_t>(get<std::int64_t>(o, "seed"));
    tags.recipe = describe_recipe(recipe);
    tags.teacher = teacher->identity();
    const int slots = recipe.rand_augment ? recipe.augment.ops : 0;
    std::filesystem::create_directories(out);

    const auto shards = static_cast<std::int64_t>(index.shards());
    const std::int64_t floats =
        static_cast<std::int64_t>(recipe.channels) * recipe.output_height * recipe.output_width;
    ProgressLine progress(context.root(), 0);
    const auto started = std::chrono::steady_clock::now();
    std::int64_t written = 0;
    for (std::int64_t s = context.comm.rank(); s < shards; s += context.comm.size()) {
      const std::string path = teacher_logits_shard_path(out, s);
      const std::uint64_t first = index.shard_starts[static_cast<std::size_t>(s)];
      const std::uint64_t samples = index.shard_starts[static_cast<std::size_t>(s) + 1] - first;
      if (teacher_logits_shard_complete(path, tags, s, first, samples)) continue;
      const ImageRun run = dataset.read_run(split, first, samples);
      TeacherLogitsShardWriter writer(path, tags, slots, s, first, samples);
      const std::uint64_t total = samples * static_cast<std::uint64_t>(views);
      for (std::uint64_t begin = 0; begin < total; begin += static_cast<std::uint64_t>(batch)) {
        const auto n = static_cast<std::int64_t>(
            std::min<std::uint64_t>(static_cast<std::uint64_t>(batch), total - begin));
        at::Tensor images =
            at::empty({n, recipe.channels, recipe.output_height, recipe.output_width});
        std::vector<ViewParams> params(static_cast<std::size_t>(n));
        // Rows are (sample, view) pairs in sample-major order, the order of the shard file.
        at::parallel_for(0, n, 1, [&](std::int64_t from, std::int64_t to) {
          for (std::int64_t j = from; j < to; ++j) {
            const std::uint64_t row = begin + static_cast<std::uint64_t>(j);
            const std::uint64_t sample = first + row / static_cast<std::uint64_t>(views);
            const EncodedImage encoded{run.image(sample),
                                       static_cast<std::size_t>(run.length(sample)),
                                       info.encoding == ImageEncoding::kJpeg,
                                       static_cast<int>(info.height),
                                       static_cast<int>(info.width),
                                       static_cast<int>(info.channels)};
            const JpegSize size = source_size(encoded);
            ViewParams& view = params[static_cast<std::size_t>(j)];
            view = draw_stored_view(recipe, size.width, size.height, tags.seed, tags.repeats,
                                    row % static_cast<std::uint64_t>(views), sample);
            normalize_view(render_view(encoded, view, recipe), view, recipe,
                           images.data_ptr<float>() + j * floats);
          }
        });
        const at::Tensor logits =
            teacher->logits(images.to(context.device)).to(at::kCPU, at::kFloat).contiguous();
        if (logits.dim() != 2 || logits.size(0) != n || logits.size(1) != classes)
          fail(get<std::string>(o, "teacher"), ": the teacher gave logits of shape ",
               logits.sizes(), " for ", n, " images of a dataset with ", classes, " classes");
        const at::Tensor log_sum_exp = at::logsumexp(logits, 1).contiguous();
        at::Tensor kept = logits, indices;
        if (tags.topk > 0) {
          auto top = logits.topk(tags.topk, 1);
          kept = std::get<0>(top);
          indices = std::get<1>(top).to(at::kInt).contiguous();
        }
        // IEEE half bits, as the store keeps them.
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
      writer.finish();
      written += static_cast<std::int64_t>(total);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      progress.update("shard", s + 1, shards,
                      static_cast<double>(written) / std::max(seconds, 1e-9), "views of rank 0");
    }
    context.comm.barrier();
    if (context.root()) {
      write_teacher_logits_index(out, tags, slots, index.shard_starts);
      std::cout << "logits: " << out << ": " << views << " view(s) of " << index.size()
                << " images (" << split << "), "
                << (tags.topk > 0 ? "top-" + std::to_string(tags.topk) : "all") << " of " << classes
                << " classes, from " << tags.teacher << "\n";
    }
    return 0;
  });
}

}  // namespace

std::vector<Command> train_commands() {
  return {
      {"teacher", "train a teacher ViT (for datasets without a pre-trained teacher)", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "teacher");
       },
       teacher_command},
      {"distill", "stage 1: train the auxiliary net by distillation and write the learngene", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "distill");
       },
       distill_command},
      {"finetune", "stage 2: train a descendant (--init tleg) or a baseline at any depth", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "finetune");
       },
       finetune_command},
      {"sweep", "expand and fine-tune many depths at once (or a baseline), ranks split by cost", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "finetune");
         o.add_options()("depths", po::value<std::string>()->required(),
                         "depths: a range and/or list, e.g. 3-12 or 3,6,9,12")(
             "pretrain-epochs", po::value<std::int64_t>()->default_value(0),
             "prefin: epochs of each depth's own pre-training (0: optim.epochs)");
       },
       sweep_command},
      {"logits", "run a teacher over stored augmentation views and keep its logits for distill", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_view_options(o);
         o.add_options()("data", po::value<std::string>()->required(),
                         "dataset store (.h5, from tleg prepare)")(
             "teacher", po::value<std::string>()->required(),
             "teacher: tleg model (.h5) or TorchScript file")(
             "out", po::value<std::string>()->required(),
             "output folder: index.h5 and one shard-NNNNN.h5 per dataset shard")(
             "split", po::value<std::string>()->default_value("train"), "split to store views of")(
             "views", po::value<std::int64_t>()->default_value(1),
             "stored views per image, K; training's epoch e, copy r uses view (e * aug.repeats + "
             "r) mod K")("topk", po::value<std::int64_t>()->default_value(10),
                         "logits kept per view (0: all classes)")(
             "seed", po::value<std::int64_t>()->default_value(0),
             "the training run's run.seed (views depend on it)")(
             "batch", po::value<std::int64_t>()->default_value(256),
             "views per teacher forward pass")("threads",
                                               po::value<std::int64_t>()->default_value(2),
                                               "render and compute threads per rank");
       },
       logits_command},
  };
}

}  // namespace tleg

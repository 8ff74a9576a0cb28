// The training commands: teacher (a model to distil from), distill (stage 1: the auxiliary net
// and its learngene), finetune (stage 2: a descendant or a baseline), sweep (stage 2 over many
// depths) and logits (a teacher's logits over stored views). Their options are declared here
// and read into typed settings (stages/stage.h, sweep/sweep.h, stages/teacher_logits_job.h)
// in one function per kind; the work is one library call over the ranks of the job.
#include <chrono>
#include <functional>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "expansion/methods.h"
#include "sweep/sweep.h"
#include "sweep/sweep_plan.h"
#include "model/cnn_config.h"
#include "launcher/command.h"
#include "stages/stage.h"
#include "stages/teacher_logits_job.h"

namespace tleg {
namespace {

// --init's help: the initialisers of the methods table.
const std::string& initializer_help() {
  static const std::string help = [] {
    std::string names;
    for (const auto& name : initializer_names()) names += (names.empty() ? "" : ", ") + name;
    return "how the model starts: " + names;
  }();
  return help;
}

// Each option's default is the value its settings struct starts with (the struct of the part
// that owns it: the view, the schedule, the optimiser, the model; a stage's own defaults from
// stage_defaults), written here only as the text --help shows.
auto value_s(const std::string& v) { return po::value<std::string>()->default_value(v); }
auto value_i(std::int64_t v) { return po::value<std::int64_t>()->default_value(v); }
auto value_d(double v) { return po::value<double>()->default_value(v, shortest(v)); }
auto value_b(bool v) { return po::value<bool>()->default_value(v); }

std::string channels_text(const std::vector<float>& values) {
  std::string text;
  for (const float v : values) text += (text.empty() ? "" : ",") + shortest(v);
  return text;
}

// The options that decide how a training view is drawn and rendered: training and tleg logits
// share them, so that stored views are the views training renders.
void add_view_options(po::options_description& o) {
  const ViewSettings d;
  o.add_options()("data.mean", value_s(channels_text(d.mean)), "normalisation mean per channel")(
      "data.std", value_s(channels_text(d.std)), "normalisation std per channel")(
      "aug.recipe", value_s(d.recipe),
      "deit (RandomResizedCrop, flip, RandAugment, erasing) or basic (crop and flip)")(
      "aug.scale-min", value_d(d.scale_min), "RandomResizedCrop minimum area fraction")(
      "aug.flip", value_d(d.flip), "probability of a horizontal flip of a training view")(
      "aug.rand-augment", value_s(d.rand_augment),
      "timm's RandAugment config string (deit recipe; DeiT's default)")(
      "aug.dct-scaling", value_b(d.dct_scaling),
      "decode JPEGs at 1/2, 1/4 or 1/8 scale where the crop allows (faster on full-size "
      "images; the released pipeline decodes in full)")(
      "aug.eval-crop-fraction", value_d(d.eval_crop_fraction),
      "evaluation: Resize(output / fraction) then CenterCrop(output) (DeiT's eval_crop_ratio)")(
      "aug.erase", value_d(d.erase), "random-erasing probability (deit recipe)")(
      "aug.repeats", value_i(d.repeats), "repeated augmentation (3 in the DeiT recipe)")(
      "model.image", value_i(d.image), "input image size");
}

void add_training_options(po::options_description& o, const std::string& stage) {
  add_view_options(o);
  const StageSettings d = stage_defaults(stage);
  const TrainSettings& t = d.train;
  const bool distill = stage == "distill";
  o.add_options()("data.store", po::value<std::string>()->required(),
                  "dataset store (.h5, from tleg prepare)")(
      "data.train-split", value_s(d.data.train_split), "split to train on")(
      "data.val-split", value_s(d.data.val_split), "split to evaluate on ('' to skip evaluation)")(
      "data.threads", value_i(d.data.threads), "decode/augment threads per rank")(
      "aug.mixup", value_d(t.mixup.mixup_alpha), "Mixup alpha (0: off)")(
      "aug.cutmix", value_d(t.mixup.cutmix_alpha), "CutMix alpha (0: off)")(
      "aug.mix-prob", value_d(t.mixup.probability), "probability of mixing a batch")(
      "aug.smoothing", value_d(t.mixup.label_smoothing), "label smoothing")(
      "model.size", value_s(d.model.size), "Ti, S or B: sets dim and heads")(
      "model.dim", value_i(d.model.dim), "embedding dim (0: from model.size)")(
      "model.heads", value_i(d.model.heads), "attention heads (0: from model.size)")(
      "model.depth", value_i(d.model.depth),
      distill ? "auxiliary depth L" : "depth (finetune: --depth wins)")(
      "model.patch", value_i(d.model.patch), "patch size")(
      "model.drop-path", value_d(d.model.drop_path), "drop-path rate of the last block")(
      "optim.epochs", value_i(t.epochs), "epochs")("optim.steps-per-epoch",
                                                   value_i(t.max_steps_per_epoch),
                                                   "cap on steps per epoch (0: whole epochs)")(
      "optim.batch", value_i(t.batch), "batch per rank")(
      "optim.lr", value_d(t.lr), "learning rate per 512 images (scaled by the global batch)")(
      "optim.min-lr", value_d(t.min_lr), "cosine floor")("optim.warmup-lr", value_d(t.warmup_lr),
                                                         "warm-up start")(
      "optim.warmup-epochs", value_i(t.warmup_epochs), "warm-up epochs")(
      "optim.warmup-prefix", value_b(t.warmup_prefix),
      "start the cosine after the warm-up (default: timm's CosineLRScheduler as DeiT uses it, "
      "warm-up inside the cosine; epoch e trains at lr(e-1) as DeiT steps it after each epoch)")(
      "optim.lr-per-step", value_b(t.lr_per_step),
      "update the rate every step (default: every epoch, as the recipes)")(
      "optim.weight-decay", value_d(t.weight_decay),
      "AdamW weight decay (none on biases, norms, pos_embed)")(
      "optim.clip-grad", value_d(t.clip_grad), "max gradient norm (0: no clipping)")(
      "run.dir", po::value<std::string>()->required(),
      "run folder: checkpoints, metrics.jsonl, run.json, outputs")(
      "run.seed", value_i(static_cast<std::int64_t>(t.seed)), "seed of every random choice")(
      "run.method", value_s(d.method),
      "method label written to run.json (default from the stage and --init)")(
      "run.log-interval", value_i(t.log_interval), "steps between log lines")(
      "run.checkpoint-every", value_i(t.checkpoint_every),
      "steps between checkpoints (0: at epoch ends)")("run.keep", value_i(t.keep_checkpoints),
                                                      "checkpoints kept")(
      "run.threads", value_i(d.threads), "compute threads per rank (CPU)")(
      "run.precision", value_s(precision_request_name(d.precision)),
      "compute precision: auto (bf16 where the device computes it natively: a CPU with "
      "AVX512_BF16 or AMX_BF16, a GPU of compute capability 8.0 or newer; fp32 elsewhere), fp32, "
      "or bf16 (matrix products and activations in bfloat16 over float32 master weights)")(
      "run.stop-after-steps", value_i(t.stop_after_steps),
      "stop (with a checkpoint) after this many steps of this process")(
      "dist.timeout", value_i(d.timeout_seconds),
      "seconds a collective may wait for the other ranks before the job ends naming it")(
      "resume", po::bool_switch(), "continue from the newest valid checkpoint in run.dir");
  if (distill) {
    o.add_options()("distill.teacher", value_s(d.teacher.model),
                    "teacher run live on every batch: tleg model (.h5) or TorchScript file")(
        "distill.logits", value_s(d.teacher.logits),
        "stored teacher logits (folder from tleg logits) instead of a live teacher")(
        "distill.views", value_i(d.teacher.views),
        "view count the stored logits must hold (0: any)")("distill.tau", value_d(t.tau),
                                                           "distillation temperature")(
        "distill.alpha", value_d(t.alpha), "weight of the distillation term (1: no label term)")(
        "distill.kl-reduction", value_s(kl_reduction_name(t.kl_reduction)),
        "mean: the KL summed and divided by batch x classes (DeiT's losses.py); batchmean: by "
        "the batch only (the KL per image, classes times larger)")(
        "init-learngene", value_s(d.init_learngene),
        "start the auxiliary net from this learngene (e.g. tleg linearity --write-learngene) "
        "instead of random values; its architecture must be the run's");
  }
  if (stage == "teacher") {
    o.add_options()("model.arch", value_s(d.model.arch),
                    "vit, or cnn: a convolutional teacher for small images (convnet teachers "
                    "distil best); the model.size/dim/heads/depth/patch/drop-path options are a "
                    "ViT's")("model.cnn-widths", value_s(widths_text(d.model.cnn_widths)),
                             "cnn: output channels of each stage (3x3 conv-BN-ReLU blocks, a 2x2 "
                             "max-pool between stages)")(
        "model.cnn-convs", value_i(d.model.cnn_convs), "cnn: convolutions per stage");
  }
  if (stage == "finetune") {
    const InitSettings init;
    o.add_options()("init", value_s(init.method), initializer_help().c_str())(
        "depth", value_i(init.depth), "depth of the model (0: model.depth)")(
        "learngene", value_s(init.learngene), "learngene file (--init tleg)")(
        "from", value_s(init.pretrained),
        "the pre-trained model of every --init that takes one (subset, prefin, "
        "weight-selection, heur-lg, auto-lg): tleg .h5, or a timm state dict (.pt, "
        ".safetensors), which records no head count: the model's is taken")(
        "subset-layers", value_s(init.subset_layers), "subset: first or spread")(
        "new-head",
        "transfer to another label space: the head is initialised as a scratch model's, "
        "everything else comes from the learngene or pre-trained model (needed when the "
        "source was trained on another store or class count; weight-selection, heur-lg and "
        "auto-lg always give a fresh head)");
  }
}

}  // namespace

const std::set<std::string>& result_neutral_options() {
  static const std::set<std::string> names = {
      "help",
      "check",
      "check-plan",
      "print-config",
      "config",  // the values its INI files set are recorded, not their paths
      "run.dir",
      "resume",
      "run.log-interval",
      "run.checkpoint-every",
      "run.keep",
      "run.stop-after-steps",
      "dist.timeout",
      "run.method",     // a label in run.json
      "data.store",     // recorded as its fingerprint (data.fingerprint), wherever it lies
      "data.threads",   // views come from counter-based random numbers, whichever thread draws
      "run.precision",  // recorded as the precision it resolved to (precision)
      "depths",         // tleg sweep: which depths this process runs; each run records its model
  };
  return names;
}

std::map<std::string, std::string> recorded_options(const Options& options) {
  return options.all_values_except(result_neutral_options());
}

const std::set<std::string>& input_file_options() {
  static const std::set<std::string> names = {
      "distill.teacher", "distill.logits", "init-learngene", "learngene", "from", "prefin-from",
  };
  return names;
}

std::map<std::string, std::string> resolved_options(const Options& options) {
  return options.ini_values_except(
      {"help", "check", "check-plan", "print-config", "config", "resume", "run.dir"});
}

std::map<std::string, std::string> recipe_options(const Options& options) {
  std::set<std::string> left_out = result_neutral_options();
  left_out.insert(input_file_options().begin(), input_file_options().end());
  left_out.insert("run.seed");
  left_out.insert("depth");  // runs are grouped by the model's depth (a sweep's option reads 0)
  return options.all_values_except(left_out);
}

namespace {

std::vector<float> channel_values(const std::string& text) {
  std::vector<float> values;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stof(item));
  return values;
}

ViewSettings view_settings(Options& o) {
  ViewSettings s;
  s.recipe = o.get<std::string>("aug.recipe");
  s.scale_min = o.get<double>("aug.scale-min");
  s.flip = o.get<double>("aug.flip");
  s.erase = o.get<double>("aug.erase");
  s.rand_augment = o.get<std::string>("aug.rand-augment");
  s.dct_scaling = o.get<bool>("aug.dct-scaling");
  s.eval_crop_fraction = o.get<double>("aug.eval-crop-fraction");
  s.mean = channel_values(o.get<std::string>("data.mean"));
  s.std = channel_values(o.get<std::string>("data.std"));
  s.repeats = o.get<std::int64_t>("aug.repeats");
  s.image = o.get<std::int64_t>("model.image");
  return s;
}

TrainSettings train_settings(Options& o, const std::string& stage) {
  TrainSettings s;
  s.epochs = o.get<std::int64_t>("optim.epochs");
  s.max_steps_per_epoch = o.get<std::int64_t>("optim.steps-per-epoch");
  s.batch = o.get<std::int64_t>("optim.batch");
  s.lr = o.get<double>("optim.lr");
  s.min_lr = o.get<double>("optim.min-lr");
  s.warmup_lr = o.get<double>("optim.warmup-lr");
  s.warmup_epochs = o.get<std::int64_t>("optim.warmup-epochs");
  s.warmup_prefix = o.get<bool>("optim.warmup-prefix");
  s.lr_per_step = o.get<bool>("optim.lr-per-step");
  s.weight_decay = o.get<double>("optim.weight-decay");
  s.clip_grad = o.get<double>("optim.clip-grad");
  s.mixup.mixup_alpha = o.get<double>("aug.mixup");
  s.mixup.cutmix_alpha = o.get<double>("aug.cutmix");
  s.mixup.probability = o.get<double>("aug.mix-prob");
  s.mixup.label_smoothing = o.get<double>("aug.smoothing");
  s.log_interval = o.get<std::int64_t>("run.log-interval");
  s.checkpoint_every = o.get<std::int64_t>("run.checkpoint-every");
  s.keep_checkpoints = o.get<std::int64_t>("run.keep");
  s.resume = o.get<bool>("resume");
  s.seed = static_cast<std::uint64_t>(o.get<std::int64_t>("run.seed"));
  s.run_dir = o.get<std::string>("run.dir");
  s.stop_after_steps = o.get<std::int64_t>("run.stop-after-steps");
  if (stage == "distill") {
    s.distill = true;
    s.tau = o.get<double>("distill.tau");
    s.alpha = o.get<double>("distill.alpha");
    s.kl_reduction = parse_kl_reduction(o.get<std::string>("distill.kl-reduction"));
  }
  return s;
}

// The command and its options as given, and the INI files read, for run.json.
Provenance provenance(Options& o, const std::string& command) {
  return {.name = command,
          .command_line = o.command_line(),
          .config_files =
              o.find<std::vector<std::string>>("config").value_or(std::vector<std::string>{}),
          .resolved_options = resolved_options(o)};
}

// The settings of a training stage, from the options add_training_options declared for it.
StageSettings stage_settings(Options& o, const std::string& stage) {
  StageSettings s;
  s.stage = stage;
  s.data.store = o.get<std::string>("data.store");
  s.data.train_split = o.get<std::string>("data.train-split");
  s.data.val_split = o.get<std::string>("data.val-split");
  s.data.threads = o.get<std::int64_t>("data.threads");
  s.view = view_settings(o);
  s.model.size = o.get<std::string>("model.size");
  s.model.dim = o.get<std::int64_t>("model.dim");
  s.model.heads = o.get<std::int64_t>("model.heads");
  s.model.depth = o.get<std::int64_t>("model.depth");
  s.model.patch = o.get<std::int64_t>("model.patch");
  s.model.drop_path = o.get<double>("model.drop-path");
  if (stage == "teacher") {
    s.model.arch = o.get<std::string>("model.arch");
    s.model.cnn_widths = parse_widths(o.get<std::string>("model.cnn-widths"), "model.cnn-widths");
    s.model.cnn_convs = o.get<std::int64_t>("model.cnn-convs");
    if (s.model.arch != "vit" && s.model.arch != "cnn")
      fail("model.arch must be vit or cnn, got '", s.model.arch, "'");
    // A shared config file may carry the students' ViT options (experiments/*/common.ini); the
    // command line naming the other architecture's options is a mistake worth stopping.
    const bool cnn = s.model.arch == "cnn";
    for (const char* name : {"model.size", "model.dim", "model.heads", "model.depth", "model.patch",
                             "model.drop-path", "model.cnn-widths", "model.cnn-convs"}) {
      const bool for_cnn = std::string(name).starts_with("model.cnn-");
      if (for_cnn != cnn && o.on_command_line(name))
        fail("--", name, " applies to ", for_cnn ? "the CNN" : "a ViT", " but --model.arch is ",
             s.model.arch, "; remove --", name,
             cnn ? " (size the CNN with --model.cnn-widths and --model.cnn-convs)"
                 : " or give --model.arch cnn");
    }
  }
  s.train = train_settings(o, stage);
  if (stage == "distill") {
    s.teacher.model = o.get<std::string>("distill.teacher");
    s.teacher.logits = o.get<std::string>("distill.logits");
    s.teacher.views = o.get<std::int64_t>("distill.views");
    s.init_learngene = o.get<std::string>("init-learngene");
    if (s.teacher.model.empty() == s.teacher.logits.empty())
      fail(
          "distill needs exactly one of --distill.teacher (a live teacher) and --distill.logits "
          "(stored logits from tleg logits)");
  }
  s.method = o.get<std::string>("run.method");
  s.threads = o.get<std::int64_t>("run.threads");
  s.precision = parse_precision(o.get<std::string>("run.precision"));
  s.timeout_seconds = o.get<std::int64_t>("dist.timeout");
  s.provenance = provenance(o, stage);
  s.train.recorded_settings = recorded_options(o);
  s.recipe = recipe_options(o);
  return s;
}

InitSettings init_settings(Options& o) {
  check_initializer(o.get<std::string>("init"));
  return {.method = o.get<std::string>("init"),
          .depth = o.get<std::int64_t>("depth"),
          .learngene = o.get<std::string>("learngene"),
          .pretrained = o.get<std::string>("from"),
          .subset_layers = o.get<std::string>("subset-layers"),
          .new_head = o.given("new-head")};
}

SweepSettings sweep_settings(Options& o) {
  SweepSettings s{.stage = stage_settings(o, "finetune"), .init = init_settings(o)};
  s.stage.provenance.name = "sweep";
  s.depths = parse_depths(o.get<std::string>("depths"));
  s.pretrain_epochs = o.get<std::int64_t>("pretrain-epochs");
  s.pretrained_runs = o.get<std::string>("prefin-from");
  if (!s.pretrained_runs.empty() && s.init.method != "prefin")
    fail("--prefin-from is for --init prefin (got --init ", s.init.method, ")");
  return s;
}

EvaluateSettings evaluate_settings(Options& o) {
  EvaluateSettings s;
  s.model = o.get<std::string>("model");
  s.learngene = o.get<std::string>("learngene");
  s.depth = o.get<std::int64_t>("depth");
  s.data.store = o.get<std::string>("data.store");
  s.data.val_split = o.get<std::string>("data.val-split");
  s.data.threads = o.get<std::int64_t>("data.threads");
  s.view = view_settings(o);
  s.batch = o.get<std::int64_t>("optim.batch");
  s.threads = o.get<std::int64_t>("run.threads");
  s.precision = parse_precision(o.get<std::string>("run.precision"));
  s.out = o.get<std::string>("out");
  s.progress_seconds = o.get<double>("run.progress-seconds");
  for (const char* name : {"data.mean", "data.std", "aug.eval-crop-fraction"})
    if (o.set_explicitly(name)) s.given.insert(name);
  // auto (a training INI file's value too) means what the model's run resolved it to.
  if (s.precision != PrecisionRequest::kAuto) s.given.insert("run.precision");
  if (s.model.empty() == s.learngene.empty())
    fail("evaluate needs exactly one of --model FILE and --learngene FILE --depth D");
  if (!s.learngene.empty() && s.depth < 1)
    fail("--learngene needs --depth D (at least 1), got ", s.depth);
  return s;
}

LogitsSettings logits_settings(Options& o) {
  return {.data = o.get<std::string>("data.store"),
          .teacher = o.get<std::string>("distill.teacher"),
          .out = o.get<std::string>("out"),
          .split = o.get<std::string>("data.train-split"),
          .views = o.get<std::int64_t>("distill.views"),
          .topk = o.get<std::int64_t>("logits.topk"),
          .seed = o.get<std::int64_t>("run.seed"),
          .batch = o.get<std::int64_t>("logits.batch"),
          .threads = o.get<std::int64_t>("run.threads"),
          .precision = parse_precision(o.get<std::string>("run.precision")),
          .view = view_settings(o),
          .provenance = provenance(o, "logits")};
}

// --from names the pre-trained source of every initialiser that takes one; --pretrained was
// subset's and prefin's alone.
const std::map<std::string, std::string> kFromRenamed = {{"pretrained", "from"}};

// `work` over every rank of the job, through a communicator of `options`; an error on any rank
// ends the job with its message.
int on_world(const dist::CommunicatorOptions& options,
             const std::function<int(const StageContext&)>& work) {
  dist::World world(nullptr, nullptr);
  return dist::run_or_abort(world, [&] {
    const auto communicator = dist::make_communicator(world, world.device(), options);
    return work({*communicator, world.device(), world});
  });
}

// A stage's collectives wait dist.timeout seconds for the other ranks.
dist::CommunicatorOptions communicator_options(const StageSettings& s) {
  return {.timeout = std::chrono::seconds(s.timeout_seconds)};
}

}  // namespace

std::vector<Command> train_commands() {
  return {
      {"teacher", "train a teacher, ViT or CNN (for datasets without a pre-trained teacher)", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "teacher");
       },
       [](Options& o) {
         return [s = stage_settings(o, "teacher")] {
           return on_world(communicator_options(s), [&](const StageContext& world) {
             train_teacher(s, world);
             return 0;
           });
         };
       }},
      {"distill", "stage 1: train the auxiliary net by distillation and write the learngene", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "distill");
       },
       [](Options& o) {
         return [s = stage_settings(o, "distill")] {
           return on_world(communicator_options(s), [&](const StageContext& world) {
             distill(s, world);
             return 0;
           });
         };
       }},
      {"finetune", "stage 2: train a descendant (--init tleg) or a baseline at any depth", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "finetune");
       },
       [](Options& o) {
         return [s = stage_settings(o, "finetune"), init = init_settings(o)] {
           return on_world(communicator_options(s), [&](const StageContext& world) {
             finetune(s, init, world);
             return 0;
           });
         };
       },
       /*skips_other_commands_keys=*/false,
       /*renamed_options=*/kFromRenamed},
      {"sweep", "expand and fine-tune many depths at once (or a baseline), ranks split by cost", "",
       [](po::options_description& o, po::positional_options_description&) {
         add_training_options(o, "finetune");
         const SweepSettings d;
         o.add_options()("depths", po::value<std::string>()->required(),
                         "depths: a range and/or list, e.g. 3-12 or 3,6,9,12")(
             "pretrain-epochs", value_i(d.pretrain_epochs),
             "prefin: epochs of each depth's own pre-training (0: optim.epochs)")(
             "prefin-from", value_s(d.pretrained_runs),
             "prefin: take each depth's pre-trained model from DIR/depth-<d> (another sweep's "
             "runs, e.g. RUN_DIR/scratch-long trained with the same recipe) instead of "
             "pre-training it; the report counts those runs as Pre-Fin's pre-training");
       },
       [](Options& o) {
         return [s = sweep_settings(o)] {
           return on_world(communicator_options(s.stage),
                           [&](const StageContext& world) { return run_sweep(s, world); });
         };
       },
       /*skips_other_commands_keys=*/false,
       /*renamed_options=*/kFromRenamed},
      {"evaluate",
       "top-1/top-5 of a model file, or of a learngene's depth-d descendant, on a split",
       "",
       [](po::options_description& o, po::positional_options_description&) {
         add_view_options(o);
         const EvaluateSettings d;
         o.add_options()("model", value_s(d.model), "model file (.h5: a ViT or a CNN)")(
             "learngene", value_s(d.learngene),
             "learngene file: evaluate its depth --depth descendant, expanded as tleg expand")(
             "depth", value_i(d.depth), "descendant depth (--learngene)")(
             "data.store", po::value<std::string>()->required(),
             "dataset store (.h5, from tleg prepare)")("data.val-split", value_s(d.data.val_split),
                                                       "split to evaluate")(
             "data.threads", value_i(d.data.threads), "decode threads per rank")(
             "optim.batch", value_i(d.batch), "images per batch and rank")(
             "run.threads", value_i(d.threads), "compute threads per rank (CPU)")(
             "run.precision", value_s(precision_request_name(d.precision)),
             "auto (as the model's run resolved it, recorded in its file; else what the device "
             "computes natively), fp32 or bf16")(
             "run.progress-seconds", value_d(d.progress_seconds),
             "seconds between the lines that say how far the evaluation is (0: every batch)")(
             "out", value_s(d.out), "write the result as JSON here");
       },
       [](Options& o) {
         return [s = evaluate_settings(o)] {
           return on_world({}, [&](const StageContext& world) {
             evaluate(s, world);
             return 0;
           });
         };
       },
       // The training stages' INI files may be given: their view keys apply, the rest is skipped.
       /*skips_other_commands_keys=*/true,
       /*renamed_options=*/
       {{"data", "data.store"},
        {"split", "data.val-split"},
        {"batch", "optim.batch"},
        {"threads", "run.threads (compute) and data.threads (decode)"},
        {"precision", "run.precision"}}},
      {"logits",
       "run a teacher over stored augmentation views and keep its logits for distill",
       "",
       [](po::options_description& o, po::positional_options_description&) {
         add_view_options(o);
         const LogitsSettings d;
         // Named as distill names them: the same INI files and values serve both.
         o.add_options()("data.store", po::value<std::string>()->required(),
                         "dataset store (.h5, from tleg prepare)")(
             "distill.teacher", po::value<std::string>()->required(),
             "teacher: tleg model (.h5) or TorchScript file")(
             "out", po::value<std::string>()->required(),
             "output folder: index.h5 and one shard-NNNNN.h5 per dataset shard")(
             "data.train-split", value_s(d.split), "split to store views of (distill's)")(
             "distill.views", value_i(d.views),
             "stored views per image, K; training's epoch e, copy r uses view (e * aug.repeats + "
             "r) mod K")("logits.topk", value_i(d.topk), "logits kept per view (0: all classes)")(
             "run.seed", value_i(d.seed), "the training run's run.seed (views depend on it)")(
             "logits.batch", value_i(d.batch), "views per teacher forward pass")(
             "run.threads", value_i(d.threads), "render and compute threads per rank")(
             "run.precision", value_s(precision_request_name(d.precision)),
             "a tleg model teacher's compute precision, auto, fp32 or bf16 (the training "
             "stages' key: their INI files' precision applies, as it does to a live teacher)");
       },
       [](Options& o) {
         return [s = logits_settings(o)] {
           return on_world({}, [&](const StageContext& world) {
             write_teacher_logits(s, world);
             return 0;
           });
         };
       },
       // The training stages' INI files set the views the logits must match.
       /*skips_other_commands_keys=*/true,
       /*renamed_options=*/
       {{"data", "data.store"},
        {"split", "data.train-split"},
        {"teacher", "distill.teacher"},
        {"views", "distill.views"},
        {"topk", "logits.topk"},
        {"seed", "run.seed"},
        {"batch", "logits.batch"},
        {"threads", "run.threads"}}},
  };
}

}  // namespace tleg

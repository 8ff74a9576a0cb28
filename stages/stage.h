// A training stage from its typed settings: the loaders, the teacher, the model, the Trainer's
// schedule, the outputs (learngene or model file) and the run's cost ledger (run.json). The
// launcher fills the settings from the options once; the sweep (experiments/) reuses them.
#pragma once

#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/view.h"
#include "expansion/initializer.h"
#include "model/cnn_config.h"
#include "model/precision.h"
#include "model/vit_config.h"
#include "train/run_record.h"
#include "train/trainer.h"

namespace tleg {

struct DatasetInfo;
class Classifier;
namespace dist {
class Communicator;
}

inline std::vector<float> per_channel(const std::array<float, 3>& values) {
  return {values.begin(), values.end()};
}

// How a training view is drawn and rendered: training and tleg logits share these, so that
// stored views are the views training renders. The defaults are the view recipe's own
// (data/view.h, DeiT's).
struct ViewSettings {
  std::string recipe = "deit";                        // deit or basic
  double scale_min = ViewRecipe{}.scale_min;          // RandomResizedCrop minimum area fraction
  double flip = ViewRecipe{}.flip_probability;        // horizontal-flip probability
  double erase = ViewRecipe{}.erase_probability;      // random-erasing probability (deit)
  std::string rand_augment = "rand-m9-mstd0.5-inc1";  // timm's RandAugment config string (deit)
  // JPEG decode at 1/2, 1/4, 1/8 where the crop allows
  bool dct_scaling = ViewRecipe{}.dct_scaling;
  // evaluation: Resize(image / fraction), CenterCrop(image)
  double eval_crop_fraction = ViewRecipe{}.eval_crop_fraction;
  std::vector<float> mean = per_channel(ViewRecipe{}.mean);  // per channel
  std::vector<float> std = per_channel(ViewRecipe{}.std);
  std::int64_t repeats = 1;                         // repeated augmentation
  std::int64_t image = ViewRecipe{}.output_height;  // input image size
};

struct DataSettings {
  std::string store;                                     // dataset store (.h5)
  std::string train_split = "train", val_split = "val";  // val_split "": no evaluation
  std::int64_t threads = 2;                              // decode/augment threads per rank
};

// The architecture before the dataset is known (channels and classes come from the store).
struct ModelSettings {
  std::string arch = "vit";         // vit, or cnn (tleg teacher only: the convolutional teacher)
  std::string size = "Ti";          // Ti, S or B: dim and heads
  std::int64_t dim = 0, heads = 0;  // 0: from size
  std::int64_t depth = 12, patch = 16;
  double drop_path = 0;
  std::vector<std::int64_t> cnn_widths = CnnConfig{}.widths;  // arch cnn: channels per stage
  std::int64_t cnn_convs = CnnConfig{}.convs;                 // arch cnn: convolutions per stage
};

// Stage 1's teacher: run live on every batch, or its logits stored by tleg logits.
struct TeacherSettings {
  std::string model;       // tleg model (.h5) or TorchScript file
  std::string logits;      // folder from tleg logits
  std::int64_t views = 0;  // views the stored logits must hold (0: any)
};

struct StageSettings {
  std::string stage;  // teacher, distill or finetune
  DataSettings data;
  ViewSettings view;
  ModelSettings model;
  TrainSettings train;
  TeacherSettings teacher;     // distill only
  std::string init_learngene;  // distill: start from it ("": random values)
  std::string method;          // label in run.json; empty: the stage's default
  std::int64_t threads = 1;    // compute threads per rank (CPU)
  PrecisionRequest precision = PrecisionRequest::kAuto;  // the model's compute precision
  std::int64_t timeout_seconds = 600;                    // a collective's wait for the other ranks
  Provenance provenance;                                 // for run.json and the model file
  // What the run computes apart from its seed and its input files' paths (run.json's recipe:
  // tleg report averages runs that share it as seeds of one model).
  std::map<std::string, std::string> recipe;

  std::string method_or(const std::string& fallback) const {
    return method.empty() ? fallback : method;
  }
};

// Stage 2: how the descendant (or a baseline) is initialised.
struct InitSettings {
  std::string method = "scratch";  // an initialiser of the methods table (expansion/methods.h)
  std::int64_t depth = 0;          // 0: model.depth
  std::string learngene;           // tleg (and the architecture of every method when given)
  std::string pretrained;          // --from: every method that needs a pre-trained model
  std::string subset_layers = "first";
  bool new_head = false;  // a transfer: a fresh head, everything else from the source
};

// A stage's settings before any option: the structs' defaults, and the released recipe's per
// stage (docs/method.md): stage 1 (distill) 150 epochs with 5 of warm-up and no drop path; the
// descendants, baselines and teachers 35 epochs, no warm-up, drop path 0.1. The launcher's
// option defaults are these.
StageSettings stage_defaults(const std::string& stage);
ViewRecipe view_recipe(const ViewSettings& settings, std::int64_t channels);
// The precision `request` resolves to on the job's device (model/precision.h), said in one line
// by rank 0, with the warning when the choice is expected to be slow. Call it after setting the
// thread count: a warning's measurement runs on those threads.
Precision run_precision(PrecisionRequest request, const StageContext& context);
VitConfig model_config(const StageSettings& settings, const DatasetInfo& data);
CnnConfig cnn_config(const StageSettings& settings, const DatasetInfo& data);

// `tleg teacher`: a ViT (model.arch vit) or a CNN (cnn) from scratch, cross-entropy.
void train_teacher(const StageSettings& settings, const StageContext& context);
// `tleg distill`: the auxiliary net by distillation; writes learngene.h5.
void distill(const StageSettings& settings, const StageContext& context);

// The architecture of stage-2 models: the learngene's when one is given (baselines included, so
// that every method trains the same network), else the model settings'; depth `depth`.
VitConfig descendant_config(const StageSettings& settings, const InitSettings& init,
                            const DatasetInfo& data, std::int64_t depth);
// The initialisation `method` (tleg, scratch, subset, prefin) from the init settings.
InitSpec init_spec(const InitSettings& init, const std::string& method, std::uint64_t seed);
// One stage-2 run of a model of `config` initialised by `init` into settings.train.run_dir,
// labelled `method`. Returns whether it ran to the end (not stopped by run.stop-after-steps).
// `extra` goes into run.json's extra fields (e.g. where a Pre-Fin model's pre-training ran).
bool finetune(const StageSettings& settings, const VitConfig& config, const InitSpec& init,
              const std::string& method, const StageContext& context,
              const std::map<std::string, std::string>& extra = {});
// `tleg finetune`: one depth (init.depth, else model.depth) of init.method.
void finetune(const StageSettings& settings, const InitSettings& init, const StageContext& context);

// `tleg evaluate`: a trained model file (ViT or CNN), or the depth-`depth` descendant of a
// learngene expanded in memory as tleg expand writes it, on a split of a store.
struct EvaluateSettings {
  std::string model;      // model file (.h5), or
  std::string learngene;  // learngene file, with
  std::int64_t depth = 0;
  DataSettings data;  // data.val_split is the split evaluated
  ViewSettings view;  // view.image: the model's own image size
  std::int64_t batch = 128;
  std::int64_t threads = 1;  // compute threads per rank (data.threads: the loader's)
  PrecisionRequest precision = PrecisionRequest::kAuto;
  std::string out;                                       // JSON result file ("": none)
  double progress_seconds = kEvaluationProgressSeconds;  // between "evaluating: ..." lines
  // The options of the evaluation view given a value (data.mean, data.std,
  // aug.eval-crop-fraction, run.precision): the others are taken from the model file, which records
  // how its run evaluated it, so that evaluate gives the number training gave.
  std::set<std::string> given;
};

struct EvaluateResult {
  double top1 = 0, top5 = 0;
  std::int64_t samples = 0;
  std::string model;  // what was evaluated, for the line and the JSON
};

// Top-1/top-5 over every rank (each rank a shard, the counts all-reduced: the same on any rank
// count); rank 0 prints one line and writes settings.out.
EvaluateResult evaluate(const EvaluateSettings& settings, const StageContext& context);

}  // namespace tleg

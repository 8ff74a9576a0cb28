#include "expansion/initializer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <utility>

#include "common/error.h"
#include "expansion/learngene.h"
#include "expansion/methods.h"
#include "weights/model_io.h"
#include "weights/state_dict.h"

namespace tleg {
namespace {

class ScratchInitializer final : public Initializer {
 public:
  explicit ScratchInitializer(std::uint64_t seed) : seed_(seed) {}
  void initialise(ViT& model) const override { tleg::initialise(model, seed_); }
  std::int64_t stored_parameters() const override { return 0; }
  std::string describe() const override { return concat("scratch (seed ", seed_, ")"); }

 private:
  std::uint64_t seed_;
};

SourceDataset source_dataset_of(const WeightsFile& weights) {
  const auto field = [&](const std::string& key) {
    const auto found = weights.metadata.find(key);
    return found == weights.metadata.end() ? std::string() : found->second;
  };
  return {field("dataset_fingerprint"), field("dataset")};
}

// Refuses to inherit a head trained for other classes: another class count, or another dataset
// by the fingerprints (a class split of the same size would otherwise pass silently with a head
// whose outputs mean other classes). With --new-head the head is the scratch model's.
void check_head(const WeightsFile& source, const VitConfig& model, const InitSpec& spec) {
  if (spec.new_head) return;
  const SourceDataset trained_on = source_dataset_of(source);
  const bool other_dataset = !trained_on.fingerprint.empty() && !spec.dataset_fingerprint.empty() &&
                             trained_on.fingerprint != spec.dataset_fingerprint;
  if (source.config.classes == model.classes && !other_dataset) return;
  fail(source.source, ": its head was trained for ", source.config.classes, " classes of ",
       trained_on.name.empty() ? "another dataset" : trained_on.name,
       trained_on.fingerprint.empty() ? "" : " (fingerprint " + trained_on.fingerprint + ")",
       ", this run's store has ", model.classes, " classes",
       spec.dataset_fingerprint.empty() ? "" : " (fingerprint " + spec.dataset_fingerprint + ")",
       ": to transfer to this task pass --new-head (a fresh head, everything else inherited), "
       "or use a ",
       source.kind == "learngene" ? "learngene" : "model", " trained on this store");
}

class LearngeneInitializer final : public Initializer {
 public:
  explicit LearngeneInitializer(const InitSpec& spec)
      : learngene_(load_learngene(spec.source)), spec_(spec) {}
  void initialise(ViT& model) const override {
    check_head(learngene_, model.config(), spec_);
    tleg::initialise(model, spec_.seed);  // the fresh head, when it is not inherited
    expand_into(learngene_, model, spec_.new_head);
  }
  std::int64_t stored_parameters() const override { return learngene_.parameter_count(); }
  std::string describe() const override {
    return "tleg expansion of " + learngene_.source + (spec_.new_head ? ", fresh head" : "");
  }
  SourceDataset source_dataset() const override { return source_dataset_of(learngene_); }

 private:
  WeightsFile learngene_;
  InitSpec spec_;
};

// What differs between a pre-trained model's architecture and the model it initialises, as
// "patch 8 (this model: 4), dim 48 (this model: 24)"; "" when they fit. Depth and classes are
// checked on their own (subset, prefin; the head).
std::string architecture_differences(const VitConfig& have, const VitConfig& want) {
  std::string differences;
  for (const auto& [label, field] :
       {std::pair{"image", &VitConfig::image_size}, std::pair{"patch", &VitConfig::patch_size},
        std::pair{"channels", &VitConfig::channels}, std::pair{"dim", &VitConfig::dim},
        std::pair{"heads", &VitConfig::heads}, std::pair{"mlp ratio", &VitConfig::mlp_ratio}})
    if (have.*field != want.*field)
      differences += concat(differences.empty() ? "" : ", ", label, " ", have.*field,
                            " (this model: ", want.*field, ")");
  return differences;
}

// Copies the embedding, final norm and (when the classes match) the head of a pre-trained model
// plus a choice of its blocks. The source is anything load_trained_vit reads: a tleg model
// (.h5) or a timm state dict (.pt, .safetensors), whose head count, which its shapes do not
// tell, is the initialised model's.
class PretrainedInitializer final : public Initializer {
 public:
  explicit PretrainedInitializer(const InitSpec& spec)
      : spec_(spec), file_(load_trained_vit(spec.source)) {}

  void initialise(ViT& model) const override {
    const VitConfig& want = model.config();
    // A state dict records no head count (0): the model's. The copy shares the tensors.
    WeightsFile source_file = file_;
    if (source_file.config.heads == 0) source_file.config.heads = want.heads;
    const VitConfig& have = source_file.config;
    if (const std::string differences = architecture_differences(have, want); !differences.empty())
      fail(spec_.source, ": the pre-trained model does not fit this one: ", differences);
    if (spec_.method == "prefin" && have.depth != want.depth)
      fail(spec_.source, ": prefin needs a pre-trained model of depth ", want.depth,
           ", this one has ", have.depth, " (pre-train that depth first, or use --init subset)");
    if (have.depth < want.depth)
      fail(spec_.source, ": cannot take ", want.depth, " layers from a model of depth ",
           have.depth);
    // Every tensor's name and shape, before check_head reads the class count off head.weight.
    const std::shared_ptr<ViT> source = load_vit(source_file);
    check_head(file_, want, spec_);
    tleg::initialise(model, spec_.seed);
    at::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < want.depth; ++i) {
      const std::int64_t from = subset_layer(spec_.subset_layers, i, want.depth, have.depth);
      copy_block_weights(model.block(i)->weights(), source->block(from)->weights());
    }
    model.patch_embed->proj_weight.copy_(source->patch_embed->proj_weight);
    model.patch_embed->proj_bias.copy_(source->patch_embed->proj_bias);
    model.pos_embed.copy_(source->pos_embed);
    model.fc_norm->weight.copy_(source->fc_norm->weight);
    model.fc_norm->bias.copy_(source->fc_norm->bias);
    if (!spec_.new_head) {  // check_head: the same classes
      model.head->weight.copy_(source->head->weight);
      model.head->bias.copy_(source->head->bias);
    }
  }
  std::int64_t stored_parameters() const override { return vit_parameter_count(file_.config); }
  std::string describe() const override {
    return (spec_.method == "prefin"
                ? "pre-trained model " + spec_.source
                : concat("subset (", spec_.subset_layers, " layers) of ", spec_.source)) +
           (spec_.new_head ? ", fresh head" : "");
  }
  SourceDataset source_dataset() const override { return source_dataset_of(file_); }

 private:
  InitSpec spec_;
  WeightsFile file_;  // heads 0 for a state dict
};

}  // namespace

std::int64_t subset_layer(const std::string& layers, std::int64_t i, std::int64_t depth,
                          std::int64_t source_depth) {
  if (layers == "first") return i;
  if (layers == "spread") {
    if (depth == 1) return 0;
    return static_cast<std::int64_t>(
        std::llround(static_cast<double>(i) * static_cast<double>(source_depth - 1) /
                     static_cast<double>(depth - 1)));
  }
  fail("unknown subset layer choice '", layers, "': use first or spread");
}

std::unique_ptr<Initializer> make_initializer(const InitSpec& spec) {
  check_initializer(spec.method);
  const Method& method = *find_method(spec.method);
  if ((method.needs_learngene || method.needs_pretrained) && spec.source.empty())
    fail("--init ", spec.method, " needs a source file (",
         method.needs_learngene ? "--learngene" : "--pretrained", ")");
  if (method.needs_learngene) return std::make_unique<LearngeneInitializer>(spec);
  if (method.needs_pretrained) return std::make_unique<PretrainedInitializer>(spec);
  return std::make_unique<ScratchInitializer>(spec.seed);
}

}  // namespace tleg

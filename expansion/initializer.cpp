#include "expansion/initializer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "common/error.h"
#include "expansion/learngene.h"
#include "expansion/methods.h"
#include "expansion/mimetic.h"
#include "expansion/weight_selection.h"
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

// One architecture field of a pre-trained model and the model it initialises, for messages.
struct ConfigField {
  const char* label;
  std::int64_t (*value)(const VitConfig&);
};
const ConfigField kImage{"image", [](const VitConfig& c) { return c.image_size; }};
const ConfigField kPatch{"patch", [](const VitConfig& c) { return c.patch_size; }};
const ConfigField kChannels{"channels", [](const VitConfig& c) { return c.channels; }};
const ConfigField kDim{"dim", [](const VitConfig& c) { return c.dim; }};
const ConfigField kHeads{"heads", [](const VitConfig& c) { return c.heads; }};
const ConfigField kMlpRatio{"mlp ratio", [](const VitConfig& c) { return c.mlp_ratio; }};
const ConfigField kMlpWidth{"mlp width", [](const VitConfig& c) { return c.hidden(); }};

// What keeps a pre-trained model of `have` from serving one of `want`: each field of `same` that
// differs and each of `at_least` that is smaller, as "patch 8 (this model: 4), dim 12 (this
// model: 24)"; "" when it serves. Depth and classes are checked on their own (each initialiser's
// rule; the head).
std::string what_differs(const VitConfig& have, const VitConfig& want,
                         std::initializer_list<ConfigField> same,
                         std::initializer_list<ConfigField> at_least = {}) {
  std::string differences;
  const auto add = [&](const ConfigField& field) {
    differences += concat(differences.empty() ? "" : ", ", field.label, " ", field.value(have),
                          " (this model: ", field.value(want), ")");
  };
  for (const ConfigField& field : same)
    if (field.value(have) != field.value(want)) add(field);
  for (const ConfigField& field : at_least)
    if (field.value(have) < field.value(want)) add(field);
  return differences;
}

// The source file with the head count of a state dict, which records none (0), taken from the
// model it initialises. The copy shares the tensors.
WeightsFile with_heads_of(const WeightsFile& file, const VitConfig& model) {
  WeightsFile source = file;
  if (source.config.heads == 0) source.config.heads = model.heads;
  return source;
}

// A pre-trained model of `want`'s very architecture (all but its depth), as a ViT: refused
// naming what differs, then every tensor's name and shape checked by load_vit.
std::shared_ptr<ViT> same_architecture_source(const WeightsFile& file, const VitConfig& want) {
  const WeightsFile source = with_heads_of(file, want);
  if (const std::string differences =
          what_differs(source.config, want, {kImage, kPatch, kChannels, kDim, kHeads, kMlpRatio});
      !differences.empty())
    fail(file.source, ": the pre-trained model does not fit this one: ", differences);
  return load_vit(source);
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
    const std::shared_ptr<ViT> source = same_architecture_source(file_, want);
    const std::int64_t source_depth = source->depth();
    if (spec_.method == "prefin" && source_depth != want.depth)
      fail(spec_.source, ": prefin needs a pre-trained model of depth ", want.depth,
           ", this one has ", source_depth, " (pre-train that depth first, or use --init subset)");
    if (source_depth < want.depth)
      fail(spec_.source, ": cannot take ", want.depth, " layers from a model of depth ",
           source_depth);
    check_head(file_, want, spec_);
    tleg::initialise(model, spec_.seed);
    at::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < want.depth; ++i) {
      const std::int64_t from = subset_layer(spec_.subset_layers, i, want.depth, source_depth);
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

// Mimetic initialisation: scratch, then every block's attention weights from its mimetic
// targets (mimetic.h); no source.
class MimeticInitializer final : public Initializer {
 public:
  explicit MimeticInitializer(std::uint64_t seed) : seed_(seed) {}
  void initialise(ViT& model) const override {
    tleg::initialise(model, seed_);
    const std::vector<MimeticTargets> targets = mimetic_targets(model.config(), seed_);
    for (std::int64_t i = 0; i < model.depth(); ++i)
      set_mimetic_attention(model.block(i)->weights(), targets[static_cast<std::size_t>(i)]);
  }
  std::int64_t stored_parameters() const override { return 0; }
  std::string describe() const override {
    const MimeticSettings settings;
    return concat("mimetic (seed ", seed_, "; query-key ", settings.query_key_alpha, " Z + ",
                  settings.query_key_beta, " I, value-proj ", settings.value_proj_alpha, " Z - ",
                  settings.value_proj_beta, " I)");
  }

 private:
  std::uint64_t seed_;
};

// Weight selection: every tensor but the head selected from a pre-trained model at least as
// large (weight_selection.h), block i from its block i; the head the scratch model's. A state
// dict's head count does not matter: selection works on the tensors' dimensions.
class WeightSelectionInitializer final : public Initializer {
 public:
  explicit WeightSelectionInitializer(const InitSpec& spec)
      : spec_(spec), file_(load_trained_vit(spec.source)) {}

  void initialise(ViT& model) const override {
    const VitConfig& want = model.config();
    if (const std::string differences =
            what_differs(file_.config, want, {kImage, kPatch, kChannels}, {kDim, kMlpWidth});
        !differences.empty())
      fail(spec_.source,
           ": weight selection needs a pre-trained model at least as wide as this one, of the "
           "same image, patch and channels: ",
           differences);
    if (file_.config.depth < want.depth)
      fail(spec_.source, ": weight selection cannot take ", want.depth,
           " layers from a model of depth ", file_.config.depth);
    tleg::initialise(model, spec_.seed);  // the head
    at::NoGradGuard no_grad;
    for (auto& item : model.named_parameters()) {
      if (item.key().starts_with("head.")) continue;
      item.value().copy_(
          selected_tensor(item.key(), file_.tensor(item.key()), item.value().sizes()));
    }
  }
  std::int64_t stored_parameters() const override { return vit_parameter_count(file_.config); }
  std::string describe() const override {
    return "weight selection from " + spec_.source + ", fresh head";
  }
  SourceDataset source_dataset() const override { return source_dataset_of(file_); }

 private:
  InitSpec spec_;
  WeightsFile file_;  // heads 0 for a state dict
};

// The learngene baselines as Cluster-Learngene applies them to DeiT: a pre-trained model of the
// same architecture gives some of its blocks (learngene_baseline_blocks) and its patch and
// position embeddings; the other blocks, the final norm and the head are the scratch model's.
class LearngeneBaselineInitializer final : public Initializer {
 public:
  explicit LearngeneBaselineInitializer(const InitSpec& spec)
      : spec_(spec), file_(load_trained_vit(spec.source)) {}

  void initialise(ViT& model) const override {
    const std::shared_ptr<ViT> source = same_architecture_source(file_, model.config());
    const InheritedBlocks blocks =
        learngene_baseline_blocks(spec_.method, source->depth(), model.depth());
    tleg::initialise(model, spec_.seed);
    at::NoGradGuard no_grad;
    for (std::int64_t j = 0; j < blocks.count; ++j)
      copy_block_weights(model.block(blocks.model_first + j)->weights(),
                         source->block(blocks.source_first + j)->weights());
    model.patch_embed->proj_weight.copy_(source->patch_embed->proj_weight);
    model.patch_embed->proj_bias.copy_(source->patch_embed->proj_bias);
    model.pos_embed.copy_(source->pos_embed);
  }
  // The inherited part: its blocks and the patch and position embeddings.
  std::int64_t stored_parameters() const override {
    const InheritedBlocks blocks =
        learngene_baseline_blocks(spec_.method, file_.config.depth, file_.config.depth);
    std::int64_t embeddings = 0;
    for (const char* name : {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed"})
      embeddings += file_.tensor(name).numel();
    return blocks.count * block_parameter_count(file_.config) + embeddings;
  }
  std::string describe() const override {
    const InheritedBlocks blocks =
        learngene_baseline_blocks(spec_.method, file_.config.depth, file_.config.depth);
    return concat(spec_.method, ": the ", spec_.method == "heur-lg" ? "last " : "first ",
                  blocks.count, " of the ", file_.config.depth,
                  " blocks (those that fit a shallower model) and the patch and position "
                  "embeddings of ",
                  spec_.source, ", fresh head");
  }
  SourceDataset source_dataset() const override { return source_dataset_of(file_); }

 private:
  InitSpec spec_;
  WeightsFile file_;  // heads 0 for a state dict
};

}  // namespace

InheritedBlocks learngene_baseline_blocks(const std::string& method, std::int64_t source_depth,
                                          std::int64_t depth) {
  std::int64_t learngene = 0;  // the blocks the method keeps as its learngene
  if (method == "heur-lg")
    learngene = (source_depth + 3) / 4;
  else if (method == "auto-lg")
    learngene = (source_depth + 1) / 2;
  else
    fail("'", method, "' is no learngene baseline: use heur-lg or auto-lg");
  // A model shallower than the learngene takes the part that fits (tleg's rule).
  InheritedBlocks blocks;
  blocks.count = std::min(learngene, depth);
  if (method == "heur-lg") {
    blocks.source_first = source_depth - blocks.count;
    blocks.model_first = depth - blocks.count;
  }
  return blocks;
}

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
         method.needs_learngene ? "--learngene" : "--from", ")");
  if (method.needs_learngene) return std::make_unique<LearngeneInitializer>(spec);
  if (spec.method == "mimetic") return std::make_unique<MimeticInitializer>(spec.seed);
  if (spec.method == "weight-selection") return std::make_unique<WeightSelectionInitializer>(spec);
  if (spec.method == "heur-lg" || spec.method == "auto-lg")
    return std::make_unique<LearngeneBaselineInitializer>(spec);
  if (method.needs_pretrained) return std::make_unique<PretrainedInitializer>(spec);
  return std::make_unique<ScratchInitializer>(spec.seed);
}

}  // namespace tleg

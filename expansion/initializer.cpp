#include "expansion/initializer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "expansion/learngene.h"
#include "expansion/methods.h"
#include "weights/model_io.h"

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

// Copies the embedding, final norm and (when the classes match) the head of a pre-trained model
// plus a choice of its blocks.
class PretrainedInitializer final : public Initializer {
 public:
  explicit PretrainedInitializer(const InitSpec& spec)
      : spec_(spec), file_(load_weights(spec.source)), source_(load_vit(file_)) {}

  void initialise(ViT& model) const override {
    const VitConfig& want = model.config();
    const VitConfig& have = source_->config();
    VitConfig comparable = want;
    comparable.classes = have.classes;
    if (!comparable.same_architecture(have))
      fail(spec_.source, ": pre-trained ", have.describe(), " does not fit ", want.describe());
    if (spec_.method == "prefin" && have.depth != want.depth)
      fail(spec_.source, ": prefin needs a pre-trained model of depth ", want.depth,
           ", this one has ", have.depth, " (pre-train that depth first, or use --init subset)");
    if (have.depth < want.depth)
      fail(spec_.source, ": cannot take ", want.depth, " layers from a model of depth ",
           have.depth);
    check_head(file_, want, spec_);
    tleg::initialise(model, spec_.seed);
    at::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < want.depth; ++i) {
      const std::int64_t from = subset_layer(spec_.subset_layers, i, want.depth, have.depth);
      copy_block_weights(model.block(i)->weights(), source_->block(from)->weights());
    }
    model.patch_embed->proj_weight.copy_(source_->patch_embed->proj_weight);
    model.patch_embed->proj_bias.copy_(source_->patch_embed->proj_bias);
    model.pos_embed.copy_(source_->pos_embed);
    model.fc_norm->weight.copy_(source_->fc_norm->weight);
    model.fc_norm->bias.copy_(source_->fc_norm->bias);
    if (!spec_.new_head) {  // check_head: the same classes
      model.head->weight.copy_(source_->head->weight);
      model.head->bias.copy_(source_->head->bias);
    }
  }
  std::int64_t stored_parameters() const override { return vit_parameter_count(source_->config()); }
  std::string describe() const override {
    return (spec_.method == "prefin"
                ? "pre-trained model " + spec_.source
                : concat("subset (", spec_.subset_layers, " layers) of ", spec_.source)) +
           (spec_.new_head ? ", fresh head" : "");
  }
  SourceDataset source_dataset() const override { return source_dataset_of(file_); }

 private:
  InitSpec spec_;
  WeightsFile file_;
  std::shared_ptr<ViT> source_;
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

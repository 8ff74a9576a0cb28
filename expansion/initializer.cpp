#include "expansion/initializer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "expansion/learngene.h"
#include "expansion/model_io.h"

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

class LearngeneInitializer final : public Initializer {
 public:
  LearngeneInitializer(const std::string& path, std::uint64_t seed)
      : learngene_(load_learngene(path)), seed_(seed) {}
  void initialise(ViT& model) const override {
    tleg::initialise(model, seed_);  // gives a fresh head when the class counts differ
    expand_into(learngene_, model);
  }
  std::int64_t stored_parameters() const override { return learngene_.parameter_count(); }
  std::string describe() const override { return "tleg expansion of " + learngene_.source; }

 private:
  WeightsFile learngene_;
  std::uint64_t seed_;
};

// Copies the embedding, final norm and (when the classes match) the head of a pre-trained model
// plus a choice of its blocks.
class PretrainedInitializer final : public Initializer {
 public:
  PretrainedInitializer(const std::string& method, const std::string& path,
                        const std::string& layers, std::uint64_t seed)
      : method_(method), layers_(layers), seed_(seed), source_(load_vit(path)), path_(path) {}

  void initialise(ViT& model) const override {
    const VitConfig& want = model.config();
    const VitConfig& have = source_->config();
    VitConfig comparable = want;
    comparable.classes = have.classes;
    if (!comparable.same_architecture(have))
      fail(path_, ": pre-trained ", have.describe(), " does not fit ", want.describe());
    if (method_ == "prefin" && have.depth != want.depth)
      fail(path_, ": prefin needs a pre-trained model of depth ", want.depth, ", this one has ",
           have.depth, " (pre-train that depth first, or use --init subset)");
    if (have.depth < want.depth)
      fail(path_, ": cannot take ", want.depth, " layers from a model of depth ", have.depth);
    tleg::initialise(model, seed_);
    at::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < want.depth; ++i) {
      const std::int64_t from = subset_layer(layers_, i, want.depth, have.depth);
      copy_block_weights(model.block(i)->weights(), source_->block(from)->weights());
    }
    model.patch_embed->proj_weight.copy_(source_->patch_embed->proj_weight);
    model.patch_embed->proj_bias.copy_(source_->patch_embed->proj_bias);
    model.pos_embed.copy_(source_->pos_embed);
    model.fc_norm->weight.copy_(source_->fc_norm->weight);
    model.fc_norm->bias.copy_(source_->fc_norm->bias);
    if (want.classes == have.classes) {
      model.head->weight.copy_(source_->head->weight);
      model.head->bias.copy_(source_->head->bias);
    }
  }
  std::int64_t stored_parameters() const override { return vit_parameter_count(source_->config()); }
  std::string describe() const override {
    return method_ == "prefin" ? "pre-trained model " + path_
                               : concat("subset (", layers_, " layers) of ", path_);
  }

 private:
  std::string method_, layers_;
  std::uint64_t seed_;
  std::shared_ptr<ViT> source_;
  std::string path_;
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
  const bool needs_source =
      spec.method == "tleg" || spec.method == "subset" || spec.method == "prefin";
  if (needs_source && spec.source.empty())
    fail("--init ", spec.method, " needs a source file (",
         spec.method == "tleg" ? "--learngene" : "--pretrained", ")");
  if (spec.method == "scratch") return std::make_unique<ScratchInitializer>(spec.seed);
  if (spec.method == "tleg") return std::make_unique<LearngeneInitializer>(spec.source, spec.seed);
  if (spec.method == "subset" || spec.method == "prefin")
    return std::make_unique<PretrainedInitializer>(spec.method, spec.source, spec.subset_layers,
                                                   spec.seed);
  fail("unknown --init '", spec.method, "': use tleg, scratch, subset or prefin");
}

}  // namespace tleg

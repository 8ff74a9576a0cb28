// The learngene file (round trip and every way it can be broken), expansion to depth d, the
// initialisers (from tleg files and timm state dicts), and the timm export (.pt, .safetensors)
// checked against timm itself through the venv's Python.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "expansion/initializer.h"
#include "expansion/learngene.h"
#include "weights/model_io.h"
#include "weights/state_dict.h"
#include "error_message.h"
#include "temp_dir.h"

namespace tleg {
namespace {

using testing::error_of;
using testing::TempDir;

VitConfig small_config(std::int64_t depth = 12) {
  return {.image_size = 16,
          .patch_size = 4,
          .channels = 3,
          .classes = 7,
          .dim = 24,
          .heads = 3,
          .depth = depth};
}

WeightsFile trained_learngene(std::uint64_t seed = 5) {
  AuxViT aux(small_config());
  initialise(aux, seed);
  at::NoGradGuard no_grad;
  aux.theta_A->norm1->weight.normal_();  // make θ_A's norms non-zero, as after training
  return weights_of(aux, {{"dataset", "unit-test"}, {"command", "tleg distill"}});
}

TEST(WeightsFile, RoundTripKeepsTensorsArchitectureAndMetadata) {
  TempDir dir;
  const WeightsFile learngene = trained_learngene();
  save_weights(learngene, dir.file("lg.h5"));
  const WeightsFile loaded = load_learngene(dir.file("lg.h5"));
  EXPECT_EQ(loaded.kind, "learngene");
  EXPECT_TRUE(loaded.config.same_architecture(learngene.config));
  EXPECT_EQ(loaded.config.depth, 12);
  EXPECT_EQ(loaded.metadata.at("dataset"), "unit-test");
  ASSERT_EQ(loaded.tensors.size(), learngene.tensors.size());
  for (const auto& [name, tensor] : learngene.tensors)
    EXPECT_TRUE(loaded.tensor(name).equal(tensor)) << name;
  EXPECT_EQ(loaded.parameter_count(), learngene_parameter_count(small_config()));
  EXPECT_FALSE(std::filesystem::exists(dir.file("lg.h5.partial")));
}

TEST(WeightsFile, TruncatedFileFailsNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("lg.h5");
  save_weights(trained_learngene(), path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  const std::string message = error_of([&] { load_learngene(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("regenerate"), std::string::npos) << message;
}

TEST(WeightsFile, CorruptedBytesFailTheChecksum) {
  TempDir dir;
  const std::string path = dir.file("lg.h5");
  WeightsFile learngene = trained_learngene();
  // A recognisable tensor, so the test can find its bytes in the file and flip one.
  learngene.tensors.front().second.fill_(1.2345f);
  save_weights(learngene, path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const float marker = 1.2345f;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&marker), 4));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] ^= 0x10;
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  const std::string message = error_of([&] { load_learngene(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("checksum"), std::string::npos) << message;
}

TEST(WeightsFile, WrongShapeFailsNamingTheTensor) {
  TempDir dir;
  WeightsFile learngene = trained_learngene();
  for (auto& [name, tensor] : learngene.tensors)
    if (name == "theta_A.attn.qkv.weight") tensor = at::zeros({10, 24});
  save_weights(learngene, dir.file("bad.h5"));
  const std::string message = error_of([&] { load_learngene(dir.file("bad.h5")); });
  EXPECT_NE(message.find("theta_A.attn.qkv.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[10, 24]"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("bad.h5")), std::string::npos) << message;
}

TEST(WeightsFile, NotAWeightsFileAndWrongKindAreExplained) {
  TempDir dir;
  {
    std::ofstream out(dir.file("text.h5"));
    out << "not hdf5";
  }
  EXPECT_NE(error_of([&] { load_learngene(dir.file("text.h5")); }).find("not a readable"),
            std::string::npos);
  ViT vit(small_config(3));
  initialise(vit, 1);
  save_weights(weights_of(vit, {}), dir.file("vit.h5"));
  EXPECT_NE(error_of([&] { load_learngene(dir.file("vit.h5")); }).find("'vit' file"),
            std::string::npos);
}

TEST(Expansion, BlockIOfDepthDIsBasePlusIOverDTimesSlope) {
  const WeightsFile learngene = trained_learngene();
  for (const std::int64_t depth : {1, 3, 5, 12}) {
    auto vit = expand(learngene, depth);
    ASSERT_EQ(vit->depth(), depth);
    for (std::int64_t i = 0; i < depth; ++i) {
      for (const std::string name : {"attn.qkv.weight", "norm1.weight", "mlp.fc2.bias"}) {
        const at::Tensor expected =
            learngene.tensor("theta_B." + name) +
            learngene.tensor("theta_A." + name) * (static_cast<double>(i) / depth);
        const at::Tensor actual =
            vit->named_parameters()["blocks." + std::to_string(i) + "." + name];
        // W_B + t W_A rounds once in float32 either way; t is a float in at::add's alpha.
        EXPECT_TRUE(actual.allclose(expected, 1e-6, 1e-7)) << name << " block " << i;
      }
    }
    EXPECT_TRUE(vit->pos_embed.equal(learngene.tensor("pos_embed")));
    EXPECT_TRUE(vit->head->weight.equal(learngene.tensor("head.weight")));
  }
}

TEST(Expansion, DifferentClassCountKeepsAFreshHead) {
  const WeightsFile learngene = trained_learngene();
  VitConfig config = small_config(4);
  config.classes = 3;
  ViT vit(config);
  initialise(vit, 2);
  expand_into(learngene, vit);
  EXPECT_EQ(vit.head->weight.size(0), 3);
  EXPECT_TRUE(vit.pos_embed.equal(learngene.tensor("pos_embed")));
  config.dim = 48, config.heads = 4;
  ViT other(config);
  EXPECT_NE(error_of([&] { expand_into(learngene, other); }).find("cannot be expanded"),
            std::string::npos);
}

TEST(Initializers, ChosenByNameWithStoredParameterCounts) {
  TempDir dir;
  save_weights(trained_learngene(), dir.file("lg.h5"));
  ViT deep(small_config(8));
  initialise(deep, 9);
  save_weights(weights_of(deep, {}), dir.file("deep.h5"));

  ViT model(small_config(4));
  auto tleg_init = make_initializer({.method = "tleg", .source = dir.file("lg.h5")});
  tleg_init->initialise(model);
  EXPECT_EQ(tleg_init->stored_parameters(), learngene_parameter_count(small_config()));

  auto scratch = make_initializer({.method = "scratch", .seed = 3});
  scratch->initialise(model);
  const at::Tensor first = model.block(0)->attn->qkv->weight.clone();
  scratch->initialise(model);
  EXPECT_TRUE(model.block(0)->attn->qkv->weight.equal(first));
  EXPECT_EQ(scratch->stored_parameters(), 0);

  auto spread = make_initializer(
      {.method = "subset", .source = dir.file("deep.h5"), .subset_layers = "spread"});
  spread->initialise(model);
  EXPECT_TRUE(model.block(3)->mlp->fc1->weight.equal(deep.block(7)->mlp->fc1->weight));
  EXPECT_TRUE(model.block(1)->mlp->fc1->weight.equal(deep.block(2)->mlp->fc1->weight));
  auto first_layers = make_initializer({.method = "subset", .source = dir.file("deep.h5")});
  first_layers->initialise(model);
  EXPECT_TRUE(model.block(3)->mlp->fc1->weight.equal(deep.block(3)->mlp->fc1->weight));
  EXPECT_EQ(first_layers->stored_parameters(), vit_parameter_count(small_config(8)));

  auto prefin = make_initializer({.method = "prefin", .source = dir.file("deep.h5")});
  EXPECT_NE(error_of([&] { prefin->initialise(model); }).find("depth 4"), std::string::npos);
  EXPECT_NE(error_of([&] { make_initializer({.method = "sws"}); }).find("unknown --init"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make_initializer({.method = "tleg"}); }).find("--learngene"),
            std::string::npos);
  for (const std::string method : {"subset", "prefin", "weight-selection", "heur-lg", "auto-lg"})
    EXPECT_NE(error_of([&] {
                make_initializer({.method = method});
              }).find("--init " + method + " needs a source file (--from)"),
              std::string::npos)
        << method;
}

// Heur-LG and Auto-LG from a depth-12 source: which tensors are the source's (its last three or
// first six blocks, at the model's end or start, and its patch and position embeddings) and
// which the scratch model's (the other blocks, the final norm, the head: fresh even from a source
// of another task, without --new-head); a .safetensors export gives the same weights.
TEST(Initializers, LearngeneBaselinesInheritTheirBlocksAndEmbeddingsOnly) {
  TempDir dir;
  ViT source(small_config(12));
  initialise(source, 9);
  {
    at::NoGradGuard no_grad;  // every tensor distinct from a fresh model's
    for (auto& item : source.named_parameters()) item.value().add_(at::randn_like(item.value()));
  }
  save_weights(weights_of(source, {{"dataset", "other"}, {"dataset_fingerprint", "aaaa-7"}}),
               dir.file("source.h5"));
  export_timm(source, dir.file("source.safetensors"));
  const auto source_parameters = source.named_parameters();

  struct Case {
    std::string method;
    std::int64_t depth, source_first, model_first, count;
  };
  // (a model shallower than the learngene takes the part that fits: auto-lg at depth 5, heur-lg
  // at depth 2)
  for (const Case& c :
       {Case{"heur-lg", 12, 9, 9, 3}, Case{"heur-lg", 5, 9, 2, 3}, Case{"heur-lg", 2, 10, 0, 2},
        Case{"auto-lg", 12, 0, 0, 6}, Case{"auto-lg", 8, 0, 0, 6}, Case{"auto-lg", 5, 0, 0, 5}}) {
    SCOPED_TRACE(c.method + " depth " + std::to_string(c.depth));
    const InheritedBlocks blocks = learngene_baseline_blocks(c.method, 12, c.depth);
    EXPECT_EQ(blocks.source_first, c.source_first);
    EXPECT_EQ(blocks.model_first, c.model_first);
    EXPECT_EQ(blocks.count, c.count);
    ViT fresh(small_config(c.depth));
    initialise(fresh, 5);
    auto fresh_parameters = fresh.named_parameters();
    ViT model(small_config(c.depth));
    const auto initializer = make_initializer({.method = c.method,
                                               .source = dir.file("source.h5"),
                                               .seed = 5,
                                               .dataset_fingerprint = "bbbb-7"});
    initializer->initialise(model);
    for (const auto& item : model.named_parameters()) {
      std::string from = item.key();  // the source's tensor it should equal, "" for fresh
      if (item.key().starts_with("blocks.")) {
        const std::size_t dot = item.key().find('.', 7);
        const std::int64_t block = std::stoll(item.key().substr(7, dot - 7));
        const std::int64_t j = block - c.model_first;
        from = j >= 0 && j < c.count
                   ? "blocks." + std::to_string(c.source_first + j) + item.key().substr(dot)
                   : "";
      } else if (!item.key().starts_with("patch_embed.") && item.key() != "pos_embed") {
        from = "";  // fc_norm, head
      }
      if (from.empty()) {
        EXPECT_TRUE(item.value().equal(fresh_parameters[item.key()])) << item.key();
      } else {
        EXPECT_TRUE(item.value().equal(source_parameters[from])) << item.key() << " <- " << from;
      }
    }
    // what is stored is the whole learngene, whatever part of it a model takes
    const std::int64_t learngene = c.method == "heur-lg" ? 3 : 6;
    EXPECT_EQ(initializer->stored_parameters(), learngene * block_parameter_count(small_config()) +
                                                    source.patch_embed->proj_weight.numel() +
                                                    source.patch_embed->proj_bias.numel() +
                                                    source.pos_embed.numel());
    EXPECT_EQ(initializer->source_dataset().fingerprint, "aaaa-7");  // a transfer, recorded
    ViT from_state_dict(small_config(c.depth));
    make_initializer({.method = c.method, .source = dir.file("source.safetensors"), .seed = 5})
        ->initialise(from_state_dict);
    for (const auto& item : from_state_dict.named_parameters())
      EXPECT_TRUE(item.value().equal(model.named_parameters()[item.key()])) << item.key();
  }
  // Depth 8 of a source: heur-lg its last ⌈8/4⌉ = 2.
  const InheritedBlocks eight = learngene_baseline_blocks("heur-lg", 8, 2);
  EXPECT_EQ(eight.count, 2);
  EXPECT_EQ(eight.source_first, 6);
  EXPECT_EQ(eight.model_first, 0);

  VitConfig wider = small_config(12);
  wider.dim = 48;
  ViT other(wider);
  const std::string other_dim = error_of([&] {
    make_initializer({.method = "heur-lg", .source = dir.file("source.h5")})->initialise(other);
  });
  EXPECT_NE(other_dim.find("dim 24 (this model: 48)"), std::string::npos) << other_dim;
}

// A source trained on another store (another task, same class count) gives everything but its
// head with --new-head, and is refused without it; so is one of another class count.
TEST(Initializers, TransferTakesAFreshHeadOnlyWhenAskedAndRefusesOtherwise) {
  TempDir dir;
  WeightsFile learngene = trained_learngene();
  learngene.metadata = {{"dataset", "src[0,2]"}, {"dataset_fingerprint", "aaaa-10"}};
  save_weights(learngene, dir.file("lg.h5"));
  ViT deep(small_config(4));
  initialise(deep, 9);
  save_weights(weights_of(deep, {{"dataset", "src[0,2]"}, {"dataset_fingerprint", "aaaa-10"}}),
               dir.file("deep.h5"));
  ViT fresh(small_config(4));
  initialise(fresh, 5);  // a scratch model of the run's seed: the head a transfer gets

  for (const std::string method : {"tleg", "prefin", "subset"}) {
    const std::string source = dir.file(method == "tleg" ? "lg.h5" : "deep.h5");
    ViT model(small_config(4));
    const InitSpec same{
        .method = method, .source = source, .seed = 5, .dataset_fingerprint = "aaaa-10"};
    make_initializer(same)->initialise(model);  // its own task: the head is inherited
    EXPECT_TRUE(model.head->weight.equal(method == "tleg" ? learngene.tensor("head.weight")
                                                          : deep.head->weight))
        << method;
    InitSpec other = same;
    other.dataset_fingerprint = "bbbb-10";
    const std::string refused = error_of([&] { make_initializer(other)->initialise(model); });
    EXPECT_NE(refused.find("src[0,2] (fingerprint aaaa-10)"), std::string::npos) << refused;
    EXPECT_NE(refused.find("(fingerprint bbbb-10)"), std::string::npos) << refused;
    EXPECT_NE(refused.find("pass --new-head"), std::string::npos) << refused;
    other.new_head = true;
    const auto transfer = make_initializer(other);
    transfer->initialise(model);
    EXPECT_TRUE(model.head->weight.equal(fresh.head->weight)) << method;
    EXPECT_TRUE(model.head->bias.equal(fresh.head->bias)) << method;
    EXPECT_TRUE(
        model.pos_embed.equal(method == "tleg" ? learngene.tensor("pos_embed") : deep.pos_embed))
        << method;
    EXPECT_EQ(transfer->source_dataset().fingerprint, "aaaa-10");
    EXPECT_EQ(transfer->source_dataset().name, "src[0,2]");
    EXPECT_NE(transfer->describe().find("fresh head"), std::string::npos);
    if (method == "prefin") {  // braces: EXPECT_* expands to an if/else
      EXPECT_TRUE(model.block(3)->mlp->fc2->weight.equal(deep.block(3)->mlp->fc2->weight));
    }
  }
  // Another class count is refused too, whatever the fingerprints say.
  VitConfig three = small_config(4);
  three.classes = 3;
  ViT model(three);
  EXPECT_NE(error_of([&] {
              make_initializer({.method = "tleg", .source = dir.file("lg.h5")})->initialise(model);
            }).find("this run's store has 3 classes"),
            std::string::npos);
  make_initializer({.method = "tleg", .source = dir.file("lg.h5"), .new_head = true})
      ->initialise(model);
  EXPECT_EQ(model.head->weight.size(0), 3);
}

// A pre-trained model given as its tleg export (.pt, .safetensors) initialises subset and prefin
// exactly as its .h5 does; the state dict's head count is the initialised model's.
TEST(Initializers, PretrainedStateDictsGiveTheSameWeightsAsTheModelFile) {
  TempDir dir;
  ViT deep(small_config(8));
  initialise(deep, 9);
  {
    at::NoGradGuard no_grad;  // every tensor distinct from a fresh model's
    for (auto& item : deep.named_parameters()) item.value().add_(at::randn_like(item.value()));
  }
  save_weights(weights_of(deep, {}), dir.file("deep.h5"));
  export_timm(deep, dir.file("deep.pt"));
  export_timm(deep, dir.file("deep.safetensors"));

  struct Case {
    std::string method, layers;
    std::int64_t depth;
  };
  for (const Case& c :
       {Case{"subset", "first", 4}, Case{"subset", "spread", 3}, Case{"prefin", "first", 8}}) {
    const auto initialised = [&](const std::string& file) {
      ViT model(small_config(c.depth));
      make_initializer({.method = c.method,
                        .source = dir.file(file),
                        .subset_layers = c.layers,
                        .seed = 4,
                        .dataset_fingerprint = "cccc-7"})
          ->initialise(model);
      return model.named_parameters();
    };
    const auto from_h5 = initialised("deep.h5");
    for (const std::string file : {"deep.pt", "deep.safetensors"}) {
      const auto from_state_dict = initialised(file);
      ASSERT_EQ(from_state_dict.size(), from_h5.size());
      for (const auto& item : from_h5)
        EXPECT_TRUE(from_state_dict[item.key()].equal(item.value()))
            << c.method << " " << c.layers << " from " << file << ": " << item.key();
    }
    // The head is inherited too: a state dict records no dataset, so only its class count is
    // checked.
    EXPECT_TRUE(from_h5["head.weight"].equal(deep.head->weight));
  }
  const auto from_pt = make_initializer({.method = "prefin", .source = dir.file("deep.pt")});
  EXPECT_TRUE(from_pt->source_dataset().fingerprint.empty());
  EXPECT_EQ(from_pt->stored_parameters(), vit_parameter_count(small_config(8)));

  // A student with 6 heads takes the dim-24 state dict as having 6; the .h5 says 3 and is refused.
  VitConfig six_heads = small_config(8);
  six_heads.heads = 6;
  ViT six(six_heads);
  make_initializer({.method = "prefin", .source = dir.file("deep.safetensors")})->initialise(six);
  EXPECT_TRUE(six.block(5)->attn->qkv->weight.equal(deep.block(5)->attn->qkv->weight));
  const std::string heads = error_of([&] {
    make_initializer({.method = "prefin", .source = dir.file("deep.h5")})->initialise(six);
  });
  EXPECT_NE(heads.find("heads 3 (this model: 6)"), std::string::npos) << heads;
}

// A state dict whose architecture does not fit the model is refused naming what differs, as a
// tleg model file is.
TEST(Initializers, APretrainedStateDictThatDoesNotFitIsRefusedNamingTheDifference) {
  TempDir dir;
  const auto exported = [&](VitConfig config, const std::string& name) {
    ViT vit(config);
    initialise(vit, 3);
    export_timm(vit, dir.file(name));
    return dir.file(name);
  };
  VitConfig patch = small_config(4), dim = small_config(4), classes = small_config(4);
  patch.patch_size = 8;
  dim.dim = 48;
  classes.classes = 3;
  const std::string shallow = exported(small_config(2), "shallow.safetensors");
  const auto refusal = [&](const std::string& method, const std::string& source) {
    ViT model(small_config(4));
    return error_of(
        [&] { make_initializer({.method = method, .source = source})->initialise(model); });
  };
  for (const auto& [source, expected] : std::vector<std::pair<std::string, std::string>>{
           {exported(patch, "patch.pt"), "patch 8 (this model: 4)"},
           {exported(dim, "dim.safetensors"), "dim 48 (this model: 24)"},
           {exported(classes, "classes.pt"), "trained for 3 classes"},
           {shallow, "cannot take 4 layers from a model of depth 2"}}) {
    const std::string message = refusal("subset", source);
    EXPECT_NE(message.find(source), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
  EXPECT_NE(refusal("prefin", shallow).find("prefin needs a pre-trained model of depth 4"),
            std::string::npos);
  // Another class count with --new-head: everything but the head.
  ViT model(small_config(4));
  make_initializer({.method = "subset", .source = dir.file("classes.pt"), .new_head = true})
      ->initialise(model);

  // A tensor a tleg ViT does not have (timm's class token) is named.
  ViT vit(small_config(4));
  initialise(vit, 3);
  auto tensors = module_tensors(vit);
  tensors.emplace_back("cls_token", at::zeros({1, 1, 24}));
  save_torch_dict(tensors, dir.file("cls.pt"));
  const std::string extra = refusal("prefin", dir.file("cls.pt"));
  EXPECT_NE(extra.find("unexpected tensor 'cls_token'"), std::string::npos) << extra;
  // A learngene is no pre-trained model.
  save_weights(trained_learngene(), dir.file("lg.h5"));
  EXPECT_NE(refusal("subset", dir.file("lg.h5")).find("'learngene' file"), std::string::npos);
}

// The .safetensors export holds what the .pt export holds, and reads back through both readers.
TEST(Export, SafetensorsRoundTripGivesTheSameTensorsAndModel) {
  TempDir dir;
  ViT vit(small_config(3));
  initialise(vit, 12);
  export_timm(vit, dir.file("m.safetensors"));
  export_timm(vit, dir.file("m.pt"));
  const auto from_pt = read_torch_state_dict(dir.file("m.pt"));
  const auto from_safetensors = read_safetensors(dir.file("m.safetensors"));
  const auto parameters = vit.named_parameters();
  ASSERT_EQ(from_safetensors.size(), parameters.size());
  ASSERT_EQ(from_pt.size(), parameters.size());
  for (const auto& [name, tensor] : from_safetensors) {
    EXPECT_EQ(tensor.scalar_type(), at::kFloat) << name;
    EXPECT_TRUE(tensor.equal(parameters[name])) << name;
  }
  const WeightsFile read = load_trained_vit(dir.file("m.safetensors"), 3);
  EXPECT_TRUE(read.config.same_architecture(vit.config()));
  EXPECT_EQ(read.config.depth, 3);
  vit.eval();
  const auto loaded = load_vit(read);
  loaded->eval();
  const at::Tensor images = at::randn({2, 3, 16, 16});
  EXPECT_TRUE(loaded->forward(images).equal(vit.forward(images)));

  // The header: its length first (little-endian), JSON padded so the tensors start 8-byte aligned,
  // and the metadata safetensors.torch.save_file writes.
  std::string bytes;
  {
    std::ifstream in(dir.file("m.safetensors"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(length % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_NE(bytes.substr(8, length).find(R"("__metadata__":{"format":"pt"})"), std::string::npos);
  const std::size_t payload = static_cast<std::size_t>(vit_parameter_count(vit.config())) * 4;
  EXPECT_EQ(bytes.size(), 8 + length + payload);

  // The format follows the name, and a name that contradicts the one asked for is refused.
  EXPECT_EQ(timm_export_format("", "m.safetensors"), "safetensors");
  EXPECT_EQ(timm_export_format("", "m.pth"), "pt");
  EXPECT_NE(error_of([&] {
              export_timm(vit, dir.file("x.safetensors"), "pt");
            }).find("a pt export cannot end in .safetensors"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              export_timm(vit, dir.file("x.pt"), "safetensors");
            }).find("needs a name ending in .safetensors"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { export_timm(vit, dir.file("x.onnx"), "onnx"); }).find("pt or safetensors"),
      std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.safetensors")));
}

TEST(Export, TimmLoadsTheModelAndComputesTheSameLogits) {
  TempDir dir;
  for (const VitConfig& config : {VitConfig{.image_size = 32,
                                 .patch_size = 8,
                                 .channels = 3,
                                 .classes = 10,
                                 .dim = 48,
                                 .heads = 3,
                                 .depth = 5},
                                  VitConfig{.image_size = 28,
                                  .patch_size = 4,
                                  .channels = 1,
                                  .classes = 10,
                                  .dim = 96,
                                  .heads = 3,
                                  .depth = 3}}) {
    auto vit = std::make_shared<ViT>(config);
    initialise(*vit, 21);
    {
      at::NoGradGuard no_grad;
      for (auto& item : vit->named_parameters())
        item.value().add_(at::randn_like(item.value()), 0.1);
    }
    vit->eval();
    const at::Tensor images = at::randn({4, config.channels, config.image_size, config.image_size});
    const at::Tensor logits = vit->forward(images).detach();
    save_torch_dict({{"images", images},
                     {"logits", logits},
                     {"flops", at::tensor({forward_flops(config)}, at::kLong)}},
                    dir.file("probe.pt"));
    for (const std::string model : {"model.pt", "model.safetensors"}) {
      export_timm(*vit, dir.file(model));
      const std::string command = std::string(TLEG_PYTHON) + " " + TLEG_SOURCE_DIR +
                                  "/tests/python/timm_parity.py --model " + dir.file(model) +
                                  " --probe " + dir.file("probe.pt") + " --timm \"" +
                                  timm_constructor(config) + "\"";
      EXPECT_EQ(std::system(command.c_str()), 0) << command;
    }
  }
}

std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buffer[4096];
  while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  return std::to_string(WEXITSTATUS(status)) + ":" + output;
}

TEST(Launcher, InspectExpandExportFromTheCommandLine) {
  TempDir dir;
  save_weights(trained_learngene(), dir.file("lg.h5"));
  const std::string tleg = TLEG_BINARY;
  const std::string inspected = run(tleg + " inspect " + dir.file("lg.h5"));
  EXPECT_EQ(inspected.rfind("0:", 0), 0u) << inspected;
  EXPECT_NE(inspected.find("kind:         learngene"), std::string::npos) << inspected;
  EXPECT_NE(inspected.find("aux depth:    12"), std::string::npos) << inspected;

  const std::string expanded = run(tleg + " expand --learngene " + dir.file("lg.h5") +
                                   " --depth 6 --out " + dir.file("d6.h5"));
  EXPECT_EQ(expanded.rfind("0:", 0), 0u) << expanded;
  auto model = load_vit(dir.file("d6.h5"));
  EXPECT_EQ(model->depth(), 6);
  const std::string model_info = run(tleg + " inspect " + dir.file("d6.h5"));
  EXPECT_NE(model_info.find("kind:         vit"), std::string::npos) << model_info;

  const std::string exported =
      run(tleg + " export --model " + dir.file("d6.h5") + " --out " + dir.file("d6.pt"));
  EXPECT_EQ(exported.rfind("0:", 0), 0u) << exported;
  EXPECT_NE(exported.find("class_token=False"), std::string::npos) << exported;
  EXPECT_TRUE(std::filesystem::exists(dir.file("d6.pt")));
  const std::string safetensors =
      run(tleg + " export --model " + dir.file("d6.h5") + " --out " + dir.file("d6.safetensors"));
  EXPECT_EQ(safetensors.rfind("0:", 0), 0u) << safetensors;
  EXPECT_NE(safetensors.find("safetensors.torch.load_file("), std::string::npos) << safetensors;
  EXPECT_EQ(load_trained_vit(dir.file("d6.safetensors"), 3).config.depth, 6);
  const std::string contradicted = run(tleg + " export --model " + dir.file("d6.h5") + " --out " +
                                       dir.file("x.safetensors") + " --format pt --check");
  EXPECT_EQ(contradicted.rfind("1:", 0), 0u) << contradicted;
  EXPECT_NE(contradicted.find("cannot end in .safetensors"), std::string::npos) << contradicted;

  const std::string missing = run(tleg + " inspect " + dir.file("absent.h5"));
  EXPECT_EQ(missing.rfind("1:", 0), 0u) << missing;
  EXPECT_NE(missing.find(dir.file("absent.h5")), std::string::npos) << missing;
  EXPECT_EQ(std::count(missing.begin(), missing.end(), '\n'), 1) << missing;
}

}  // namespace
}  // namespace tleg

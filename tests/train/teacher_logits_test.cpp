// The teacher-logits store end to end: `tleg logits` on a tiny raw dataset with a tleg teacher,
// then the training loader regenerates every stored view and its stored logits must be the live
// teacher's logits on that view (fp16 precision); stores of other options are refused with a
// message naming the difference; top-k reconstruction; a short distill run from the store.
#include <ATen/ATen.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "data/dataset_store.h"
#include "data/loader.h"
#include "data/teacher_logits.h"
#include "weights/model_io.h"
#include "weights/weights_file.h"
#include "model/vit.h"
#include "temp_dir.h"
#include "train/losses.h"
#include "train/teacher.h"

namespace tleg {
namespace {

constexpr int kSize = 16;
constexpr std::int64_t kClasses = 3;
constexpr std::int64_t kViews = 3;
constexpr std::uint64_t kSeed = 7;

// 11 random 16x16 grey images in shards of 4 (shards of 4, 4, 3), labels i % 3.
void write_dataset(const std::string& path, std::uint32_t salt) {
  DatasetInfo info{.name = "tiny",
                   .encoding = ImageEncoding::kRaw,
                   .height = kSize,
                   .width = kSize,
                   .channels = 1,
                   .class_names = {"a", "b", "c"},
                   .source = "test"};
  DatasetWriter writer(path, info, 4);
  writer.begin_split("train");
  std::uint32_t state = 12345 + salt;
  for (int i = 0; i < 11; ++i) {
    std::vector<std::uint8_t> pixels(kSize * kSize);
    for (auto& p : pixels)
      p = static_cast<std::uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
    writer.add(pixels.data(), pixels.size(), i % 3);
  }
  writer.end_split();
  writer.finish();
}

ViewRecipe recipe() {
  // What tleg logits and tleg distill build from --model.image 16 --data.mean 0.5 --data.std 0.25.
  ViewRecipe r = ViewRecipe::deit(kSize);
  r.channels = 1;
  r.mean[0] = 0.5f;
  r.std[0] = 0.25f;
  return r;
}

std::string recipe_flags() { return " --model.image 16 --data.mean 0.5 --data.std 0.25"; }

int run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

class TeacherLogitsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    write_dataset(file("data.h5"), 0);
    write_dataset(file("other.h5"), 1);
    ViT teacher({.image_size = kSize,
                 .patch_size = 4,
                 .channels = 1,
                 .classes = kClasses,
                 .dim = 16,
                 .heads = 2,
                 .depth = 2});
    initialise(teacher, 3);
    // A freshly initialised head gives logits near 0; spread them so the comparison means
    // something.
    for (auto& item : teacher.named_parameters())
      if (item.key().starts_with("head")) item.value().data().mul_(200);
    save_weights(weights_of(teacher, {}), file("teacher.h5"));
    const std::string base = std::string(TLEG_BINARY) + " logits --data.store " + file("data.h5") +
                             " --distill.teacher " + file("teacher.h5") +
                             " --distill.views 3 --run.seed 7 --logits.batch 5" + recipe_flags();
    ASSERT_EQ(run(base + " --logits.topk 0 --out " + file("all")), 0);
    ASSERT_EQ(run(base + " --logits.topk 2 --out " + file("top2")), 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string file(const std::string& name) { return dir_->file(name); }

  static LoaderOptions loader(const std::string& store) {
    LoaderOptions options;
    options.path = file("data.h5");
    options.batch_size = 4;
    options.sampler.seed = kSeed;
    options.recipe = recipe();
    options.threads = 2;
    options.drop_last_batch = false;
    options.teacher_logits = store;
    return options;
  }

  static std::string failure(const LoaderOptions& options) {
    try {
      Loader loader(options);
    } catch (const std::exception& error) {
      return error.what();
    }
    return "(no error)";
  }

  static testing::TempDir* dir_;
};

testing::TempDir* TeacherLogitsStoreTest::dir_ = nullptr;

TEST_F(TeacherLogitsStoreTest, StoredLogitsAreTheLiveTeachersOnTheRegeneratedView) {
  const auto teacher = load_teacher(file("teacher.h5"), c10::kCPU);
  Loader loader(TeacherLogitsStoreTest::loader(file("all")));
  ASSERT_TRUE(loader.has_teacher_logits());
  EXPECT_EQ(loader.teacher_logits_identity(), teacher->identity());
  std::int64_t checked = 0;
  // Four epochs: views 0, 1, 2, then view 0 again (epoch e uses view e mod 3).
  for (std::uint64_t epoch = 0; epoch < 4; ++epoch) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      for (std::size_t i = 0; i < batch->views.size(); ++i) {
        const auto sample = static_cast<std::uint64_t>(
            batch->samples[static_cast<std::int64_t>(i)].item<std::int64_t>());
        EXPECT_EQ(batch->views[i],
                  draw_stored_view(recipe(), kSize, kSize, kSeed, 1, epoch % kViews, sample))
            << "epoch " << epoch << " sample " << sample;
      }
      const at::Tensor live = teacher->logits(batch->images);
      ASSERT_EQ(batch->teacher_logits.sizes(), live.sizes());
      // fp16 keeps 11 significant bits: relative error <= 2^-11 ~ 4.9e-4, so 1e-3 relative
      // (plus 1e-3 absolute for logits near 0) holds for every correct value and fails for a
      // logit of another view or sample, which differs by far more.
      EXPECT_TRUE(at::allclose(batch->teacher_logits, live, 1e-3, 1e-3))
          << "max |stored - live| " << (batch->teacher_logits - live).abs().max().item<float>();
      EXPECT_GT((live - live.mean(1, true)).abs().max().item<float>(), 0.1f)
          << "logits too flat to test";
      checked += live.size(0);
    }
  }
  EXPECT_EQ(checked, 44);
}

TEST_F(TeacherLogitsStoreTest, TopKKeepsTheLargestLogitsAndTheRestOfTheMass) {
  const auto teacher = load_teacher(file("teacher.h5"), c10::kCPU);
  Loader loader(TeacherLogitsStoreTest::loader(file("top2")));
  loader.start_epoch(1);
  auto batch = loader.next();
  ASSERT_TRUE(batch);
  const at::Tensor live = teacher->logits(batch->images);
  const at::Tensor stored = batch->teacher_logits;
  const at::Tensor top = std::get<1>(live.topk(2, 1));
  EXPECT_TRUE(at::allclose(stored.gather(1, top), live.gather(1, top), 1e-3, 1e-3));
  // The third class carries exactly the teacher's remaining probability (one class left).
  EXPECT_TRUE(at::allclose(at::softmax(stored, 1), at::softmax(live, 1), 0, 2e-3));
}

TEST_F(TeacherLogitsStoreTest, ABf16TeacherComputesInBf16AndSaysSo) {
  const auto fp32 = load_teacher(file("teacher.h5"), c10::kCPU);
  const auto bf16 = load_teacher(file("teacher.h5"), c10::kCPU, Precision::kBFloat16);
  // The identity is a logits store's tag: a store made by one precision is not the other's.
  EXPECT_NE(bf16->identity().find("bf16"), std::string::npos) << bf16->identity();
  EXPECT_NE(fp32->identity().find("fp32"), std::string::npos) << fp32->identity();
  Loader loader(TeacherLogitsStoreTest::loader(file("all")));
  loader.start_epoch(0);
  const auto batch = loader.next();
  ASSERT_TRUE(batch);
  const at::Tensor exact = fp32->logits(batch->images), rounded = bf16->logits(batch->images);
  EXPECT_EQ(rounded.scalar_type(), at::kFloat);  // returned in the parameters' dtype
  EXPECT_FALSE(at::equal(exact, rounded)) << "the bf16 teacher computed in float32";
  // bf16 keeps 8 significant bits (2^-8 ~ 0.4% per rounding); through the teacher's blocks the
  // roundings add up to a few percent of a logit's scale, far below the gaps between the
  // logits of different images that the test above tells apart.
  const double scale = exact.abs().max().item<double>();
  EXPECT_LT((exact - rounded).abs().max().item<double>(), 0.05 * scale);
}

TEST(TeacherLogits, ReconstructionSpreadsTheRemainingMassEvenly) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
  const at::Tensor full = at::tensor(logits);
  const float lse = at::logsumexp(full, 0).item<float>();
  const std::vector<std::uint16_t> values = {c10::Half(3.0f).x, c10::Half(2.0f).x};
  const std::vector<std::int32_t> indices = {3, 0};
  std::vector<float> out(5);
  reconstruct_logits(values.data(), indices.data(), 2, lse, 5, out.data());
  EXPECT_EQ(out[3], 3.0f);
  EXPECT_EQ(out[0], 2.0f);
  EXPECT_EQ(out[1], out[2]);
  EXPECT_EQ(out[1], out[4]);
  const at::Tensor p = at::softmax(at::tensor(out), 0), q = at::softmax(full, 0);
  // Exact arithmetic up to float rounding of lse and log: 1e-6.
  EXPECT_NEAR(p[3].item<float>(), q[3].item<float>(), 1e-6);
  EXPECT_NEAR(p[0].item<float>(), q[0].item<float>(), 1e-6);
  EXPECT_NEAR(3 * p[1].item<float>(), (q[1] + q[2] + q[4]).item<float>(), 1e-6);

  // Top-k holding all the mass: the others get probability 0 and the loss stays finite.
  const float top_lse = at::logsumexp(at::tensor({3.0f, 2.0f}), 0).item<float>();
  reconstruct_logits(values.data(), indices.data(), 2, top_lse - 1e-3f, 5, out.data());
  EXPECT_TRUE(std::isinf(out[1]) && out[1] < 0);
  const at::Tensor teacher = at::softmax(at::tensor(out).unsqueeze(0), 1);
  const at::Tensor student = at::randn({1, 5}).set_requires_grad(true);
  const at::Tensor loss = distillation_loss_from_probabilities(student, teacher, teacher, 1.0, 1.0);
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<float>()));
  EXPECT_TRUE(at::isfinite(student.grad()).all().item<bool>());

  // All classes stored: the probability form is the logits form.
  const at::Tensor s = at::randn({3, 5}, at::kDouble), t = at::randn({3, 5}, at::kDouble);
  EXPECT_NEAR(
      distillation_loss_from_probabilities(s, at::softmax(t / 2, 1), t, 2.0, 1.0).item<double>(),
      distillation_loss(s, t, t, 2.0, 1.0).item<double>(), 1e-12);
}

TEST(TeacherLogits, HalfDecodingAndViewRecordsRoundTrip) {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    c10::Half half;
    half.x = static_cast<std::uint16_t>(bits);
    const float expected = static_cast<float>(half), got = half_to_float(half.x);
    if (std::isnan(expected))
      EXPECT_TRUE(std::isnan(got));
    else
      ASSERT_EQ(got, expected) << "bits " << bits;
  }
  ViewParams params;
  params.source_width = 500, params.source_height = 375;
  params.crop = {10, 20, 300, 200};
  params.flip = true;
  params.augments = {{AugmentOp::kRotate, -17.123456789012345}, {AugmentOp::kPosterize, 4}};
  params.erase = {{3, 4, 50, 60}};
  params.erase_noise_key = 0x0123456789abcdefULL;
  std::vector<std::uint8_t> record(view_record_bytes(2));
  EXPECT_EQ(record.size(), 48u);
  encode_view(params, 2, record.data());
  EXPECT_EQ(decode_view(record.data(), 2), params);
  params.augments.pop_back();
  params.erase.clear();
  encode_view(params, 2, record.data());
  EXPECT_EQ(decode_view(record.data(), 2), params);
  EXPECT_EQ(stored_view_index(4, 2, 3, 10), 4u);  // (4 * 3 + 2) mod 10
}

TEST_F(TeacherLogitsStoreTest, AStoreOfOtherOptionsIsRefusedWithTheReason) {
  LoaderOptions other_data = loader(file("all"));
  other_data.path = file("other.h5");
  const std::string data_error = failure(other_data);
  EXPECT_NE(data_error.find("fingerprint"), std::string::npos) << data_error;
  EXPECT_NE(data_error.find("tleg logits --data.store " + file("other.h5")), std::string::npos)
      << data_error;

  LoaderOptions views = loader(file("all"));
  views.teacher_logits_views = 5;
  const std::string views_error = failure(views);
  EXPECT_NE(views_error.find("view count of 3, but training uses 5"), std::string::npos)
      << views_error;

  LoaderOptions seed = loader(file("all"));
  seed.sampler.seed = 8;
  const std::string seed_error = failure(seed);
  EXPECT_NE(seed_error.find("seed (run.seed) 7, but training uses 8"), std::string::npos)
      << seed_error;

  LoaderOptions erase = loader(file("all"));
  erase.recipe.erase_probability = 0;
  const std::string recipe_error = failure(erase);
  EXPECT_NE(recipe_error.find("erase=0.25, but training uses erase=0"), std::string::npos)
      << recipe_error;

  // A store for a teacher of another class count (the dataset fingerprint of the same images
  // with other classes would differ first; the check names the class count on its own too).
  const TeacherLogitsStore store(file("all"));
  TeacherLogitsTags expected = store.tags();
  expected.classes = 4;
  try {
    store.check(file("data.h5"), expected);
    FAIL() << "another class count must be refused";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("class count of 3, but training uses 4"),
              std::string::npos)
        << error.what();
  }

  EXPECT_NE(failure(loader(file("missing"))).find("make the store with tleg logits"),
            std::string::npos);
}

TEST_F(TeacherLogitsStoreTest, DistillFromTheStoreWritesStoredLogitsMode) {
  const auto distill = [&](int seed, const std::string& run_dir) {
    return std::string(TLEG_BINARY) + " distill --data.store " + file("data.h5") +
           " --data.val-split ''" + recipe_flags() +
           " --data.threads 1 --model.dim 16 --model.heads 2 --model.depth 2"
           " --model.patch 4 --optim.epochs 2 --optim.batch 4 --optim.warmup-epochs 0 "
           "--distill.logits " +
           file("top2") + " --distill.views 3 --run.seed " + std::to_string(seed) + " --run.dir " +
           run_dir;
  };
  ASSERT_EQ(run(distill(7, file("distill"))), 0) << distill(7, file("distill"));
  std::ifstream in(file("distill") + "/run.json");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("\"teacher_mode\": \"stored-logits\""), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find(file("top2")), std::string::npos) << text.str();
  // Another seed than the store's: refused before training starts.
  EXPECT_NE(run(distill(8, file("distill-seed-8"))), 0);
  EXPECT_FALSE(std::filesystem::exists(file("distill-seed-8") + "/run.json"));
}

}  // namespace
}  // namespace tleg

// GradientReducer across ranks: data-parallel SGD on R ranks with batch b equals SGD on one
// process with batch R*b (ViT and auxiliary ViT), parameters without gradients, and the bytes a
// step moves for the auxiliary net against a plain ViT.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "model/vit.h"
#include "tests/dist/test_world.h"

namespace tleg::dist {
namespace {

using testing::kTestOptions;
using testing::world;

VitConfig small_config(std::int64_t depth) {
  return VitConfig{.image_size = 8,
                   .patch_size = 4,
                   .channels = 1,
                   .classes = 3,
                   .dim = 12,
                   .heads = 2,
                   .depth = depth};
}

void sgd_step(const std::vector<at::Tensor>& parameters, double lr, bool set_to_none) {
  c10::NoGradGuard no_grad;
  for (const at::Tensor& parameter : parameters) {
    at::Tensor p = parameter;
    p.sub_(p.grad(), lr);
    if (set_to_none)
      p.mutable_grad().reset();
    else
      p.mutable_grad().zero_();
  }
}

// max over tensors of max|a - b| / max|b|: relative to each tensor's scale, so that entries
// near zero do not blow the ratio up.
double max_relative_difference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double scale = b[i].abs().max().item<double>();
    const double difference = (a[i] - b[i]).abs().max().item<double>();
    worst = std::max(worst, difference / std::max(scale, 1e-300));
  }
  return worst;
}

template <typename Model>
void expect_data_parallel_equals_large_batch(const GradientReducerOptions& options) {
  auto comm = make_communicator(world(), c10::kCPU, kTestOptions);
  const int ranks = comm->size(), rank = comm->rank();
  const VitConfig config = small_config(3);
  constexpr int kSteps = 3;
  constexpr std::int64_t kBatch = 4;  // per rank
  constexpr double kLr = 0.5;         // large, so that three steps move the parameters visibly

  // Every rank makes the same global batches and takes its share.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(2024);
  const at::Tensor images =
      at::randn({kSteps, ranks * kBatch, 1, 8, 8}, generator, at::TensorOptions(at::kDouble));
  const at::Tensor labels = at::randint(0, 3, {kSteps, ranks * kBatch}, generator, at::kLong);

  // Ranks start from different initialisations; broadcast_parameters must make them rank 0's.
  Model parallel(config);
  parallel.to(at::kDouble);
  initialise(parallel, 100 + rank);
  Model reference(config);
  reference.to(at::kDouble);
  initialise(reference, 100);
  const std::vector<at::Tensor> initial = [&] {
    std::vector<at::Tensor> copies;
    for (const auto& p : reference.parameters()) copies.push_back(p.detach().clone());
    return copies;
  }();

  GradientReducer reducer(parallel.parameters(), *comm, options);
  reducer.broadcast_parameters(0);
  EXPECT_EQ(max_relative_difference(parallel.parameters(), reference.parameters()), 0.0);

  for (int step = 0; step < kSteps; ++step) {
    const at::Tensor local_images = images[step].narrow(0, rank * kBatch, kBatch);
    const at::Tensor local_labels = labels[step].narrow(0, rank * kBatch, kBatch);
    at::cross_entropy_loss(parallel.forward(local_images), local_labels).backward();
    reducer.finish();
    sgd_step(parallel.parameters(), kLr, /*set_to_none=*/step % 2 == 0);

    at::cross_entropy_loss(reference.forward(images[step]), labels[step]).backward();
    sgd_step(reference.parameters(), kLr, /*set_to_none=*/step % 2 == 0);
  }
  // float64 throughout: the two sides differ only in the order of a few sums (~1e-16 each), so
  // 1e-9 leaves a wide margin yet catches any missing or double-counted gradient.
  EXPECT_LE(max_relative_difference(parallel.parameters(), reference.parameters()), 1e-9);
  EXPECT_GT(max_relative_difference(reference.parameters(), initial), 1e-3)
      << "the steps should have moved the parameters";
}

TEST(DataParallel, VitEqualsLargeBatchWithManyBuckets) {
  expect_data_parallel_equals_large_batch<ViT>({.bucket_bytes = 2048});
}
TEST(DataParallel, VitEqualsLargeBatchWithOneBucket) {
  expect_data_parallel_equals_large_batch<ViT>({});
}
TEST(DataParallel, AuxVitEqualsLargeBatch) {
  expect_data_parallel_equals_large_batch<AuxViT>({.bucket_bytes = 2048});
}
// Every bucket launched by finish() instead of during backward: the same sums, in bucket order.
TEST(DataParallel, VitEqualsLargeBatchWithoutOverlap) {
  expect_data_parallel_equals_large_batch<ViT>({.bucket_bytes = 2048, .overlap = false});
}

TEST(DataParallel, ParameterWithoutGradientOnOneRankIsReducedAsZero) {
  auto comm = make_communicator(world(), c10::kCPU, kTestOptions);
  const int ranks = comm->size(), rank = comm->rank();
  std::vector<at::Tensor> parameters{at::zeros({3}, at::kDouble).requires_grad_(),
                                     at::zeros({5}, at::kDouble).requires_grad_()};
  // 40 bytes: each parameter in its own bucket; the one that only rank 0 uses comes first.
  GradientReducer reducer(parameters, *comm, {.bucket_bytes = 40});
  ASSERT_EQ(reducer.buckets().size(), 2u);
  for (int step = 1; step <= 3; ++step) {
    at::Tensor loss = (parameters[0] * step * (rank + 1)).sum();
    if (rank == 0) loss = loss + (parameters[1] * 10.0).sum();
    loss.backward();
    reducer.finish();
    const double mean_rank_factor = (ranks + 1) / 2.0;  // mean of 1..ranks
    EXPECT_TRUE(
        at::allclose(parameters[0].grad(), at::full({3}, step * mean_rank_factor, at::kDouble)));
    ASSERT_TRUE(parameters[1].grad().defined()) << "rank " << rank;
    EXPECT_TRUE(at::allclose(parameters[1].grad(), at::full({5}, 10.0 / ranks, at::kDouble)));
    for (auto& parameter : parameters) parameter.mutable_grad().reset();
  }
}

// One step of the reducer over `model`; returns the bytes it all-reduced.
std::int64_t bytes_of_one_step(VitBase& model, Communicator& comm) {
  model.to(at::kDouble);
  initialise(model, 7);
  GradientReducer reducer(model.parameters(), comm);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor images = at::randn({2, 1, 8, 8}, generator, at::TensorOptions(at::kDouble));
  const at::Tensor labels = at::randint(0, 3, {2}, generator, at::kLong);
  at::cross_entropy_loss(model.forward(images), labels).backward();
  reducer.finish();
  return reducer.bytes_reduced_last_step();
}

TEST(DataParallel, AuxiliaryNetReducesTwoBlocksInsteadOfTwelve) {
  auto comm = make_communicator(world(), c10::kCPU, kTestOptions);
  const VitConfig config = small_config(12);
  ViT vit(config);
  AuxViT aux(config);
  const std::int64_t vit_bytes = bytes_of_one_step(vit, *comm);
  const std::int64_t aux_bytes = bytes_of_one_step(aux, *comm);
  const std::int64_t block = block_parameter_count(config);
  const std::int64_t shared = vit_parameter_count(config) - config.depth * block;
  EXPECT_EQ(vit_bytes, 8 * vit_parameter_count(config));
  EXPECT_EQ(aux_bytes, 8 * learngene_parameter_count(config));
  const double expected = static_cast<double>(2 * block + shared) / (12 * block + shared);
  EXPECT_NEAR(static_cast<double>(aux_bytes) / vit_bytes, expected, 1e-12);
}

}  // namespace
}  // namespace tleg::dist

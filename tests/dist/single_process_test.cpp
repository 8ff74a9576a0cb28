// The dist library in one process without a launcher: a world of one, collectives that are the
// identity, error messages, and the bucketing rule of GradientReducer.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "tests/dist/test_world.h"

namespace tleg::dist {
namespace {

using testing::world;

TEST(SingleProcessWorld, IsAWorldOfOne) {
  EXPECT_EQ(world().rank(), 0);
  EXPECT_EQ(world().size(), 1);
  EXPECT_EQ(world().local_rank(), 0);
  EXPECT_EQ(world().local_size(), 1);
  EXPECT_EQ(world().node(), 0);
  EXPECT_EQ(world().node_count(), 1);
  EXPECT_TRUE(world().is_root());
}

TEST(SingleProcessWorld, CollectivesAreTheIdentity) {
  auto comm = make_communicator(world(), c10::kCPU);
  EXPECT_EQ(comm->backend(), "mpi");
  EXPECT_EQ(comm->size(), 1);
  at::Tensor values = at::arange(10, at::kDouble) * 0.5;
  const at::Tensor before = values.clone();
  comm->all_reduce(values, ReduceOp::Sum);
  EXPECT_TRUE(at::equal(values, before));
  comm->all_reduce(values, ReduceOp::Average);
  EXPECT_TRUE(at::equal(values, before));
  at::Tensor ints = at::arange(4, at::kLong);
  comm->all_reduce(ints);
  EXPECT_TRUE(at::equal(ints, at::arange(4, at::kLong)));
  comm->broadcast(values, 0);
  EXPECT_TRUE(at::equal(values, before));
  const at::Tensor gathered = comm->all_gather(values.view({2, 5}));
  EXPECT_EQ(gathered.sizes(), (std::vector<std::int64_t>{1, 2, 5}));
  EXPECT_TRUE(at::equal(gathered[0], before.view({2, 5})));
  comm->barrier();
  auto part = comm->split(7, 0);
  EXPECT_EQ(part->size(), 1);
  EXPECT_EQ(part->backend(), "mpi");
}

TEST(SingleProcessWorld, ErrorsNameTheOperationAndRank) {
  auto comm = make_communicator(world(), c10::kCPU);
  at::Tensor halves = at::ones({3}, at::kHalf);
  try {
    comm->all_reduce(halves);
    FAIL() << "a float16 all-reduce on the MPI backend should throw";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("MPI_Iallreduce on rank 0"), std::string::npos)
        << error.what();
  }
  at::Tensor strided = at::ones({4, 4}, at::kFloat).t().narrow(0, 0, 2);
  EXPECT_THROW(comm->all_reduce(strided), Error);
  at::Tensor counts = at::ones({3}, at::kLong);
  EXPECT_THROW(comm->all_reduce(counts, ReduceOp::Average), Error);
  at::Tensor values = at::ones({3}, at::kFloat);
  EXPECT_THROW(comm->broadcast(values, 1), Error);
  EXPECT_THROW(comm->split(-1, 0), Error);
}

std::vector<at::Tensor> parameters_of_sizes(const std::vector<std::int64_t>& sizes,
                                            at::ScalarType dtype = at::kFloat) {
  std::vector<at::Tensor> parameters;
  for (std::int64_t size : sizes) parameters.push_back(at::zeros({size}, dtype).requires_grad_());
  return parameters;
}

TEST(BucketAssignment, ReverseOrderWithinTheByteLimit) {
  // float32: sizes in bytes 40, 40, 80, 200, 40 with a limit of 100 bytes.
  const auto parameters = parameters_of_sizes({10, 10, 20, 50, 10});
  const auto buckets = assign_buckets(parameters, 100);
  const std::vector<std::vector<std::size_t>> expected{{4}, {3}, {2}, {1, 0}};
  EXPECT_EQ(buckets, expected);
  // Parameter 3 (200 bytes) exceeds the limit and still gets a bucket of its own.
  EXPECT_EQ(assign_buckets(parameters, 1 << 20),
            (std::vector<std::vector<std::size_t>>{{4, 3, 2, 1, 0}}));
  EXPECT_EQ(assign_buckets(parameters, 1),
            (std::vector<std::vector<std::size_t>>{{4}, {3}, {2}, {1}, {0}}));
}

TEST(BucketAssignment, DtypesAreNotMixed) {
  std::vector<at::Tensor> parameters = parameters_of_sizes({4, 4});
  parameters.push_back(at::zeros({4}, at::kDouble).requires_grad_());
  parameters.push_back(at::zeros({4}, at::kFloat).requires_grad_());
  EXPECT_EQ(assign_buckets(parameters, 1 << 20),
            (std::vector<std::vector<std::size_t>>{{3}, {2}, {1, 0}}));
}

TEST(GradientReducerAlone, AveragesOverOneRankAreTheGradients) {
  auto comm = make_communicator(world(), c10::kCPU);
  std::vector<at::Tensor> parameters = parameters_of_sizes({6, 5, 4}, at::kDouble);
  GradientReducer reducer(parameters, *comm, {.bucket_bytes = 48});
  EXPECT_EQ(reducer.buckets().size(), 3u);  // 32, 40 and 48 bytes: no two fit in 48
  for (int step = 0; step < 3; ++step) {
    // Parameter 1 takes no part in the loss: it must come back with a zero gradient.
    const at::Tensor loss = (parameters[0] * (step + 1)).sum() + (parameters[2] * 3).sum();
    loss.backward();
    reducer.finish();
    EXPECT_TRUE(at::allclose(parameters[0].grad(), at::full({6}, step + 1.0, at::kDouble)));
    ASSERT_TRUE(parameters[1].grad().defined());
    EXPECT_TRUE(at::equal(parameters[1].grad(), at::zeros({5}, at::kDouble)));
    EXPECT_TRUE(at::allclose(parameters[2].grad(), at::full({4}, 3.0, at::kDouble)));
    EXPECT_EQ(reducer.bytes_reduced_last_step(), (6 + 5 + 4) * 8);
    for (auto& parameter : parameters) parameter.mutable_grad().reset();
  }
}

TEST(GradientReducerAlone, SecondBackwardBeforeFinishThrows) {
  auto comm = make_communicator(world(), c10::kCPU);
  std::vector<at::Tensor> parameters = parameters_of_sizes({3});
  GradientReducer reducer(parameters, *comm);
  parameters[0].sum().backward();
  EXPECT_ANY_THROW(parameters[0].sum().backward());
  reducer.finish();
}

TEST(GradientReducerAlone, RejectsAParameterInTwoReducers) {
  auto comm = make_communicator(world(), c10::kCPU);
  std::vector<at::Tensor> parameters = parameters_of_sizes({3});
  GradientReducer first(parameters, *comm);
  EXPECT_THROW(GradientReducer second(parameters, *comm), Error);
}

}  // namespace
}  // namespace tleg::dist

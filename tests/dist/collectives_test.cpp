// The collectives of the MPI backend across ranks (run under mpirun with 2 and 3 ranks). Every
// expectation is written for any world size.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "tests/dist/test_world.h"

namespace tleg::dist {
namespace {

using testing::kTestOptions;
using testing::world;

std::unique_ptr<Communicator> cpu_communicator() {
  return make_communicator(world(), c10::kCPU, kTestOptions);
}

TEST(Collectives, SeeEveryRank) {
  ASSERT_GE(world().size(), 2) << "run under mpirun -np 2 or more";
  EXPECT_EQ(world().node_count(), 1);  // the test launches all ranks on this machine
  EXPECT_EQ(world().local_size(), world().size());
  EXPECT_EQ(world().local_rank(), world().rank());
  auto comm = cpu_communicator();
  EXPECT_EQ(comm->rank(), world().rank());
  EXPECT_EQ(comm->size(), world().size());
}

TEST(Collectives, AllReduceSumAndAverage) {
  auto comm = cpu_communicator();
  const int n = comm->size(), r = comm->rank();
  const double total = n * (n + 1) / 2.0;  // ranks contribute 1, 2, ..., n
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    at::Tensor values = at::full({1000}, r + 1.0, dtype);
    comm->all_reduce(values, ReduceOp::Sum);
    EXPECT_TRUE(at::equal(values, at::full({1000}, total, dtype))) << dtype;
    values.fill_(r + 1.0);
    comm->all_reduce(values, ReduceOp::Average);
    EXPECT_TRUE(at::allclose(values, at::full({1000}, total / n, dtype))) << dtype;
  }
  at::Tensor counts = at::arange(5, at::kLong) * (r + 1);
  comm->all_reduce(counts);
  EXPECT_TRUE(at::equal(counts, at::arange(5, at::kLong) * static_cast<std::int64_t>(total)));
}

TEST(Collectives, AsyncAllReducesCompleteInAnyWaitOrder) {
  auto comm = cpu_communicator();
  const int n = comm->size();
  at::Tensor first = at::ones({100000}, at::kFloat);
  at::Tensor second = at::full({10}, 2.0, at::kDouble);
  auto pending_first = comm->all_reduce_async(first, ReduceOp::Sum);
  auto pending_second = comm->all_reduce_async(second, ReduceOp::Average);
  pending_second->wait();
  pending_first->wait();
  EXPECT_TRUE(pending_first->ready());
  EXPECT_TRUE(at::equal(first, at::full({100000}, static_cast<float>(n), at::kFloat)));
  EXPECT_TRUE(at::allclose(second, at::full({10}, 2.0, at::kDouble)));
}

// The host-side OR of the stop agreement: true on every rank when any rank's flag is, with a
// tensor all-reduce started and finished while it is in flight (as a training step does).
TEST(Collectives, AnyFlagIsTheOrOverRanksWhileOtherCollectivesRun) {
  auto comm = cpu_communicator();
  for (int raiser = -1; raiser < comm->size(); ++raiser) {
    auto pending = comm->any_async(comm->rank() == raiser);
    at::Tensor values = at::ones({100}, at::kFloat);
    comm->all_reduce(values, ReduceOp::Sum);
    EXPECT_TRUE(at::equal(values, at::full({100}, comm->size(), at::kFloat)));
    EXPECT_EQ(pending->wait(), raiser >= 0) << "flag raised by rank " << raiser;
  }
}

TEST(Collectives, BroadcastFromEachRoot) {
  auto comm = cpu_communicator();
  for (int root = 0; root < comm->size(); ++root) {
    at::Tensor values = at::arange(12, at::kDouble).view({3, 4}) + 100 * comm->rank();
    comm->broadcast(values, root);
    EXPECT_TRUE(at::equal(values, at::arange(12, at::kDouble).view({3, 4}) + 100 * root))
        << "root " << root;
  }
}

TEST(Collectives, AllGatherStacksByRank) {
  auto comm = cpu_communicator();
  const at::Tensor mine = at::full({2, 3}, comm->rank() * 1.5, at::kFloat);
  const at::Tensor gathered = comm->all_gather(mine);
  ASSERT_EQ(gathered.sizes(), (std::vector<std::int64_t>{comm->size(), 2, 3}));
  for (int r = 0; r < comm->size(); ++r)
    EXPECT_TRUE(at::equal(gathered[r], at::full({2, 3}, r * 1.5, at::kFloat))) << "row " << r;
  comm->barrier();
}

TEST(Collectives, SplitIntoSingletons) {
  auto comm = cpu_communicator();
  auto alone = comm->split(/*color=*/comm->rank(), /*key=*/0);
  EXPECT_EQ(alone->size(), 1);
  EXPECT_EQ(alone->rank(), 0);
  at::Tensor values = at::full({4}, comm->rank() + 1.0, at::kDouble);
  alone->all_reduce(values);
  EXPECT_TRUE(at::equal(values, at::full({4}, comm->rank() + 1.0, at::kDouble)));
  // The parent still works after the split.
  comm->all_reduce(values);
  const int n = comm->size();
  EXPECT_TRUE(at::equal(values, at::full({4}, n * (n + 1) / 2.0, at::kDouble)));
}

TEST(Collectives, SplitByParityReducesWithinEachGroup) {
  auto comm = cpu_communicator();
  const int n = comm->size(), r = comm->rank(), parity = r % 2;
  // key = -rank reverses the order inside each group.
  auto group = comm->split(parity, -r);
  int members = 0, highest = 0, sum = 0;
  for (int other = 0; other < n; ++other) {
    if (other % 2 != parity) continue;
    ++members;
    highest = other;
    sum += other;
  }
  EXPECT_EQ(group->size(), members);
  EXPECT_EQ(group->rank(), (highest - r) / 2);
  at::Tensor values = at::full({3}, static_cast<std::int64_t>(r), at::kLong);
  group->all_reduce(values);
  EXPECT_TRUE(at::equal(values, at::full({3}, static_cast<std::int64_t>(sum), at::kLong)));
  // The groups' root (rank 0 inside the group, the highest world rank of that parity) wins.
  at::Tensor token = at::full({1}, static_cast<double>(r), at::kDouble);
  group->broadcast(token, 0);
  EXPECT_EQ(token.item<double>(), highest);
}

}  // namespace
}  // namespace tleg::dist

// The sweep planner: groups sized by cost, every rank in exactly one group, every depth once,
// and the depth list parser.
#include <gtest/gtest.h>

#include <set>

#include "sweep/sweep_plan.h"

namespace tleg {
namespace {

TEST(SweepPlan, MoreRanksThanDepthsGivesTheCostlyDepthsMoreRanks) {
  const SweepPlan plan = plan_sweep({{3, 3}, {6, 6}, {12, 12}}, 7);
  ASSERT_EQ(plan.groups.size(), 3u);
  EXPECT_EQ(plan.groups[0].jobs[0].depth, 12);  // costliest first
  EXPECT_EQ(plan.groups[0].ranks, 4);           // 12/4 = 3, 6/2 = 3, 3/1 = 3
  EXPECT_EQ(plan.groups[1].ranks, 2);
  EXPECT_EQ(plan.groups[2].ranks, 1);
  EXPECT_DOUBLE_EQ(plan.makespan, 3.0);
  std::set<int> groups;
  for (int rank = 0; rank < 7; ++rank) groups.insert(plan.group_of(rank));
  EXPECT_EQ(groups.size(), 3u);
  EXPECT_THROW(plan.group_of(7), std::exception);
}

TEST(SweepPlan, FewerRanksThanDepthsBalancesLoads) {
  // Costs proportional to depth 3..12 (sum 75) on 2 ranks: LPT gives 38 and 37.
  std::vector<SweepJob> jobs;
  for (std::int64_t d = 3; d <= 12; ++d) jobs.push_back({d, static_cast<double>(d)});
  const SweepPlan plan = plan_sweep(jobs, 2);
  ASSERT_EQ(plan.groups.size(), 2u);
  std::multiset<std::int64_t> seen;
  for (const auto& group : plan.groups) {
    EXPECT_EQ(group.ranks, 1);
    for (const auto& job : group.jobs) seen.insert(job.depth);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_DOUBLE_EQ(plan.makespan, 38.0);
  EXPECT_DOUBLE_EQ(plan.serial, 37.5);
  EXPECT_NE(plan.describe("GFLOP").find("group 1: rank 1"), std::string::npos);
}

TEST(SweepPlan, ParsesRangesAndLists) {
  EXPECT_EQ(parse_depths("3-6"), (std::vector<std::int64_t>{3, 4, 5, 6}));
  EXPECT_EQ(parse_depths("12,3,6"), (std::vector<std::int64_t>{3, 6, 12}));
  EXPECT_EQ(parse_depths("3-4,9"), (std::vector<std::int64_t>{3, 4, 9}));
  EXPECT_THROW(parse_depths("6-3"), std::exception);
  EXPECT_THROW(parse_depths("3,3"), std::exception);
  EXPECT_THROW(parse_depths("x"), std::exception);
  EXPECT_THROW(parse_depths("0"), std::exception);
}

}  // namespace
}  // namespace tleg

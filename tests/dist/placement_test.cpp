// The placement record: CPU lists, the description of each rank, and the warning when ranks of
// one host are squeezed onto fewer cores than they are.
#include "dist/placement.h"

#include <gtest/gtest.h>

#include "tests/dist/test_world.h"

namespace tleg::dist {
namespace {

RankPlacement on(int rank, const std::string& host, const std::string& node,
                 const std::string& cpus) {
  return {.rank = rank, .host = host, .node = node, .device = "cpu", .cpus = cpus, .host_cpus = 8};
}

TEST(Placement, CpuListsRoundTrip) {
  EXPECT_EQ(format_cpu_list({8, 0, 1, 2, 3, 5, 6}), "0-3,5-6,8");
  EXPECT_EQ(format_cpu_list({4}), "4");
  EXPECT_EQ(parse_cpu_list("0-3,5-6,8"), (std::vector<int>{0, 1, 2, 3, 5, 6, 8}));
  EXPECT_THROW(parse_cpu_list("0-"), std::exception);
  EXPECT_THROW(parse_cpu_list("3-1"), std::exception);
  EXPECT_THROW(parse_cpu_list("a"), std::exception);
}

TEST(Placement, DescribesEveryRank) {
  const auto lines = describe_placement({on(0, "vm", "node1", "0-1"), on(1, "gpu7", "gpu7", "4")});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "rank 0: node1 (host vm), local rank 0, cpu, CPUs 0-1");
  EXPECT_EQ(lines[1], "rank 1: gpu7, local rank 0, cpu, CPUs 4");
}

TEST(Placement, WarnsWhenRanksOfOneHostShareACore) {
  // Two ranks both pinned to core 0 of one host (mpirun's per-node binding on two virtual
  // nodes of one machine): one warning naming both ranks, their nodes, the host and the CPU.
  const auto pinned = placement_warnings({on(0, "vm", "node1", "0"), on(1, "vm", "node2", "0")});
  ASSERT_EQ(pinned.size(), 1u);
  EXPECT_NE(pinned[0].find("ranks 0 (node1) and 1 (node2)"), std::string::npos) << pinned[0];
  EXPECT_NE(pinned[0].find("CPU 0 of host vm"), std::string::npos) << pinned[0];
  // Three ranks on two CPUs between them, overlapping through the middle one.
  EXPECT_EQ(placement_warnings({on(0, "a", "a", "0"), on(1, "a", "a", "0-1"), on(2, "a", "a", "1")})
                .size(),
            1u);
}

TEST(Placement, NoWarningWhenEveryRankHasACore) {
  // Unbound ranks that share a host's CPUs, one core each, or the same core number on
  // different hosts.
  EXPECT_TRUE(placement_warnings({on(0, "vm", "vm", "0-1"), on(1, "vm", "vm", "0-1")}).empty());
  EXPECT_TRUE(placement_warnings({on(0, "vm", "vm", "0"), on(1, "vm", "vm", "1")}).empty());
  EXPECT_TRUE(placement_warnings({on(0, "n1", "n1", "0"), on(1, "n2", "n2", "0")}).empty());
}

TEST(Placement, TheWorldKnowsThisProcess) {
  const auto& placement = testing::world().placement();
  ASSERT_EQ(placement.size(), static_cast<std::size_t>(testing::world().size()));
  const RankPlacement& mine = placement.at(static_cast<std::size_t>(testing::world().rank()));
  EXPECT_EQ(mine.rank, testing::world().rank());
  EXPECT_EQ(mine.local_rank, testing::world().local_rank());
  EXPECT_FALSE(mine.host.empty());
  EXPECT_FALSE(parse_cpu_list(mine.cpus).empty());
  EXPECT_GE(mine.host_cpus, static_cast<int>(parse_cpu_list(mine.cpus).size()));
}

}  // namespace
}  // namespace tleg::dist

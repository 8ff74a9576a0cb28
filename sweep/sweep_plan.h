// How `tleg sweep` shares N ranks among the depths it trains: groups of ranks, each running one
// or more depths in sequence, sized and ordered by each depth's estimated cost (FLOPs x epochs)
// so that the whole sweep ends as early as possible. Assumes a depth's time scales as cost/ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tleg {

struct SweepJob {
  std::int64_t depth = 0;
  double cost = 0;  // any unit proportional to time on one rank (FLOPs)
};

struct SweepGroup {
  int first_rank = 0, ranks = 1;
  std::vector<SweepJob> jobs;  // run in this order, costliest first
  double finish = 0;           // estimated: sum of cost / ranks
};

struct SweepPlan {
  std::vector<SweepGroup> groups;
  double makespan = 0;  // the latest group's finish
  double serial = 0;    // all jobs one after another on all ranks: sum of cost / N
  int group_of(int rank) const;
  std::string describe(const std::string& cost_unit) const;
};

// With at least as many ranks as jobs: one job per group, ranks given to whichever group would
// otherwise finish last. With fewer: single-rank groups filled by longest-processing-time-first.
SweepPlan plan_sweep(std::vector<SweepJob> jobs, int ranks);

// "3-12" or "3,6,9,12" (or a mix: "3-5,8").
std::vector<std::int64_t> parse_depths(const std::string& text);

}  // namespace tleg

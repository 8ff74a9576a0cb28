#include "sweep/sweep_plan.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "common/error.h"

namespace tleg {

int SweepPlan::group_of(int rank) const {
  for (std::size_t g = 0; g < groups.size(); ++g)
    if (rank >= groups[g].first_rank && rank < groups[g].first_rank + groups[g].ranks)
      return static_cast<int>(g);
  fail("internal: rank ", rank, " is in no sweep group");
}

std::string SweepPlan::describe(const std::string& cost_unit) const {
  std::ostringstream out;
  out << std::setprecision(3);
  out << "sweep plan: " << groups.size() << " group(s)\n";
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const SweepGroup& group = groups[g];
    out << "  group " << g << ": rank" << (group.ranks > 1 ? "s " : " ") << group.first_rank;
    if (group.ranks > 1) out << "-" << group.first_rank + group.ranks - 1;
    out << ", depth" << (group.jobs.size() > 1 ? "s " : " ");
    for (std::size_t j = 0; j < group.jobs.size(); ++j)
      out << (j ? ", " : "") << group.jobs[j].depth;
    out << " (est. " << group.finish << " " << cost_unit << ")\n";
  }
  out << "  estimated makespan " << makespan << " " << cost_unit << " against " << serial
      << " for the same runs one after another on all ranks";
  return out.str();
}

SweepPlan plan_sweep(std::vector<SweepJob> jobs, int ranks) {
  if (jobs.empty()) fail("sweep: no depths to train");
  if (ranks < 1) fail("sweep: no ranks");
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const SweepJob& a, const SweepJob& b) { return a.cost > b.cost; });
  SweepPlan plan;
  for (const auto& job : jobs) plan.serial += job.cost / ranks;
  if (static_cast<std::size_t>(ranks) >= jobs.size()) {
    std::vector<int> share(jobs.size(), 1);
    for (int spare = ranks - static_cast<int>(jobs.size()); spare > 0; --spare) {
      std::size_t slowest = 0;
      for (std::size_t j = 1; j < jobs.size(); ++j)
        if (jobs[j].cost / share[j] > jobs[slowest].cost / share[slowest]) slowest = j;
      ++share[slowest];
    }
    int next_rank = 0;
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      plan.groups.push_back({next_rank, share[j], {jobs[j]}, jobs[j].cost / share[j]});
      next_rank += share[j];
    }
  } else {
    for (int r = 0; r < ranks; ++r) plan.groups.push_back({r, 1, {}, 0});
    for (const auto& job : jobs) {
      auto least = std::min_element(
          plan.groups.begin(), plan.groups.end(),
          [](const SweepGroup& a, const SweepGroup& b) { return a.finish < b.finish; });
      least->jobs.push_back(job);
      least->finish += job.cost;
    }
  }
  for (const auto& group : plan.groups) plan.makespan = std::max(plan.makespan, group.finish);
  return plan;
}

std::vector<std::int64_t> parse_depths(const std::string& text) {
  std::vector<std::int64_t> depths;
  std::istringstream in(text);
  std::string item;
  auto number = [&](const std::string& piece) {
    try {
      std::size_t used = 0;
      const long long value = std::stoll(piece, &used);
      if (used != piece.size() || value < 1) throw std::invalid_argument(piece);
      return static_cast<std::int64_t>(value);
    } catch (const std::exception&) {
      fail("--depths: '", piece, "' is not a depth >= 1 (use e.g. 3-12 or 3,6,9,12)");
    }
  };
  while (std::getline(in, item, ',')) {
    const auto dash = item.find('-');
    if (dash == std::string::npos) {
      depths.push_back(number(item));
    } else {
      const auto first = number(item.substr(0, dash)), last = number(item.substr(dash + 1));
      if (last < first) fail("--depths: range '", item, "' runs backwards");
      for (auto d = first; d <= last; ++d) depths.push_back(d);
    }
  }
  std::sort(depths.begin(), depths.end());
  if (std::adjacent_find(depths.begin(), depths.end()) != depths.end())
    fail("--depths: '", text, "' names a depth twice");
  if (depths.empty()) fail("--depths: no depth in '", text, "'");
  return depths;
}

}  // namespace tleg

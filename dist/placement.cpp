// The placement record of a rank (host, node, CPU affinity) and the check that no two ranks of a
// host are squeezed onto the same cores.
#include "dist/placement.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "common/error.h"

namespace tleg::dist {

RankPlacement this_process_placement(int rank, int local_rank, const std::string& device) {
  RankPlacement placement;
  placement.rank = rank;
  placement.local_rank = local_rank;
  placement.device = device;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  placement.host = host;
  // Under Slurm the node name can differ from the host name (several slurmd on one host, or
  // site naming); it is the name squeue and sinfo show.
  const char* node = std::getenv("SLURMD_NODENAME");
  placement.node = node != nullptr && *node != '\0' ? node : placement.host;
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  placement.cpus = format_cpu_list(cpus);
  placement.host_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  return placement;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::vector<int> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::ostringstream text;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (i > 0) text << ",";
    text << sorted[i];
    if (j > i) text << "-" << sorted[j];
    i = j + 1;
  }
  return text.str();
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    int first = 0, last = 0;
    char dash = 0;
    std::istringstream range(item);
    if (!(range >> first)) fail("not a CPU list: '", text, "' (expected e.g. 0-3,8)");
    last = first;
    if (range >> dash && (dash != '-' || !(range >> last)))
      fail("not a CPU list: '", text, "' (expected e.g. 0-3,8)");
    if (first < 0 || last < first || !range.eof())
      fail("not a CPU list: '", text, "' (expected e.g. 0-3,8)");
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  return cpus;
}

std::vector<std::string> describe_placement(const std::vector<RankPlacement>& ranks) {
  std::vector<std::string> lines;
  for (const auto& r : ranks)
    lines.push_back(concat("rank ", r.rank, ": ", r.node,
                           r.node == r.host ? std::string() : " (host " + r.host + ")",
                           ", local rank ", r.local_rank, ", ", r.device, ", CPUs ", r.cpus));
  return lines;
}

std::vector<std::string> placement_warnings(const std::vector<RankPlacement>& ranks) {
  std::map<std::string, std::vector<std::size_t>> by_host;
  for (std::size_t i = 0; i < ranks.size(); ++i) by_host[ranks[i].host].push_back(i);
  std::vector<std::string> warnings;
  for (const auto& [host, members] : by_host) {
    std::vector<std::set<int>> cpus;
    for (const auto i : members) {
      const auto list = parse_cpu_list(ranks[i].cpus);
      cpus.emplace_back(list.begin(), list.end());
    }
    // Groups of ranks whose CPU sets overlap, directly or through others (union-find).
    std::vector<std::size_t> parent(members.size());
    std::iota(parent.begin(), parent.end(), 0);
    auto root = [&](std::size_t i) {
      while (parent[i] != i) i = parent[i] = parent[parent[i]];
      return i;
    };
    for (std::size_t a = 0; a < members.size(); ++a)
      for (std::size_t b = a + 1; b < members.size(); ++b)
        if (std::any_of(cpus[a].begin(), cpus[a].end(),
                        [&](int cpu) { return cpus[b].count(cpu) > 0; }))
          parent[root(a)] = root(b);
    std::map<std::size_t, std::vector<std::size_t>> groups;
    for (std::size_t a = 0; a < members.size(); ++a) groups[root(a)].push_back(a);
    for (const auto& [_, group] : groups) {
      std::set<int> shared;
      for (const auto a : group) shared.insert(cpus[a].begin(), cpus[a].end());
      if (group.size() < 2 || shared.size() >= group.size()) continue;
      std::ostringstream names;
      for (std::size_t k = 0; k < group.size(); ++k) {
        const RankPlacement& r = ranks[members[group[k]]];
        names << (k == 0                  ? ""
                  : k + 1 == group.size() ? " and "
                                          : ", ")
              << r.rank << " (" << r.node << ")";
      }
      warnings.push_back(concat(
          "warning: ranks ", names.str(), " can run only on CPU", shared.size() == 1 ? " " : "s ",
          format_cpu_list({shared.begin(), shared.end()}), " of host ", host,
          " between them: they share cores and slow each other down. Bind "
          "each rank to its own cores (mpirun: --map-by slot:PE=N --bind-to core inside a "
          "cgroup, or --bind-to none; srun: --cpu-bind=cores) or run fewer ranks per host"));
    }
  }
  return warnings;
}

}  // namespace tleg::dist

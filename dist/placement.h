// Where each rank of a job runs: its node, local rank, device and the CPUs it may run on. Logged
// at start and kept in run.json, so that "where did rank 3 run, and was it pinned with rank 2?"
// needs no scheduler logs.
#pragma once

#include <string>
#include <vector>

namespace tleg::dist {

struct RankPlacement {
  int rank = 0;
  std::string host;  // gethostname(): ranks on one host share its CPUs
  std::string node;  // the scheduler's node name (Slurm: SLURMD_NODENAME), else the host
  int local_rank = 0;
  std::string device;  // "cpu", "cuda:0"
  std::string cpus;    // the CPUs this process may run on, as a list: "0-3,8"
  int host_cpus = 0;   // CPUs online on the host
};

// This process: host, node, CPU affinity and online CPUs (rank, local rank, device are the
// caller's).
RankPlacement this_process_placement(int rank, int local_rank, const std::string& device);

// "0-3,8" for {0, 1, 2, 3, 8}, and back. parse_cpu_list fails on anything else, naming the text.
std::string format_cpu_list(const std::vector<int>& cpus);
std::vector<int> parse_cpu_list(const std::string& text);

// One line per rank: "rank 1: node2 (host vm), local rank 0, cpu, CPUs 0-1".
std::vector<std::string> describe_placement(const std::vector<RankPlacement>& ranks);

// Ranks of one host that can run only on fewer CPUs between them than they are ranks (two
// ranks pinned to one core, or more ranks than CPUs): they share cores and slow each other
// down. One warning per such group of ranks, naming ranks, nodes, host and CPUs.
std::vector<std::string> placement_warnings(const std::vector<RankPlacement>& ranks);

}  // namespace tleg::dist

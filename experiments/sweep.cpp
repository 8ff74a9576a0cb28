#include "experiments/sweep.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "data/dataset_store.h"
#include "dist/communicator.h"
#include "experiments/sweep_plan.h"
#include "model/vit_config.h"
#include "train/run_record.h"

namespace tleg {
namespace {

bool run_finished(const std::string& dir) { return std::filesystem::exists(dir + "/run.json"); }

// The plan: each depth's cost is its training FLOPs per image times its epochs (prefin's own
// pre-training included).
SweepPlan plan_depths(const SweepSettings& s, const DatasetInfo& data, std::int64_t pretrain_epochs,
                      int ranks) {
  std::vector<SweepJob> jobs;
  for (const auto depth : s.depths) {
    const double flops =
        static_cast<double>(training_flops(descendant_config(s.stage, s.init, data, depth)));
    const double epochs = static_cast<double>(s.stage.train.epochs +
                                              (s.init.method == "prefin" ? pretrain_epochs : 0));
    jobs.push_back({depth, flops * epochs * 1e-9});
  }
  return plan_sweep(jobs, ranks);
}

// One depth: for prefin, its pre-training from scratch first (skipped when finished), then the
// fine-tuning (not started when the pre-training was stopped by run.stop-after-steps).
void run_depth(const SweepSettings& s, const StageContext& group, const DatasetInfo& data,
               std::int64_t depth, std::int64_t pretrain_epochs, const std::string& method) {
  const VitConfig config = descendant_config(s.stage, s.init, data, depth);
  const std::uint64_t seed = s.stage.train.seed;
  InitSpec spec = init_spec(s.init, s.init.method, seed);
  if (s.init.method == "prefin") {
    // Pre-train this depth on its own and store it, then fine-tune from it.
    StageSettings pretrain = s.stage;
    pretrain.train.epochs = pretrain_epochs;
    pretrain.train.run_dir = sweep_run_dir(s.stage.train.run_dir, "prefin-pretrain", depth);
    if (!run_finished(pretrain.train.run_dir) &&
        !finetune(pretrain, config, init_spec(s.init, "scratch", seed), "prefin-pretrain", group))
      return;
    spec.source = pretrain.train.run_dir + "/model.h5";
  }
  StageSettings finetuning = s.stage;
  finetuning.train.run_dir = sweep_run_dir(s.stage.train.run_dir, method, depth);
  finetune(finetuning, config, spec, method, group);
}

// Rank 0 lists every depth's outcome from the run folders (the groups wrote them).
void print_summary(const SweepSettings& s, const std::string& method) {
  std::cout << "sweep " << method << ":\n";
  for (const auto depth : s.depths) {
    const std::string dir = sweep_run_dir(s.stage.train.run_dir, method, depth);
    if (run_finished(dir)) {
      const RunLedger ledger = read_run_ledger(dir + "/run.json");
      std::cout << "  depth " << depth << ": top-1 " << ledger.top1 * 100 << "%, "
                << ledger.wall_seconds << " s on " << ledger.ranks << " rank(s)\n";
    } else {
      std::cout << "  depth " << depth << ": FAILED or unfinished (see " << dir
                << "; rerun with --resume)\n";
    }
  }
}

}  // namespace

std::string sweep_run_dir(const std::string& run_dir, const std::string& method,
                          std::int64_t depth) {
  return run_dir + "/" + method + "/depth-" + std::to_string(depth);
}

int run_sweep(const SweepSettings& s, const StageContext& world) {
  const DatasetReader dataset(s.stage.data.store);
  if (s.init.method == "tleg" && s.init.learngene.empty())
    fail("--init tleg needs --learngene (the file tleg distill wrote)");
  const std::int64_t pretrain_epochs =
      s.pretrain_epochs > 0 ? s.pretrain_epochs : s.stage.train.epochs;
  const std::string method = s.stage.method_or(s.init.method);
  const SweepPlan plan = plan_depths(s, dataset.info(), pretrain_epochs, world.comm.size());
  if (world.root()) std::cerr << plan.describe("GFLOP per image") << "\n";

  const int group_index = plan.group_of(world.comm.rank());
  const auto group_comm = world.comm.split(group_index, world.comm.rank());
  const StageContext group{*group_comm, world.device};
  std::int64_t failures = 0;
  for (const SweepJob& job : plan.groups[static_cast<std::size_t>(group_index)].jobs) {
    const std::string dir = sweep_run_dir(s.stage.train.run_dir, method, job.depth);
    if (run_finished(dir)) {
      if (group.root()) std::cerr << "depth " << job.depth << ": already done (" << dir << ")\n";
      continue;
    }
    try {
      run_depth(s, group, dataset.info(), job.depth, pretrain_epochs, method);
    } catch (const std::exception& error) {
      // Every rank of the group sees the same failure (configuration, data, a NaN loss):
      // record it and go on with the group's next depth.
      const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
      const std::string message =
          torch_error ? torch_error->what_without_backtrace() : error.what();
      ++failures;
      if (group.root()) {
        std::filesystem::create_directories(dir);
        std::ofstream(dir + "/failed.txt") << message << "\n";
        std::cerr << "depth " << job.depth << " failed: " << message << "\n";
      }
    }
  }
  world.comm.barrier();
  if (world.root()) print_summary(s, method);
  at::Tensor failed = at::tensor({failures}, at::kLong);
  world.comm.all_reduce(failed);
  return failed.item<std::int64_t>() > 0 ? 1 : 0;
}

}  // namespace tleg

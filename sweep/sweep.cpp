#include "sweep/sweep.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <utility>

#include "common/error.h"
#include "data/dataset_store.h"
#include "dist/communicator.h"
#include "dist/stop.h"
#include "dist/world.h"
#include "expansion/methods.h"
#include "sweep/sweep_plan.h"
#include "model/vit_config.h"
#include "train/run_record.h"

namespace tleg {
namespace {

bool run_finished(const std::string& dir) { return std::filesystem::exists(dir + "/run.json"); }

std::string concat_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The plan: each depth's cost is its training FLOPs per image times its epochs (prefin's own
// pre-training included).
SweepPlan plan_depths(const SweepSettings& s, const DatasetInfo& data, std::int64_t pretrain_epochs,
                      int ranks) {
  std::vector<SweepJob> jobs;
  for (const auto depth : s.depths) {
    const double flops =
        static_cast<double>(training_flops(descendant_config(s.stage, s.init, data, depth)));
    const bool pretrains = s.init.method == "prefin" && s.pretrained_runs.empty();
    const double epochs =
        static_cast<double>(s.stage.train.epochs + (pretrains ? pretrain_epochs : 0));
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
  std::map<std::string, std::string> extra;
  if (s.init.method == "prefin" && !s.pretrained_runs.empty()) {
    // Another sweep's run of this depth is the pre-training (trained once, used by both).
    const std::string source = s.pretrained_runs + "/depth-" + std::to_string(depth);
    if (!run_finished(source))
      fail("--prefin-from ", s.pretrained_runs, ": ", source,
           " has no run.json (that depth's run has not finished); run that sweep for depth ", depth,
           " first, or drop --prefin-from to pre-train here");
    spec.source = source + "/model.h5";
    extra = {{"pretrained_run", source + "/run.json"},
             {"pretrained_method", read_run_ledger(source + "/run.json").method}};
  } else if (s.init.method == "prefin") {
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
  finetune(finetuning, config, spec, method, group, extra);
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

namespace {

// How one depth ended on this rank.
struct DepthResult {
  std::string error;    // failed: the message
  std::string stopped;  // stopped by SIGTERM/SIGUSR1: the message
  int signal = 0;       // and the signal
};

std::string message_of(const std::exception& error) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
  return torch_error ? torch_error->what_without_backtrace() : error.what();
}

// Every rank of the group votes how its depth ended, on `agreement` (a communicator of the same
// ranks used for nothing else, so that a vote never matches a training collective). A rank that
// failed alone cannot be waited for by the others (they are blocked in a training collective), so
// it waits half the collective timeout for the votes and otherwise ends the job with its own
// message. Returns {ranks that failed, ranks that stopped}.
std::pair<std::int64_t, std::int64_t> agree(dist::Communicator& agreement,
                                            const StageContext& group, const DepthResult& result,
                                            std::int64_t depth, std::int64_t timeout_seconds) {
  const int world_rank = dist::world_rank();
  at::Tensor votes =
      at::tensor({std::int64_t{!result.error.empty()}, std::int64_t{!result.stopped.empty()}},
                 at::kLong)
          .to(group.device);
  auto pending = agreement.all_reduce_async(votes, dist::ReduceOp::Sum);
  if (!result.error.empty()) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_seconds * 500);
    while (!pending->ready()) {
      if (std::chrono::steady_clock::now() > deadline)
        dist::abort_job(concat("rank ", world_rank, ": error: depth ", depth,
                               " failed on this rank only (its error is above) while the rest "
                               "of its group went on training; the group cannot go on without "
                               "it, so the job ends: fix the cause and rerun with --resume"));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  pending->wait();
  votes = votes.cpu();
  return {votes[0].item<std::int64_t>(), votes[1].item<std::int64_t>()};
}

}  // namespace

int run_sweep(const SweepSettings& s, const StageContext& world) {
  const DatasetReader dataset(s.stage.data.store);
  if (find_method(s.init.method)->needs_learngene && s.init.learngene.empty())
    fail("--init ", s.init.method, " needs --learngene (the file tleg distill wrote)");
  // prefin pre-trains its own models (or takes --prefin-from's); the others need --from.
  if (find_method(s.init.method)->needs_pretrained && s.init.method != "prefin" &&
      s.init.pretrained.empty())
    fail("--init ", s.init.method, " needs --from (the pre-trained model it starts from)");
  // Before any training: every depth's pre-trained run must be there (every rank sees the same).
  std::vector<std::string> unfinished;
  if (!s.pretrained_runs.empty())
    for (const auto depth : s.depths)
      if (!run_finished(s.pretrained_runs + "/depth-" + std::to_string(depth)))
        unfinished.push_back(std::to_string(depth));
  if (!unfinished.empty())
    fail("--prefin-from ", s.pretrained_runs,
         ": no finished run (depth-<d>/run.json) for depth(s) ", concat_list(unfinished),
         "; run that sweep for them first, or drop --prefin-from to "
         "pre-train here");
  const std::int64_t pretrain_epochs =
      s.pretrain_epochs > 0 ? s.pretrain_epochs : s.stage.train.epochs;
  const std::string method = s.stage.method_or(s.init.method);
  const SweepPlan plan = plan_depths(s, dataset.info(), pretrain_epochs, world.comm.size());
  if (world.root()) std::cerr << plan.describe("GFLOP per image") << "\n";

  const int group_index = plan.group_of(world.comm.rank());
  const auto group_comm = world.comm.split(group_index, world.comm.rank());
  const auto agreement = world.comm.split(group_index, world.comm.rank());
  const StageContext group{*group_comm, world.device, world.world};
  const int world_rank = dist::world_rank();
  std::int64_t failures = 0;
  int stop_signal = 0;  // the signal that stopped this group, if one did
  for (const SweepJob& job : plan.groups[static_cast<std::size_t>(group_index)].jobs) {
    const std::string dir = sweep_run_dir(s.stage.train.run_dir, method, job.depth);
    if (run_finished(dir)) {
      if (group.root()) std::cerr << "depth " << job.depth << ": already done (" << dir << ")\n";
      continue;
    }
    DepthResult result;
    try {
      run_depth(s, group, dataset.info(), job.depth, pretrain_epochs, method);
    } catch (const dist::Stopped& stop) {
      result.stopped = stop.what();
      result.signal = stop.signal();
    } catch (const std::exception& error) {
      result.error = message_of(error);
      // Said at once: if this rank failed alone, its group may end the job before it can.
      std::cerr << "rank " << world_rank << ": error: depth " << job.depth << ": " << result.error
                << std::endl;
    }
    const auto [failed, stopping] =
        agree(*agreement, group, result, job.depth, s.stage.timeout_seconds);
    const int size = group.comm.size();
    if ((failed > 0 && failed < size) || (stopping > 0 && stopping < size)) {
      // Some ranks finished the depth and others did not: they no longer agree on the run.
      if (!result.error.empty())
        dist::abort_job(
            concat("rank ", world_rank, ": error: depth ", job.depth, ": ", result.error));
      dist::abort_job(concat("rank ", world_rank, ": error: depth ", job.depth,
                             " did not end alike on every rank of its group (", failed,
                             " rank(s) failed, ", stopping,
                             " stopped by a signal: their messages are printed above by them); "
                             "this rank finished it, but the group cannot go on without them"));
    }
    if (stopping == size) {
      stop_signal = result.signal;
      break;  // the job is being stopped: checkpointed, the rest waits for --resume
    }
    if (group.root()) std::filesystem::remove(dir + "/failed.txt");  // of an earlier attempt
    if (failed == size) {
      // Every rank of the group failed together (configuration, data, a NaN loss): record it
      // and go on with the group's next depth.
      ++failures;
      if (group.root()) {
        std::filesystem::create_directories(dir);
        std::ofstream(dir + "/failed.txt") << result.error << "\n";
        std::cerr << "depth " << job.depth << " failed: " << result.error << "\n";
      }
    }
  }
  // Groups finish minutes to hours apart: no deadline here.
  world.comm.wait_for_all();
  if (world.root()) print_summary(s, method);
  at::Tensor outcome =
      at::tensor({failures, std::int64_t{stop_signal != 0}, std::int64_t{stop_signal == SIGUSR1},
                  std::int64_t{stop_signal == SIGINT}},
                 at::kLong)
          .to(world.device);
  world.comm.all_reduce(outcome);
  outcome = outcome.cpu();
  if (outcome[1].item<std::int64_t>() > 0) {
    const int signal = outcome[2].item<std::int64_t>() > 0   ? SIGUSR1
                       : outcome[3].item<std::int64_t>() > 0 ? SIGINT
                                                             : SIGTERM;
    throw dist::Stopped(concat("sweep stopped by ", dist::signal_name(signal),
                               ": each running depth is checkpointed in its run folder and is not "
                               "marked failed; the finished ones are kept"),
                        signal, world.root());
  }
  return outcome[0].item<std::int64_t>() > 0 ? 1 : 0;
}

}  // namespace tleg

// What a run leaves behind for people and for the cost report: one JSON line per log interval
// (metrics.jsonl), a progress line on rank 0, and run.json, the cost ledger of the run.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dist/placement.h"

namespace tleg {

// The cost ledger (architecture.md): enough to compare methods by accuracy, training cost
// and stored parameters without rerunning anything.
struct RunLedger {
  std::string method;  // "aux" (stage 1), "tleg", "scratch", "prefin-pretrain", "prefin", "subset",
                       // "teacher"
  std::string init;    // how the model was initialised (describe() of the initialiser)
  std::int64_t depth = 0;
  std::string model;  // what was trained (Classifier::describe()); "" for the teacher-logits job
  std::int64_t epochs = 0;
  std::int64_t steps = 0;
  std::int64_t images = 0;  // training images processed, all ranks
  double flops = 0;         // training FLOPs (3 x forward per image)
  double wall_seconds = 0;
  double device_seconds = 0;  // wall x ranks (each rank holds one device or core)
  std::int64_t ranks = 1;
  std::string device;  // "cpu" or "cuda"
  std::int64_t parameters_trained = 0;
  std::int64_t parameters_stored = 0;  // kept on disk to initialise this model
  // Whether the run was evaluated at all (data.val-split '' skips it; tleg logits trains
  // nothing): when not, run.json holds null for every accuracy, never 0.
  bool evaluated = true;
  double top1 = 0, top5 = 0;  // the last epoch's evaluation
  // The best epoch's (highest top-1, DeiT's "max accuracy"; the paper's tables are best-epoch)
  // and that epoch, from 1. Records written before these existed read as best = last.
  double best_top1 = 0, best_top5 = 0;
  std::int64_t best_epoch = 0;
  // A TLEG descendant's accuracy as inherited, before its first step (the expansion alone);
  // empty for runs not evaluated before training.
  std::optional<double> initial_top1, initial_top5;
  std::string dataset, dataset_fingerprint;
  std::int64_t classes = 0;
  // A transfer (its initialisation trained on another store): that dataset's name and
  // fingerprint; empty otherwise.
  std::string transfer_from, transfer_fingerprint;
  std::string teacher_mode;  // "stored-logits", "live", or "" when no teacher
  std::string command, config;
  // The run's seed, and what it computes apart from it and from the paths of its input files
  // (the resolved options of the settings record, launcher/train_commands.cpp): runs that share
  // the recipe are seeds of one model, which tleg report averages. Empty in older records.
  std::optional<std::int64_t> seed;
  std::map<std::string, std::string> recipe;
  std::vector<dist::RankPlacement> placement;  // where each rank ran, by rank of the run
  std::map<std::string, std::string> extra;
};

// Where a run came from: the command's options as given and the INI files it read, as run.json
// (and a trained model's file) record them.
struct Provenance {
  std::string name;  // the tleg command that ran: a sweep's runs record "sweep", not "finetune"
  std::string command_line;  // its options as shell words (Options::command_line)
  std::vector<std::string> config_files;
  // Every option's value as the run saw it (given, from an INI file, or the default), but
  // run.dir and the options that only say how to invoke (--help, --check, --config, --resume).
  std::map<std::string, std::string> resolved_options;
  // "tleg <command> <options>": a shell runs it again.
  std::string command() const { return "tleg " + name + " " + command_line; }
  // The INI files, each followed by a space (run.json's "config").
  std::string configs() const {
    std::string joined;
    for (const auto& path : config_files) joined += path + " ";
    return joined;
  }
};

// The run's options as an INI file (config.ini in the run folder): `tleg <command> --config
// config.ini --run.dir NEW` trains the same run again, whatever defaults a later tleg has.
std::string resolved_config(const Provenance& provenance);
void write_resolved_config(const Provenance& provenance, const std::string& path);

void write_run_ledger(const RunLedger& ledger, const std::string& path);
RunLedger read_run_ledger(const std::string& path);  // errors name the file and the field

// One JSON object per line, flushed per line so a killed run keeps what it logged. `append`:
// after the lines of the run it resumes; otherwise the file starts empty.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, bool enabled, bool append);
  void write(const std::map<std::string, double>& values, const std::string& phase);

 private:
  std::ofstream out_;
  bool enabled_;
};

// "step 120/4680  loss 2.3012  lr 1.2e-04  812 img/s  ETA 5m12s" on rank 0.
class ProgressLine {
 public:
  // `done` counts from `first` (a resumed run) so the ETA reflects this process's speed.
  ProgressLine(bool enabled, std::int64_t first)
      : enabled_(enabled), first_(first), start_(std::chrono::steady_clock::now()) {}
  void update(const std::string& label, std::int64_t done, std::int64_t total,
              double images_per_second, const std::string& details);

 private:
  bool enabled_;
  std::int64_t first_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tleg

// The cost report: per-depth rows, family totals and every ratio against hand-computed numbers
// for a synthetic family of runs; plots written; each run's training curves from its
// metrics.jsonl; clear failures; the `tleg report` command.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <tuple>

#include "report/report.h"
#include "temp_dir.h"
#include "train/run_record.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Accuracy fractions like 0.75 - 0.71 and sums like 3e14 + 3e13 are exact to about 1e-15
// relative in double; 1e-9 leaves room for the %.10g the CSV files are written with.
constexpr double kTolerance = 1e-9;

struct RunSpec {
  std::string method;
  std::int64_t depth, epochs, images;
  double flops, device_seconds;
  std::int64_t trained, stored;
  double top1, top5;
};

RunLedger ledger_of(const RunSpec& spec) {
  RunLedger ledger;
  ledger.method = spec.method;
  ledger.init = spec.method;
  ledger.depth = spec.depth;
  ledger.epochs = spec.epochs;
  ledger.steps = spec.images / 100;
  ledger.images = spec.images;
  ledger.flops = spec.flops;
  ledger.wall_seconds = spec.device_seconds;
  ledger.device_seconds = spec.device_seconds;
  ledger.device = "cpu";
  ledger.parameters_trained = spec.trained;
  ledger.parameters_stored = spec.stored;
  // The best epoch is the spec's; the last one ended a point lower.
  ledger.best_top1 = spec.top1;
  ledger.best_top5 = spec.top5;
  ledger.best_epoch = spec.epochs - 1;
  ledger.top1 = spec.top1 - 0.01;
  ledger.top5 = spec.top5;
  ledger.dataset = "fashion-mnist";
  ledger.dataset_fingerprint = "f1f2f3";
  ledger.classes = 10;
  ledger.extra = {{"teacher_flops_per_image", "0"}};
  return ledger;
}

void write_run(const fs::path& dir, const RunSpec& spec,
               const std::function<void(RunLedger&)>& change = nullptr) {
  fs::create_directories(dir);
  RunLedger ledger = ledger_of(spec);
  if (change) change(ledger);
  write_run_ledger(ledger, (dir / "run.json").string());
}

// The family: numbers chosen so that every ratio is easy to compute by hand (see each test).
void write_family(const fs::path& root) {
  write_run(root / "teacher", {"teacher", 12, 10, 1000, 1e12, 3600, 5000, 0, 0.90, 0.99});
  write_run(root / "aux", {"aux", 12, 150, 150000, 3e14, 7200, 2000, 0, 0.75, 0.95});
  write_run(root / "tleg/d3", {"tleg", 3, 35, 35000, 1e13, 1800, 1300, 2000, 0.70, 0.90});
  write_run(root / "tleg/d6-seed1", {"tleg", 6, 35, 35000, 2e13, 3600, 1600, 2000, 0.74, 0.93});
  write_run(root / "tleg/d6-seed2", {"tleg", 6, 35, 35000, 2e13, 5400, 1600, 2000, 0.76, 0.95});
  write_run(root / "scratch/d3", {"scratch", 3, 35, 35000, 1e13, 1800, 1300, 0, 0.68, 0.88});
  write_run(root / "scratch/d6", {"scratch", 6, 100, 100000, 6.5e14, 25200, 1600, 0, 0.71, 0.91});
  write_run(root / "prefin-pretrain/d3",
            {"prefin-pretrain", 3, 100, 100000, 5e14, 14400, 1300, 0, 0.66, 0.86});
  write_run(root / "prefin-pretrain/d6",
            {"prefin-pretrain", 6, 100, 100000, 1e15, 21600, 1600, 0, 0.70, 0.90});
  write_run(root / "prefin/d3", {"prefin", 3, 35, 35000, 1e13, 1800, 1300, 1300, 0.69, 0.89});
  write_run(root / "prefin/d6", {"prefin", 6, 35, 35000, 2e13, 3600, 1600, 1600, 0.73, 0.92});
}

// A CSV file as rows of column name -> field (fields may be quoted and hold commas).
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> lines;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        fields.back() += line[++i];
      else if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted)
        fields.emplace_back();
      else
        fields.back() += c;
    }
    lines.push_back(fields);
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (std::size_t r = 1; r < lines.size(); ++r) {
    EXPECT_EQ(lines[r].size(), lines[0].size()) << path << " row " << r;
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < lines[0].size() && c < lines[r].size(); ++c)
      row[lines[0][c]] = lines[r][c];
    rows.push_back(row);
  }
  return rows;
}

std::map<std::string, std::string> find_row(
    const std::vector<std::map<std::string, std::string>>& rows,
    const std::map<std::string, std::string>& keys) {
  for (const auto& row : rows) {
    bool match = true;
    for (const auto& [column, value] : keys) match = match && row.at(column) == value;
    if (match) return row;
  }
  ADD_FAILURE() << "no row with the given keys";
  return {};
}

double number(const std::map<std::string, std::string>& row, const std::string& column) {
  return std::stod(row.at(column));
}

const ReportRatio& ratio_named(const ReportSummary& summary, const std::string& name) {
  for (const auto& ratio : summary.ratios)
    if (ratio.name == name) return ratio;
  throw std::runtime_error("no ratio named " + name);
}

std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string error_of(const std::vector<std::string>& runs, const std::string& out) {
  try {
    write_report(runs, out);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no error)";
}

class ReportOfFamily : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    write_family(dir_->path() / "runs");
    summary_ = new ReportSummary(
        write_report({(dir_->path() / "runs").string()}, (dir_->path() / "report").string()));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
  }
  static fs::path out(const std::string& name) { return dir_->path() / "report" / name; }
  static inline TempDir* dir_ = nullptr;
  static inline ReportSummary* summary_ = nullptr;
};

// Stage 1 from stored logits: the ledger tleg logits wrote (the teacher's forward passes) is
// part of TLEG's pre-training cost.
TEST(ReportOfStoredLogits, AddsTheLogitsLedgerToStageOne) {
  TempDir dir;
  write_family(dir.path() / "runs");
  write_run(dir.path() / "runs" / "logits",
            {"teacher-logits", 0, 0, 600000, 4e13, 1800, 0, 0, 0, 0});
  write_report({(dir.path() / "runs").string()}, (dir.path() / "report").string());
  const auto tleg = find_row(read_csv(dir.path() / "report" / "totals.csv"), {{"method", "tleg"}});
  EXPECT_NEAR(number(tleg, "pretraining_flops"), 3.4e14, 3.4e14 * kTolerance);  // aux + logits
  EXPECT_NEAR(number(tleg, "pretraining_device_hours"), 2.5, kTolerance);
  EXPECT_NE(tleg.at("pretraining_accounting").find("stored logits"), std::string::npos);
}

TEST_F(ReportOfFamily, RunsTableHasOneRowPerMethodAndDepthWithSeedStatistics) {
  EXPECT_EQ(summary_->run_files, 11u);
  const auto rows = read_csv(out("runs.csv"));
  ASSERT_EQ(rows.size(), 10u);  // 11 runs, the two tleg d=6 seeds in one row
  const auto tleg6 = find_row(rows, {{"method", "tleg"}, {"depth", "6"}});
  EXPECT_EQ(tleg6.at("n"), "2");
  EXPECT_NEAR(number(tleg6, "top1_percent_mean"), 75.0, kTolerance);
  EXPECT_NEAR(number(tleg6, "top1_percent_std"), std::sqrt(2.0), 1e-8);  // sample std of 74, 76
  EXPECT_NEAR(number(tleg6, "top5_percent_mean"), 94.0, kTolerance);
  EXPECT_NEAR(number(tleg6, "last_top1_percent_mean"), 74.0, kTolerance);
  EXPECT_NEAR(number(tleg6, "device_hours"), 1.25, kTolerance);  // mean of 1 h and 1.5 h
  EXPECT_NEAR(number(tleg6, "flops"), 2e13, 2e13 * kTolerance);
  EXPECT_EQ(tleg6.at("epochs"), "35");
  EXPECT_EQ(tleg6.at("images"), "35000");
  EXPECT_EQ(tleg6.at("parameters_trained"), "1600");
  EXPECT_EQ(tleg6.at("parameters_stored"), "2000");
  EXPECT_NE(tleg6.at("run_files").find("d6-seed1/run.json"), std::string::npos);
  EXPECT_NE(tleg6.at("run_files").find("d6-seed2/run.json"), std::string::npos);

  const auto scratch3 = find_row(rows, {{"method", "scratch"}, {"depth", "3"}});
  EXPECT_EQ(scratch3.at("n"), "1");
  EXPECT_EQ(scratch3.at("top1_percent_std"), "");  // undefined for one seed
  EXPECT_NEAR(number(scratch3, "top1_percent_mean"), 68.0, kTolerance);
  EXPECT_EQ(find_row(rows, {{"method", "teacher"}, {"depth", "12"}}).at("parameters_trained"),
            "5000");
  EXPECT_NE(text_of(out("runs.md")).find("| tleg | 6 | 2 | 75.00 ± 1.41 |"), std::string::npos);
  EXPECT_NE(text_of(out("runs.md")).find("top-1 % (best epoch)"), std::string::npos);
}

TEST_F(ReportOfFamily, TotalsSumEachFamilyOfDepths) {
  const auto rows = read_csv(out("totals.csv"));
  const auto tleg = find_row(rows, {{"method", "tleg"}});
  EXPECT_EQ(tleg.at("depths"), "3;6");
  EXPECT_NEAR(number(tleg, "pretraining_flops"), 3e14, 3e14 * kTolerance);  // the aux run
  EXPECT_NEAR(number(tleg, "finetuning_flops"), 3e13, 3e13 * kTolerance);   // 1e13 + 2e13
  EXPECT_NEAR(number(tleg, "total_flops"), 3.3e14, 3.3e14 * kTolerance);
  EXPECT_NEAR(number(tleg, "pretraining_device_hours"), 2.0, kTolerance);
  EXPECT_NEAR(number(tleg, "finetuning_device_hours"), 1.75, kTolerance);  // 0.5 + 1.25
  EXPECT_NEAR(number(tleg, "total_images"), 220000, kTolerance);
  EXPECT_NEAR(number(tleg, "total_epochs"), 220, kTolerance);
  EXPECT_EQ(tleg.at("parameters_stored"), "2000");
  EXPECT_NE(tleg.at("pretraining_accounting").find("teacher's own training not included"),
            std::string::npos);

  const auto prefin = find_row(rows, {{"method", "prefin"}});
  EXPECT_NEAR(number(prefin, "pretraining_flops"), 1.5e15, 1.5e15 * kTolerance);
  EXPECT_NEAR(number(prefin, "total_flops"), 1.53e15, 1.53e15 * kTolerance);
  EXPECT_NEAR(number(prefin, "pretraining_device_hours"), 10.0, kTolerance);
  EXPECT_EQ(prefin.at("parameters_stored"), "2900");  // 1300 + 1600

  const auto scratch = find_row(rows, {{"method", "scratch"}});
  EXPECT_EQ(number(scratch, "pretraining_flops"), 0.0);
  EXPECT_NEAR(number(scratch, "total_flops"), 6.6e14, 6.6e14 * kTolerance);
  EXPECT_NEAR(number(scratch, "total_device_hours"), 7.5, kTolerance);
  EXPECT_EQ(scratch.at("parameters_stored"), "0");

  const auto teacher = find_row(rows, {{"method", "teacher"}});
  EXPECT_NEAR(number(teacher, "total_flops"), 1e12, 1e12 * kTolerance);
  EXPECT_NE(text_of(out("totals.md")).find("NOT included in TLEG's pre-training cost"),
            std::string::npos);
}

TEST_F(ReportOfFamily, RatiosMatchHandComputedNumbers) {
  const std::vector<std::pair<std::string, double>> expected = {
      // scratch 1e13 + 6.5e14 = 6.6e14 against TLEG 3e14 + 1e13 + 2e13 = 3.3e14
      {"TLEG vs scratch: total training cost (FLOPs)", 2.0},
      {"TLEG vs scratch: total training cost (device-hours)", 7.5 / 3.75},
      {"TLEG vs scratch: total training cost (images)", 135000.0 / 220000.0},
      {"TLEG vs scratch: total training cost (epochs)", 135.0 / 220.0},
      {"TLEG vs scratch: total training cost, teacher's training included (FLOPs)",
       6.6e14 / 3.31e14},
      {"TLEG vs Pre-Fin: parameters stored", 2900.0 / 2000.0},
      {"TLEG vs Pre-Fin: pre-training cost (FLOPs)", 5.0},         // (5e14 + 1e15) / 3e14
      {"TLEG vs Pre-Fin: pre-training cost (device-hours)", 5.0},  // (4 h + 6 h) / 2 h
      {"TLEG vs Pre-Fin: pre-training cost (images)", 200000.0 / 150000.0},
      {"TLEG vs Pre-Fin: pre-training cost (epochs)", 200.0 / 150.0},
      {"TLEG vs Pre-Fin: pre-training cost, teacher's training included (FLOPs)", 1.5e15 / 3.01e14},
      // no subset runs: the largest prefin-pretrain model (d=6, 1600) against the learngene
      {"TLEG vs a pre-trained model: parameters stored", 0.8},
      {"TLEG vs scratch: top-1 at equal fine-tuning budget, depth 3", 2.0},  // 70 - 68
      {"TLEG vs scratch: top-1 at equal fine-tuning budget, depth 6", 4.0},  // 75 - 71
      {"TLEG vs prefin: top-1, depth 3", 1.0},                               // 70 - 69
      {"TLEG vs prefin: top-1, depth 6", 2.0},                               // 75 - 73
  };
  for (const auto& [name, value] : expected) {
    const ReportRatio& ratio = ratio_named(*summary_, name);
    ASSERT_TRUE(ratio.value.has_value()) << name << ": " << ratio.accounting;
    EXPECT_NEAR(*ratio.value, value, kTolerance) << name;
  }
  EXPECT_EQ(summary_->ratios.size(), expected.size());
  EXPECT_EQ(ratio_named(*summary_, "TLEG vs scratch: total training cost (FLOPs)").accounting,
            "scratch: depths 3, 6 from random init = 6.6e+14 FLOPs; TLEG: aux 3e+14 + fine-tuning "
            "(depths 3, 6) 3e+13 = 3.3e+14 FLOPs; 6.6e+14 / 3.3e+14 = 2.00x");
  EXPECT_NE(ratio_named(*summary_, "TLEG vs scratch: top-1 at equal fine-tuning budget, depth 3")
                .accounting.find("equal budget: both trained 35 epochs (35,000 images)"),
            std::string::npos);
  EXPECT_NE(ratio_named(*summary_, "TLEG vs scratch: top-1 at equal fine-tuning budget, depth 6")
                .accounting.find("NOT an equal budget"),
            std::string::npos);
  const auto rows = read_csv(out("ratios.csv"));
  EXPECT_EQ(rows.size(), expected.size());
  EXPECT_NEAR(number(find_row(rows, {{"ratio", "TLEG vs Pre-Fin: parameters stored"}}), "value"),
              1.45, kTolerance);
}

TEST_F(ReportOfFamily, WritesEveryPlotAndTheIndex) {
  for (const char* stem :
       {"accuracy_vs_depth", "accuracy_vs_cost", "cost_vs_models", "stored_parameters"})
    for (const char* extension : {".png", ".svg", ".dat", ".gp"}) {
      const fs::path file = out(std::string(stem) + extension);
      ASSERT_TRUE(fs::exists(file)) << file;
      EXPECT_GT(fs::file_size(file), 0u) << file;
    }
  const std::string index = text_of(out("report.md"));
  EXPECT_NE(index.find("![accuracy_vs_cost](accuracy_vs_cost.png)"), std::string::npos);
  EXPECT_NE(index.find("TLEG vs Pre-Fin: parameters stored | 1.45x |"), std::string::npos);
  // The TLEG curve starts where stage 1 ends: 0 models, the aux run's 3e14 FLOPs.
  EXPECT_NE(text_of(out("cost_vs_models.dat"))
                .find("# TLEG (aux + fine-tunings)\n"
                      "# models_produced cumulative_training_flops\n"
                      "0 3e+14\n1 3.1e+14\n2 3.3e+14\n"),
            std::string::npos);
}

// The family the demo runs: scratch for B and scratch-long (3B) told apart, Pre-Fin pre-trained
// by the scratch-long runs (reused, not trained twice), stage 1 from stored logits, TLEG's
// descendants evaluated before fine-tuning. `tleg6` is TLEG's top-1 at depth 6.
void write_demo_family(const fs::path& root, double tleg6) {
  write_run(root / "teacher", {"teacher", 6, 2, 1000, 2e13, 3600, 5000, 0, 0.90, 0.99});
  write_run(root / "logits", {"teacher-logits", 0, 0, 240000, 5e12, 360, 0, 0, 0, 0});
  write_run(root / "aux", {"aux", 12, 4, 60000, 2e13, 7200, 2000, 0, 0.80, 0.95});
  const auto initial = [](double top1) {
    return [top1](RunLedger& r) { r.initial_top1 = top1, r.initial_top5 = 0.9; };
  };
  write_run(root / "tleg/3", {"tleg", 3, 1, 30000, 1e13, 100, 1300, 1000, 0.80, 0.9}, initial(0.6));
  write_run(root / "tleg/6", {"tleg", 6, 1, 30000, 2e13, 100, 1600, 1000, tleg6, 0.9},
            initial(0.7));
  write_run(root / "scratch/3", {"scratch", 3, 1, 30000, 1e13, 100, 1300, 0, 0.70, 0.9});
  write_run(root / "scratch/6", {"scratch", 6, 1, 30000, 2e13, 100, 1600, 0, 0.72, 0.9});
  write_run(root / "long/3", {"scratch-long", 3, 3, 90000, 3e13, 300, 1300, 0, 0.805, 0.9});
  write_run(root / "long/6", {"scratch-long", 6, 3, 90000, 9e13, 300, 1600, 0, 0.81, 0.9});
  const auto reused = [](RunLedger& r) { r.extra["pretrained_method"] = "scratch-long"; };
  write_run(root / "prefin/3", {"prefin", 3, 1, 30000, 1e13, 100, 1300, 1300, 0.79, 0.9}, reused);
  write_run(root / "prefin/6", {"prefin", 6, 1, 30000, 2e13, 100, 1600, 1600, 0.80, 0.9}, reused);
}

const ReportVerdict& verdict_of(const ReportSummary& summary, const std::string& claim_start) {
  for (const auto& verdict : summary.verdicts)
    if (verdict.claim.rfind(claim_start, 0) == 0) return verdict;
  throw std::runtime_error("no verdict starting " + claim_start);
}

TEST(ReportOfDemoFamily, TellsScratchApartAndReusesScratchLongAsPreFinPretraining) {
  TempDir dir;
  write_demo_family(dir.path() / "runs", 0.805);
  const ReportSummary summary =
      write_report({(dir.path() / "runs").string()}, (dir.path() / "report").string());
  const auto totals = read_csv(dir.path() / "report" / "totals.csv");
  const auto prefin = find_row(totals, {{"method", "prefin"}});
  EXPECT_NEAR(number(prefin, "pretraining_flops"), 1.2e14, 1.2e14 * kTolerance);  // 3e13 + 9e13
  EXPECT_NE(prefin.at("pretraining_accounting")
                .find("the scratch-long runs reused as Pre-Fin's pre-training"),
            std::string::npos)
      << prefin.at("pretraining_accounting");
  EXPECT_NEAR(number(find_row(totals, {{"method", "scratch-long"}}), "total_flops"), 1.2e14,
              1.2e14 * kTolerance);
  EXPECT_NEAR(number(find_row(totals, {{"method", "scratch"}}), "total_flops"), 3e13,
              3e13 * kTolerance);
  // scratch-long 1.2e14 against TLEG's aux 2e13 + logits 5e12 + fine-tuning 3e13 = 5.5e13
  EXPECT_NEAR(*ratio_named(summary, "TLEG vs scratch-long: total training cost (FLOPs)").value,
              1.2e14 / 5.5e13, kTolerance);
  EXPECT_NEAR(*ratio_named(summary, "TLEG vs scratch: total training cost (FLOPs)").value,
              3e13 / 5.5e13, kTolerance);
  EXPECT_NEAR(*ratio_named(summary, "TLEG vs scratch-long: top-1, depth 3").value, -0.5, 1e-9);
  const auto runs = read_csv(dir.path() / "report" / "runs.csv");
  EXPECT_NEAR(
      number(find_row(runs, {{"method", "tleg"}, {"depth", "6"}}), "initial_top1_percent_mean"),
      70.0, kTolerance);
  EXPECT_EQ(find_row(runs, {{"method", "scratch"}, {"depth", "6"}}).at("initial_top1_percent_mean"),
            "");
  const std::string report = text_of(dir.path() / "report" / "report.md");
  EXPECT_NE(report.find("| TLEG before fine-tuning (as inherited) | 1 | 60.00 | 70.00 |"),
            std::string::npos)
      << report;
  EXPECT_NE(
      report.find("| Scratch (long), trained 3 epoch(s), 90,000 images | 1 | 80.50 | 81.00 |"),
      std::string::npos)
      << report;
}

TEST(ReportOfDemoFamily, DecidesEveryClaimByItsCriterion) {
  TempDir dir;
  write_demo_family(dir.path() / "runs", 0.805);
  const ReportSummary summary =
      write_report({(dir.path() / "runs").string()}, (dir.path() / "report").string());
  ASSERT_EQ(summary.verdicts.size(), 8u);
  // TLEG - scratch-long: -0.5 at both depths, within the 1 point of "comparable".
  EXPECT_TRUE(verdict_of(summary, "(a) accuracy").holds)
      << verdict_of(summary, "(a) accuracy").measured;
  // 1.2e14 / 5.5e13 = 2.18x >= 1.8x; with the teacher 1.2e14 / 7.5e13 = 1.6x < 1.8x.
  EXPECT_TRUE(verdict_of(summary,
                         "(a) training cost of the family: scratch-long vs TLEG, "
                         "teacher's training excluded")
                  .holds);
  const ReportVerdict& with_teacher = verdict_of(
      summary,
      "(a) training cost of the family: scratch-long vs TLEG, teacher's training included");
  EXPECT_FALSE(with_teacher.holds);
  EXPECT_EQ(with_teacher.measured.rfind("1.60x: ", 0), 0u) << with_teacher.measured;
  EXPECT_EQ(with_teacher.criterion, "the ratio at least 0.9 x the paper's 2x = 1.8x");
  // Pre-Fin stores 2,900 against the learngene's 1,000: 2.9x < 17.1x.
  EXPECT_FALSE(verdict_of(summary, "(b) parameters stored").holds);
  // Pre-Fin's pre-training 1.2e14 against stage 1's 2.5e13: 4.8x >= 4.5x.
  EXPECT_TRUE(verdict_of(summary, "(b) pre-training cost").holds);
  EXPECT_TRUE(verdict_of(summary, "(b) accuracy").holds);  // +1 and +0.5
  // The largest pre-trained model (scratch-long, depth 6: 1,600) against 1,000: 1.6x < 2.61x.
  EXPECT_FALSE(verdict_of(summary, "(c) parameters stored").holds);
  EXPECT_NE(verdict_of(summary, "(c) parameters stored").measured.find("scratch-long, depth 6"),
            std::string::npos);
  EXPECT_TRUE(verdict_of(summary, "(d) gain at equal budget").holds);  // +10 and +8.5
  const std::string verdicts = text_of(dir.path() / "report" / "verdicts.md");
  EXPECT_NE(verdicts.find("- " + verdict_line(with_teacher) + "\n"), std::string::npos);
  EXPECT_EQ(verdict_line(with_teacher).substr(verdict_line(with_teacher).size() - 20),
            ": does not hold here");
  const std::string report = text_of(dir.path() / "report" / "report.md");
  EXPECT_EQ(report.substr(report.size() - verdicts.size() + 1), verdicts.substr(1))
      << "report.md ends with the verdicts";

  // 1.5 points below scratch-long at depth 6: not comparable by the criterion.
  TempDir worse;
  write_demo_family(worse.path() / "runs", 0.795);
  const ReportSummary below =
      write_report({(worse.path() / "runs").string()}, (worse.path() / "report").string());
  EXPECT_FALSE(verdict_of(below, "(a) accuracy").holds);
  EXPECT_NE(verdict_of(below, "(a) accuracy").measured.find("d3 -0.50, d6 -1.50; mean -1.00"),
            std::string::npos)
      << verdict_of(below, "(a) accuracy").measured;
}

TEST(Report, VerdictsOfMissingRunsAreNotMeasured) {
  TempDir dir;
  write_run(dir.path() / "tleg", {"tleg", 3, 35, 35000, 1e13, 1800, 1300, 2000, 0.70, 0.90});
  const ReportSummary summary = write_report({dir.path().string()}, dir.file("report"));
  ASSERT_EQ(summary.verdicts.size(), 8u);
  for (const auto& verdict : summary.verdicts) {
    EXPECT_FALSE(verdict.measurable) << verdict.claim;
    EXPECT_EQ(verdict.measured.rfind("not measured: ", 0), 0u) << verdict.measured;
    EXPECT_TRUE(verdict_line(verdict).ends_with(": not measured here")) << verdict_line(verdict);
  }
}

TEST(Report, MissingMethodsAreSaidPlainly) {
  TempDir dir;
  write_run(dir.path() / "tleg", {"tleg", 3, 35, 35000, 1e13, 1800, 1300, 2000, 0.70, 0.90});
  const ReportSummary summary = write_report({dir.path().string()}, dir.file("report"));
  EXPECT_FALSE(ratio_named(summary, "TLEG vs scratch: total training cost").value);
  EXPECT_EQ(ratio_named(summary, "TLEG vs scratch: total training cost").accounting,
            "cannot be computed: no aux run among the inputs (TLEG's stage-1 cost)");
  EXPECT_EQ(ratio_named(summary, "TLEG vs Pre-Fin: parameters stored").accounting,
            "cannot be computed: no prefin runs among the inputs");
  EXPECT_NE(text_of(dir.path() / "report" / "totals.md").find("| n/a | cannot be computed"),
            std::string::npos);
}

TEST(Report, SubsetSourceIsThePretrainedModel) {
  TempDir dir;
  write_run(dir.path() / "aux", {"aux", 12, 150, 150000, 3e14, 7200, 2000, 0, 0.75, 0.95});
  write_run(dir.path() / "tleg", {"tleg", 3, 35, 35000, 1e13, 1800, 1300, 2000, 0.70, 0.90});
  write_run(dir.path() / "pretrained",
            {"pretrained", 12, 300, 300000, 9e14, 36000, 5000, 0, 0.8, 0.95});
  write_run(dir.path() / "subset", {"subset", 3, 35, 35000, 1e13, 1800, 1300, 5000, 0.69, 0.89});
  const ReportSummary summary = write_report({dir.path().string()}, dir.file("report"));
  EXPECT_NEAR(*ratio_named(summary, "TLEG vs a pre-trained model: parameters stored").value, 2.5,
              kTolerance);  // 5000 / 2000
  const auto subset =
      find_row(read_csv(dir.path() / "report" / "totals.csv"), {{"method", "subset"}});
  EXPECT_NEAR(number(subset, "total_flops"), 9.1e14, 9.1e14 * kTolerance);
}

// The initialisers of other papers are families of their own, from the methods table: mimetic
// pre-trains nothing; weight-selection and heur-lg count the pre-trained source, as subset does;
// each is drawn in its own colour.
TEST(Report, OtherPapersInitialisersAreFamiliesOfTheirOwn) {
  TempDir dir;
  write_run(dir.path() / "pretrained",
            {"pretrained", 12, 300, 300000, 9e14, 36000, 5000, 0, 0.8, 0.95});
  write_run(dir.path() / "mimetic", {"mimetic", 3, 35, 35000, 1e13, 1800, 1300, 0, 0.66, 0.87});
  write_run(dir.path() / "ws",
            {"weight-selection", 3, 35, 35000, 1e13, 1800, 1300, 5000, 0.69, 0.89});
  write_run(dir.path() / "heur", {"heur-lg", 3, 35, 35000, 1e13, 1800, 1300, 900, 0.67, 0.88});
  write_report({dir.path().string()}, dir.file("report"));
  const auto totals = read_csv(dir.path() / "report" / "totals.csv");
  const auto mimetic = find_row(totals, {{"method", "mimetic"}});
  EXPECT_NEAR(number(mimetic, "total_flops"), 1e13, 1e13 * kTolerance);
  EXPECT_NE(mimetic.at("pretraining_accounting").find("none: every depth starts from mimetic"),
            std::string::npos);
  for (const char* method : {"weight-selection", "heur-lg"}) {
    const auto row = find_row(totals, {{"method", method}});
    EXPECT_NEAR(number(row, "total_flops"), 9.1e14, 9.1e14 * kTolerance) << method;
    EXPECT_NE(row.at("pretraining_accounting").find("the pre-trained source"), std::string::npos)
        << method;
  }
  EXPECT_EQ(find_row(totals, {{"method", "heur-lg"}}).at("parameters_stored"), "900");
  const std::string plot = text_of(dir.path() / "report" / "accuracy_vs_depth.gp");
  for (const char* colour : {"#8c564b", "#e377c2", "#7f7f7f"})
    EXPECT_NE(plot.find(colour), std::string::npos) << colour;
}

// A transfer's runs (tleg, prefin, subset initialised from another store; scratch not): the
// section names the source, tabulates every method per depth with TLEG's margin over the best
// other, and the verdict follows the stated criterion both ways. Runs that are no transfer
// (the family above) get neither.
TEST(Report, TransferSectionAndVerdictFromTheRuns) {
  const auto write_transfer = [](const fs::path& root, double prefin_d6) {
    for (const auto& [method, d3, d6] :
         {std::tuple<std::string, double, double>{"tleg", 0.80, 0.82},
          {"scratch", 0.70, 0.71},
          {"prefin", 0.79, prefin_d6},
          {"subset", 0.75, 0.76}})
      for (const auto& [depth, top1] : {std::pair<std::int64_t, double>{3, d3}, {6, d6}}) {
        RunLedger ledger = ledger_of({method, depth, 1, 1000, 1e12, 60, 1000, 0, top1, 0.99});
        if (method != "scratch") {
          ledger.transfer_from = "fashion-mnist[0,2,4,6,8]";
          ledger.transfer_fingerprint = "50urce-5";
        }
        const fs::path dir = root / method / ("depth-" + std::to_string(depth));
        fs::create_directories(dir);
        write_run_ledger(ledger, (dir / "run.json").string());
      }
  };
  TempDir dir;
  write_transfer(dir.path() / "wins", 0.80);
  const ReportSummary wins = write_report({dir.file("wins")}, dir.file("wins-report"));
  ASSERT_EQ(wins.verdicts.size(), 1u);
  EXPECT_TRUE(wins.verdicts[0].holds);
  EXPECT_EQ(wins.verdicts[0].claim, "TLEG beats every other initialiser on the target task");
  // Margins: d3 0.80 - 0.79 (Pre-Fin) = +1.00, d6 0.82 - 0.80 = +2.00; mean +1.50.
  EXPECT_NE(wins.verdicts[0].measured.find("by +1.00 points at depth 3 (its smallest margin, "
                                           "over Pre-Fin); margin over the best other "
                                           "initialiser +1.50 points on average over depths "
                                           "3-6, largest +2.00 at depth 6"),
            std::string::npos)
      << wins.verdicts[0].measured;
  const std::string report = text_of(dir.path() / "wins-report" / "report.md");
  EXPECT_NE(report.find("## Transfer\n\nSource task: 'fashion-mnist[0,2,4,6,8]' (fingerprint "
                        "50urce-5)"),
            std::string::npos);
  EXPECT_NE(report.find("| 6 | 82.00 | 71.00 | 80.00 | 76.00 | +2.00 (Pre-Fin) |"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("**Verdict: holds.**"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "wins-report" / "transfer.md"));

  write_transfer(dir.path() / "loses", 0.825);  // Pre-Fin ahead by half a point at depth 6
  const ReportSummary loses = write_report({dir.file("loses")}, dir.file("loses-report"));
  ASSERT_EQ(loses.verdicts.size(), 1u);
  EXPECT_FALSE(loses.verdicts[0].holds);
  EXPECT_NE(loses.verdicts[0].measured.find("behind or level at d=6 (Pre-Fin +0.50)"),
            std::string::npos)
      << loses.verdicts[0].measured;
  EXPECT_NE(text_of(dir.path() / "loses-report" / "report.md").find("**Verdict: does not hold.**"),
            std::string::npos);

  write_family(dir.path() / "family");
  const ReportSummary family = write_report({dir.file("family")}, dir.file("family-report"));
  // The paper's own claims only (verdicts.h), no transfer verdict.
  for (const auto& verdict : family.verdicts)
    EXPECT_EQ(verdict.claim.find("target task"), std::string::npos) << verdict.claim;
  EXPECT_EQ(text_of(dir.path() / "family-report" / "report.md").find("## Transfer"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "family-report" / "transfer.md"));
}

// Over seeds, the transfer table gives mean ± std for every initialiser, and each margin (of
// the means) carries the larger seed std of the two initialisers it compares.
TEST(Report, TransferOverSeedsShowsMeansAndTheirSpread) {
  TempDir dir;
  for (const auto& [method, s0, s1] : {std::tuple<std::string, double, double>{"tleg", 0.80, 0.82},
                                       {"weight-selection", 0.78, 0.79},
                                       {"mimetic", 0.70, 0.72}})
    for (const std::int64_t seed : {0, 1}) {
      write_run(dir.path() / ("seed-" + std::to_string(seed)) / method,
                {method, 3, 1, 1000, 1e12, 60, 1000, 0, seed == 0 ? s0 : s1, 0.99},
                [&](RunLedger& l) {
                  l.seed = seed;
                  if (method != "mimetic") {
                    l.transfer_from = "fashion-mnist[0,2,4,6,8]";
                    l.transfer_fingerprint = "50urce-5";
                  }
                });
    }
  const ReportSummary summary =
      write_report({dir.file("seed-0"), dir.file("seed-1")}, dir.file("report"));
  ASSERT_EQ(summary.verdicts.size(), 1u);
  EXPECT_TRUE(summary.verdicts[0].holds);
  // TLEG 81.00 ± 1.41, weight selection 78.50 ± 0.71: +2.50, the larger std 1.41.
  EXPECT_NE(summary.verdicts[0].measured.find(
                "by +2.50 points at depth 3 (its smallest margin, over Weight selection; seed "
                "std ≤ 1.41)"),
            std::string::npos)
      << summary.verdicts[0].measured;
  EXPECT_NE(summary.verdicts[0].criterion.find("2 seeds"), std::string::npos);
  const std::string report = text_of(dir.path() / "report" / "report.md");
  EXPECT_NE(report.find("mean over seeds ± std over 2 seeds"), std::string::npos) << report;
  EXPECT_NE(report.find("| 3 | 81.00 ± 1.41 | 71.00 ± 1.41 | 78.50 ± 0.71 | +2.50 (Weight "
                        "selection; seed std ≤ 1.41) |"),
            std::string::npos)
      << report;
}

// Runs of one method and depth are averaged only as seeds of one model: a second run of the
// same seed (a debugging run beside the real one) or a run of another recipe or budget is
// refused naming both files and what differs.
TEST(Report, OnlySeedsOfOneModelAreAveraged) {
  TempDir dir;
  const RunSpec scratch{"scratch", 3, 35, 35000, 1e13, 1800, 1300, 0, 0.68, 0.88};
  const auto seed = [](std::int64_t s) {
    return [s](RunLedger& l) {
      l.seed = s;
      l.recipe = {{"optim.epochs", "35"}, {"optim.lr", "0.0005"}};
    };
  };
  write_run(dir.path() / "runs/s0", scratch, seed(0));
  write_run(dir.path() / "runs/s1", scratch, seed(1));
  const ReportSummary two_seeds = write_report({dir.file("runs")}, dir.file("report"));
  EXPECT_EQ(two_seeds.run_files, 2u);

  write_run(dir.path() / "runs/debug", scratch, seed(0));
  std::string message = error_of({dir.file("runs")}, dir.file("report2"));
  EXPECT_NE(message.find("are both scratch at depth 3 with seed 0: the same model trained twice"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(dir.file("runs/debug/run.json")), std::string::npos) << message;
  fs::remove_all(dir.path() / "runs/debug");

  write_run(dir.path() / "runs/short", scratch, [&](RunLedger& l) {
    seed(2)(l);
    l.recipe["optim.epochs"] = "1";
    l.steps = 20;
  });
  message = error_of({dir.file("runs")}, dir.file("report3"));
  EXPECT_NE(message.find("are both scratch at depth 3 but are not seeds of one model: "
                         "optim.epochs=35 (other: 1), steps=350 (other: 20)"),
            std::string::npos)
      << message;
}

// A run without an evaluation has no accuracy: null in run.json, "no evaluation" in the
// tables (the teacher-logits job), and a family's run without one is refused.
TEST(Report, RunsWithoutEvaluationHaveNoAccuracy) {
  TempDir dir;
  write_family(dir.path() / "runs");
  write_run(dir.path() / "runs/logits", {"teacher-logits", 0, 0, 600000, 4e13, 1800, 0, 0, 0, 0},
            [](RunLedger& l) { l.evaluated = false; });
  EXPECT_NE(text_of(dir.path() / "runs/logits/run.json").find("\"top1\": null"), std::string::npos);
  write_report({dir.file("runs")}, dir.file("report"));
  const std::string runs_md = text_of(dir.path() / "report" / "runs.md");
  EXPECT_NE(runs_md.find("| teacher-logits | - | 1 | no evaluation | no evaluation |"),
            std::string::npos)
      << runs_md;
  const auto logits =
      find_row(read_csv(dir.path() / "report" / "runs.csv"), {{"method", "teacher-logits"}});
  EXPECT_EQ(logits.at("top1_percent_mean"), "");
  // what it computed is counted all the same: in its row and in stage 1's cost
  EXPECT_NEAR(number(logits, "flops"), 4e13, 4e13 * kTolerance);
  EXPECT_NEAR(number(logits, "images"), 600000, kTolerance);

  write_run(dir.path() / "runs/scratch/d9", {"scratch", 9, 35, 35000, 1e13, 1800, 1300, 0, 0, 0},
            [](RunLedger& l) { l.evaluated = false; });
  const std::string message = error_of({dir.file("runs")}, dir.file("report2"));
  EXPECT_NE(message.find(dir.file("runs/scratch/d9/run.json") +
                         ": a scratch run at depth 9 without an evaluation"),
            std::string::npos)
      << message;
}

TEST(Report, MixedFingerprintsNameBothRuns) {
  TempDir dir;
  write_run(dir.path() / "a", {"tleg", 3, 35, 35000, 1e13, 1800, 1300, 2000, 0.70, 0.90});
  RunLedger other = ledger_of({"scratch", 3, 35, 35000, 1e13, 1800, 1300, 0, 0.68, 0.88});
  other.dataset_fingerprint = "0ther";
  fs::create_directories(dir.path() / "b");
  write_run_ledger(other, dir.file("b/run.json"));
  const std::string message = error_of({dir.path().string()}, dir.file("report"));
  EXPECT_NE(message.find("runs of different dataset fingerprints mixed"), std::string::npos)
      << message;
  EXPECT_NE(message.find(dir.file("a/run.json") + " has 'f1f2f3'"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("b/run.json") + " has '0ther'"), std::string::npos) << message;
}

TEST(Report, FailsClearlyOnMissingOrBrokenRuns) {
  TempDir dir;
  fs::create_directories(dir.path() / "empty");
  EXPECT_NE(error_of({dir.file("empty")}, dir.file("report"))
                .find(dir.file("empty") + ": no run.json in this folder or below it"),
            std::string::npos);
  EXPECT_NE(error_of({dir.file("nothing-here")}, dir.file("report"))
                .find(dir.file("nothing-here") + ": no such file or folder"),
            std::string::npos);
  std::ofstream(dir.file("run.json")) << "{\"format\": \"tleg-run\"}\n";
  EXPECT_NE(error_of({dir.file("run.json")}, dir.file("report"))
                .find(dir.file("run.json") + ": incomplete run record"),
            std::string::npos);
}

// A gnuplot data file's blocks (separated by two blank lines), each as its data lines.
std::vector<std::vector<std::string>> data_blocks(const std::string& text) {
  std::vector<std::vector<std::string>> blocks(1);
  std::istringstream in(text);
  std::string line;
  int blank = 0;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (++blank == 2 && !blocks.back().empty()) blocks.emplace_back();
      continue;
    }
    blank = 0;
    if (line[0] != '#') blocks.back().push_back(line);
  }
  if (blocks.back().empty()) blocks.pop_back();
  return blocks;
}

// One line of metrics.jsonl with the keys train/trainer.cpp's TrainingLog writes.
void log_train(MetricsLog& log, double step, double epoch, double loss, double lr) {
  log.write({{"step", step},
             {"epoch", epoch},
             {"loss", loss},
             {"lr", lr},
             {"images_per_second", 100},
             {"data_wait_fraction", 0.1},
             {"bytes_reduced", 0}},
            "train");
}
void log_eval(MetricsLog& log, double step, double epoch, double top1, double top5, double loss) {
  log.write({{"step", step}, {"epoch", epoch}, {"top1", top1}, {"top5", top5}, {"loss", loss}},
            "eval");
}

bool is_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string signature(8, '\0');
  in.read(signature.data(), 8);
  return in && signature == "\x89PNG\r\n\x1a\n";
}

// Each run's metrics.jsonl becomes its figure: the .dat holds the log's numbers by step (a
// resumed run's repeated step once, as logged last; a line cut by a kill left out), the script
// draws the panels the run has data for, gnuplot draws it, and report.md links it or says why a
// run has none.
TEST(ReportCurves, EachRunsMetricsBecomeItsFigure) {
  TempDir dir;
  const fs::path runs = dir.path() / "runs";
  // 20 steps (images / 100), evaluated at both epoch ends, and evaluated as inherited.
  write_run(runs / "tleg/d3", {"tleg", 3, 2, 2000, 1e13, 1800, 1300, 2000, 0.70, 0.95},
            [](RunLedger& r) { r.initial_top1 = 0.4, r.initial_top5 = 0.8; });
  {
    MetricsLog log((runs / "tleg/d3/metrics.jsonl").string(), true, /*append=*/false);
    log_train(log, 5, 1, 2.0, 1e-3);
    log_train(log, 10, 1, 1.5, 2e-3);
    log_eval(log, 10, 1, 0.5, 0.9, 1.4);
    log_train(log, 15, 2, 1.2, 2e-3);  // killed after this line, resumed from step 10:
  }
  {
    MetricsLog log((runs / "tleg/d3/metrics.jsonl").string(), true, /*append=*/true);
    log_train(log, 15, 2, 1.25, 2e-3);
    log_train(log, 20, 2, 1.0, 1e-3);
    log_eval(log, 20, 2, 0.7, 0.95, 0.9);
  }
  // Not evaluated (data.val-split ''), and killed in the middle of a line before its resume.
  write_run(runs / "aux", {"aux", 12, 1, 1200, 3e14, 7200, 2000, 0, 0, 0},
            [](RunLedger& r) { r.evaluated = false; });
  {
    MetricsLog log((runs / "aux/metrics.jsonl").string(), true, /*append=*/false);
    log_train(log, 4, 1, 3.0, 5e-4);
    log_train(log, 8, 1, 2.5, 5e-4);
  }
  std::ofstream(runs / "aux/metrics.jsonl", std::ios::app) << "{\"bytes_reduced\":0.0,\"ep";
  {
    MetricsLog log((runs / "aux/metrics.jsonl").string(), true, /*append=*/true);
    log_train(log, 8, 1, 2.4, 5e-4);  // continues the cut line: lost
    log_train(log, 12, 1, 2.0, 5e-4);
  }
  // Trained nothing: no metrics.jsonl. Logged nothing: an empty one.
  write_run(runs / "logits", {"teacher-logits", 0, 0, 600000, 4e13, 1800, 0, 0, 0, 0},
            [](RunLedger& r) { r.evaluated = false; });
  write_run(runs / "teacher", {"teacher", 6, 1, 1000, 1e12, 3600, 5000, 0, 0.90, 0.99});
  std::ofstream(runs / "teacher/metrics.jsonl").close();

  const ReportSummary summary = write_report({runs.string()}, dir.file("report"));
  const fs::path curves = dir.path() / "report" / "curves";
  for (const char* stem : {"tleg_d3", "aux"})
    for (const char* extension : {".png", ".svg", ".dat", ".gp"}) {
      const std::string file = std::string("curves/") + stem + extension;
      ASSERT_TRUE(fs::exists(dir.path() / "report" / file)) << file;
      EXPECT_GT(fs::file_size(dir.path() / "report" / file), 0u) << file;
      EXPECT_NE(std::find(summary.files.begin(), summary.files.end(), file), summary.files.end())
          << file;
    }
  EXPECT_TRUE(is_png(curves / "tleg_d3.png"));
  EXPECT_TRUE(is_png(curves / "aux.png"));
  std::vector<std::string> written;  // the two figures' files, nothing for the other runs
  for (const auto& entry : fs::directory_iterator(curves))
    written.push_back(entry.path().filename().string());
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written,
            (std::vector<std::string>{"aux.dat", "aux.gp", "aux.png", "aux.svg", "tleg_d3.dat",
                                      "tleg_d3.gp", "tleg_d3.png", "tleg_d3.svg"}))
      << (fs::exists(curves / "gnuplot.log") ? text_of(curves / "gnuplot.log") : "");

  // Percent with %.10g: 100 * 0.7 is 70.00000000000001 in double.
  const std::vector<std::vector<std::string>> tleg_blocks = {
      {"5 1 2 0.001", "10 1 1.5 0.002", "15 2 1.25 0.002", "20 2 1 0.001"},
      {"10 1 50 90 1.4", "20 2 70 95 0.9"},
      {"0 40 80"}};
  EXPECT_EQ(data_blocks(text_of(curves / "tleg_d3.dat")), tleg_blocks);
  const std::vector<std::vector<std::string>> aux_blocks = {
      {"4 1 3 0.0005", "8 1 2.5 0.0005", "12 1 2 0.0005"}};
  EXPECT_EQ(data_blocks(text_of(curves / "aux.dat")), aux_blocks);

  const std::string tleg_script = text_of(curves / "tleg_d3.gp");
  for (const char* part :
       {"set multiplot layout 3,1 title \"tleg/d3: TLEG, depth 3\"", "set xrange [0:20]",
        "'tleg_d3.dat' index 0 using 1:3 with lines", "'tleg_d3.dat' index 1 using 1:5",
        "'tleg_d3.dat' index 0 using 1:4", "'tleg_d3.dat' index 1 using 1:3",
        "'tleg_d3.dat' index 2 using 1:2", "set output 'tleg_d3.png'", "set output 'tleg_d3.svg'"})
    EXPECT_NE(tleg_script.find(part), std::string::npos) << part << "\n" << tleg_script;
  const std::string aux_script = text_of(curves / "aux.gp");
  EXPECT_NE(aux_script.find("set multiplot layout 2,1"), std::string::npos) << aux_script;
  EXPECT_EQ(aux_script.find("index 1"), std::string::npos) << aux_script;
  EXPECT_EQ(aux_script.find("top-1"), std::string::npos) << aux_script;

  const std::string index = text_of(dir.path() / "report" / "report.md");
  for (const char* row :
       {"- `curves/`: each run's training curves",
        "| tleg/d3 | TLEG | 3 | 4 | 2 | [PNG](curves/tleg_d3.png), [SVG](curves/tleg_d3.svg) |",
        "| aux | aux | 12 | 3 | 0 | [PNG](curves/aux.png), [SVG](curves/aux.svg) (1 unreadable "
        "line(s) left out",
        "| logits | teacher-logits | - | - | - | no metrics.jsonl beside its run.json |",
        "| teacher | teacher | 6 | 0 | 0 | nothing logged |"})
    EXPECT_NE(index.find(row), std::string::npos) << row << "\n" << index;
}

// Runs are named by their folders below the one that holds them all; two names that would make
// the same file name get different ones.
TEST(ReportCurves, FigureNamesAreUnique) {
  TempDir dir;
  for (const char* folder : {"runs/a_b/c", "runs/a/b_c"}) {
    write_run(dir.path() / folder, {"teacher", 6, 1, 1000, 1e12, 3600, 5000, 0, 0.90, 0.99});
    MetricsLog log((dir.path() / folder / "metrics.jsonl").string(), true, false);
    log_train(log, 10, 1, 1.0, 1e-3);
  }
  write_report({dir.file("runs")}, dir.file("report"));
  const std::string index = text_of(dir.path() / "report" / "report.md");
  EXPECT_NE(index.find("| a/b_c | teacher | 6 | 1 | 0 | [PNG](curves/a_b_c.png)"),
            std::string::npos)
      << index;
  EXPECT_NE(index.find("| a_b/c | teacher | 6 | 1 | 0 | [PNG](curves/a_b_c-2.png)"),
            std::string::npos)
      << index;
  EXPECT_TRUE(is_png(dir.path() / "report/curves/a_b_c-2.png"));
}

TEST_F(ReportOfFamily, RunsWithoutMetricsHaveNoCurves) {
  EXPECT_FALSE(fs::exists(out("curves")));
  const std::string index = text_of(out("report.md"));
  EXPECT_NE(
      index.find("| tleg/d6-seed1 | TLEG | 6 | - | - | no metrics.jsonl beside its run.json |"),
      std::string::npos)
      << index;
  EXPECT_EQ(index.find("- `curves/`"), std::string::npos) << index;
  EXPECT_NE(index.find("No figures: no run has a `metrics.jsonl`"), std::string::npos) << index;
}

// Runs a shell command; returns its exit status and what it printed (stdout and stderr).
std::pair<int, std::string> shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(ReportCommand, HelpListsTheOptions) {
  const auto [status, output] = shell(std::string(TLEG_BINARY) + " report --help");
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("usage: tleg report [options] RUNS..."), std::string::npos) << output;
  EXPECT_NE(output.find("--out"), std::string::npos) << output;
  EXPECT_NE(output.find("--runs"), std::string::npos) << output;
  EXPECT_NE(output.find("curves/"), std::string::npos) << output;
}

TEST(ReportCommand, WritesAReportAndFailsInOneLine) {
  TempDir dir;
  write_family(dir.path() / "runs");
  const auto [status, output] =
      shell(std::string(TLEG_BINARY) + " report " + dir.file("runs") + " --out " + dir.file("out"));
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("read 11 run.json file(s)"), std::string::npos) << output;
  EXPECT_NE(output.find("TLEG vs scratch: total training cost (FLOPs): 2x"), std::string::npos)
      << output;
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "report.md"));
  EXPECT_GT(fs::file_size(dir.path() / "out" / "stored_parameters.png"), 0u);

  fs::create_directories(dir.path() / "empty");
  const auto [failed, message] =
      shell(std::string(TLEG_BINARY) + " report " + dir.file("empty") + " --out " + dir.file("x"));
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(message, "tleg report: error: " + dir.file("empty") +
                         ": no run.json in this folder or below it (a run writes run.json when "
                         "it finishes; pass the folders of finished runs)\n");
}

}  // namespace
}  // namespace tleg

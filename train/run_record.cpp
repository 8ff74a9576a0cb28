#include "train/run_record.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "common/format.h"

namespace tleg {

using nlohmann::json;

namespace {

// Written beside and renamed over `path`: a reader never sees half a file.
void write_whole(const std::string& path, const std::string& text, const char* what) {
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary);
    out << text;
    if (!out) fail(path, ": cannot write ", what);
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace

std::string resolved_config(const Provenance& provenance) {
  // Keys before any section have no prefix ("depth", "init"); "optim.epochs" is [optim] epochs.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& [name, value] : provenance.resolved_options) {
    const auto dot = name.find('.');
    if (dot == std::string::npos)
      sections[""].emplace_back(name, value);
    else
      sections[name.substr(0, dot)].emplace_back(name.substr(dot + 1), value);
  }
  std::ostringstream text;
  text << "# tleg " << provenance.name << ": every option of this run as it ran. Train it again "
       << "with\n#   tleg " << provenance.name << " --config config.ini --run.dir NEW_FOLDER\n";
  for (const auto& [section, keys] : sections) {
    text << "\n";
    if (!section.empty()) text << "[" << section << "]\n";
    for (const auto& [key, value] : keys) text << key << " = " << value << "\n";
  }
  return text.str();
}

void write_resolved_config(const Provenance& provenance, const std::string& path) {
  write_whole(path, resolved_config(provenance), "the run's options");
}

void write_run_ledger(const RunLedger& r, const std::string& path) {
  const auto accuracy = [&](double value) { return r.evaluated ? json(value) : json(nullptr); };
  json placement = json::array();
  for (const auto& p : r.placement)
    placement.push_back({{"rank", p.rank},
                         {"node", p.node},
                         {"host", p.host},
                         {"local_rank", p.local_rank},
                         {"device", p.device},
                         {"cpus", p.cpus},
                         {"host_cpus", p.host_cpus}});
  const json record = {{"format", "tleg-run"},
                       {"version", 1},
                       {"method", r.method},
                       {"init", r.init},
                       {"depth", r.depth},
                       {"model", r.model},
                       {"epochs", r.epochs},
                       {"steps", r.steps},
                       {"images", r.images},
                       {"flops", r.flops},
                       {"wall_seconds", r.wall_seconds},
                       {"device_seconds", r.device_seconds},
                       {"ranks", r.ranks},
                       {"device", r.device},
                       {"parameters_trained", r.parameters_trained},
                       {"parameters_stored", r.parameters_stored},
                       {"top1", accuracy(r.top1)},
                       {"top5", accuracy(r.top5)},
                       {"best_top1", accuracy(r.best_top1)},
                       {"best_top5", accuracy(r.best_top5)},
                       {"best_epoch", r.best_epoch},
                       {"initial_top1", r.initial_top1 ? json(*r.initial_top1) : json(nullptr)},
                       {"initial_top5", r.initial_top5 ? json(*r.initial_top5) : json(nullptr)},
                       {"dataset", r.dataset},
                       {"dataset_fingerprint", r.dataset_fingerprint},
                       {"classes", r.classes},
                       {"transfer_from", r.transfer_from},
                       {"transfer_fingerprint", r.transfer_fingerprint},
                       {"teacher_mode", r.teacher_mode},
                       {"command", r.command},
                       {"config", r.config},
                       {"seed", r.seed ? json(*r.seed) : json(nullptr)},
                       {"recipe", r.recipe},
                       {"placement", placement},
                       {"extra", r.extra}};
  write_whole(path, record.dump(2) + "\n", "the run record");
}

RunLedger read_run_ledger(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read the run record");
  json record;
  try {
    record = json::parse(in);
  } catch (const json::exception& error) {
    fail(path, ": not a valid run record (", error.what(), ")");
  }
  RunLedger r;
  try {
    if (record.at("format") != "tleg-run") fail(path, ": not a tleg run record");
    r.method = record.at("method");
    r.init = record.at("init");
    r.depth = record.at("depth");
    r.epochs = record.at("epochs");
    r.steps = record.at("steps");
    r.images = record.at("images");
    r.flops = record.at("flops");
    r.wall_seconds = record.at("wall_seconds");
    r.device_seconds = record.at("device_seconds");
    r.ranks = record.at("ranks");
    r.device = record.at("device");
    r.parameters_trained = record.at("parameters_trained");
    r.parameters_stored = record.at("parameters_stored");
    r.evaluated = !record.at("top1").is_null();
    const auto number = [&](const char* key, double fallback) {
      return record.contains(key) && !record.at(key).is_null() ? record.at(key).get<double>()
                                                               : fallback;
    };
    r.top1 = number("top1", 0);
    r.top5 = number("top5", 0);
    r.best_top1 = number("best_top1", r.top1);
    r.best_top5 = number("best_top5", r.top5);
    r.best_epoch = record.value("best_epoch", r.epochs);
    for (auto [key, field] :
         {std::pair{"initial_top1", &r.initial_top1}, std::pair{"initial_top5", &r.initial_top5}})
      if (record.contains(key) && !record.at(key).is_null()) *field = record.at(key).get<double>();
    r.dataset = record.at("dataset");
    r.dataset_fingerprint = record.at("dataset_fingerprint");
    r.classes = record.at("classes");
    r.transfer_from = record.value("transfer_from", std::string());  // absent before transfers
    r.transfer_fingerprint = record.value("transfer_fingerprint", std::string());
    r.teacher_mode = record.at("teacher_mode");
    r.command = record.at("command");
    r.config = record.at("config");
    r.extra = record.at("extra").get<std::map<std::string, std::string>>();
    r.model = record.value("model", std::string());
    if (record.contains("seed") && !record.at("seed").is_null())
      r.seed = record.at("seed").get<std::int64_t>();
    r.recipe = record.value("recipe", std::map<std::string, std::string>());
    // Records written before placement was kept have none.
    for (const auto& p : record.value("placement", json::array()))
      r.placement.push_back({.rank = p.at("rank"),
                             .host = p.at("host"),
                             .node = p.at("node"),
                             .local_rank = p.at("local_rank"),
                             .device = p.at("device"),
                             .cpus = p.at("cpus"),
                             .host_cpus = p.at("host_cpus")});
  } catch (const json::exception& error) {
    fail(path, ": incomplete run record (", error.what(), "); rerun that stage");
  }
  return r;
}

MetricsLog::MetricsLog(const std::string& path, bool enabled, bool append) : enabled_(enabled) {
  if (!enabled_) return;
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!out_) fail(path, ": cannot open the metrics log");
}

void MetricsLog::write(const std::map<std::string, double>& values, const std::string& phase) {
  if (!enabled_) return;
  json line(values);
  line["phase"] = phase;
  out_ << line.dump() << std::endl;  // flushed: a killed run keeps its log
}

void ProgressLine::update(const std::string& label, std::int64_t done, std::int64_t total,
                          double images_per_second, const std::string& details) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::cerr << label << " " << done << "/" << total << "  " << details << "  "
            << static_cast<std::int64_t>(images_per_second) << " img/s";
  if (done > first_ && done < total)
    std::cerr << "  ETA "
              << format_duration(elapsed * static_cast<double>(total - done) /
                                 static_cast<double>(done - first_));
  std::cerr << std::endl;
}

}  // namespace tleg

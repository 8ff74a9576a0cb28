// `tleg logits`: the teacher over K stored views of every image of a split (the views training
// will render, see stored_view_index in data/), written as a teacher-logits store
// (data/FORMAT.md) that stage 1 reads instead of running the teacher.
#pragma once

#include <cstdint>
#include <string>

#include "train/run_record.h"
#include "stages/stage.h"

namespace tleg {

struct LogitsSettings {
  std::string data;     // dataset store (.h5)
  std::string teacher;  // tleg model (.h5) or TorchScript file
  std::string out;      // output folder: index.h5 and one shard-NNNNN.h5 per dataset shard
  std::string split = "train";
  std::int64_t views = 1;    // stored views per image, K
  std::int64_t topk = 10;    // logits kept per view (0: all classes)
  std::int64_t seed = 0;     // the training run's run.seed (views depend on it)
  std::int64_t batch = 256;  // views per teacher forward pass
  std::int64_t threads = 2;  // render and compute threads per rank
  PrecisionRequest precision = PrecisionRequest::kAuto;  // a tleg model teacher's precision
  ViewSettings view;
  Provenance provenance;  // for run.json
};

// Each rank writes the shards s with s % ranks == rank, one file each; rank 0 writes the index
// last. Finished shard files of the same settings are kept, so an interrupted run is re-run as is.
void write_teacher_logits(const LogitsSettings& settings, const StageContext& context);

}  // namespace tleg

// The teacher of stage 1: a TorchScript file (what a user exports from timm with
// torch.jit.trace, e.g. LeViT-384 or RegNetY-16GF) or a model tleg trained itself (a .h5
// model file from `tleg teacher`, ViT or CNN), run on the very batch the student sees.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "model/precision.h"

namespace tleg {

class Teacher {
 public:
  virtual ~Teacher() = default;
  // Logits [B, classes] for images [B, C, H, W]; no gradients.
  virtual at::Tensor logits(const at::Tensor& images) = 0;
  virtual std::string identity() const = 0;  // what was loaded, for run.json and the logits store
  // Forward FLOPs per image (2 per multiply-add, as forward_flops of a VitConfig), and how they
  // were obtained: counted from a tleg model's architecture, or declared at TorchScript export.
  virtual double forward_flops() const = 0;
  virtual std::string flops_source() const = 0;
};

// A path ending in .h5 is a tleg model file, run in `precision` (the run's: a bf16 run's teacher
// computes in bf16 as its student does); anything else is loaded as TorchScript (run as
// exported; on a GPU under the step's autocast), which must declare its forward FLOPs per image
// in the extra file "forward_flops" at export:
//   with torch.utils.flop_counter.FlopCounterMode(display=False) as c: model(example[:1])
//   torch.jit.save(traced, path, _extra_files={"forward_flops": str(c.get_total_flops())})
std::unique_ptr<Teacher> load_teacher(const std::string& path, c10::Device device,
                                      Precision precision = Precision::kFloat32);

// The classes the teacher at `path` (loaded on `device`) predicts for `channels` x `image` x
// `image` images, from one forward of a blank image; fails naming the teacher and the input when it
// cannot take them.
std::int64_t teacher_classes(Teacher& teacher, const std::string& path, std::int64_t channels,
                             std::int64_t image, c10::Device device);
// Fails unless the teacher takes the images of a store of `channels` and predicts its `classes`
// (`dataset` names the store in the message): checked before a run or a plan starts, not after
// hours of preparing a store or of a logits job.
void check_teacher_fits(Teacher& teacher, const std::string& path, std::int64_t channels,
                        std::int64_t image, std::int64_t classes, const std::string& dataset,
                        c10::Device device);

}  // namespace tleg

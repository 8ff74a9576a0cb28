// Commands that work on weights files (inspect, expand, export) and the methods table that
// initialises models from them (methods).
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "expansion/learngene.h"
#include "expansion/methods.h"
#include "train/teacher.h"
#include "weights/model_io.h"
#include "launcher/command.h"

namespace tleg {
namespace {

// "forward CxS: N classes": what a teacher predicts for C-channel SxS images (slurm/submit.sh
// checks a teacher against the dataset this way before the store exists).
void print_teacher_forward(const std::string& path, const std::string& input) {
  std::int64_t channels = 0, image = 0;
  char x = 0;
  std::istringstream text(input);
  if (!(text >> channels >> x >> image) || x != 'x' || !text.eof() || channels < 1 || image < 1)
    fail("--forward ", input, ": expected CHANNELSxSIZE, e.g. 3x224");
  const std::int64_t classes =
      teacher_classes(*load_teacher(path, c10::kCPU), path, channels, image, c10::kCPU);
  std::cout << "forward " << channels << "x" << image << "x" << image << ": " << classes
            << " classes\n";
}

int inspect(const std::string& path, const std::string& forward) {
  // A TorchScript teacher is no weights file: only its forward can be inspected.
  if (!forward.empty() && !path.ends_with(".h5")) {
    print_teacher_forward(path, forward);
    return 0;
  }
  const WeightsFile weights = load_weights(path);
  const VitConfig& c = weights.config;
  std::cout << "file:         " << weights.source << " (checksum ok)\n"
            << "kind:         " << weights.kind << "\n"
            << "architecture: " << (weights.kind == "cnn" ? weights.cnn.describe() : c.describe())
            << "\n";
  if (weights.kind == "cnn") {
    // The file also holds BatchNorm's running statistics, which are not parameters.
    std::cout << "parameters:   " << grouped(cnn_parameter_count(weights.cnn)) << "\n"
              << "FLOPs:        " << grouped(forward_flops(weights.cnn)) << " per image, forward\n";
  } else if (weights.kind == "learngene") {
    std::cout << "aux depth:    " << c.depth << " (block l uses theta_B + (l/" << c.depth
              << ")*theta_A)\n"
              << "parameters:   " << grouped(weights.parameter_count()) << " stored ("
              << grouped(2 * block_parameter_count(c)) << " in theta_A + theta_B)\n"
              << "aux FLOPs:    " << grouped(forward_flops(c)) << " per image, forward\n";
    VitConfig descendant = c;
    for (const std::int64_t d : {3, 6, 9, 12}) {
      descendant.depth = d;
      std::cout << "  depth " << d << " descendant: " << grouped(vit_parameter_count(descendant))
                << " parameters, " << grouped(forward_flops(descendant)) << " FLOPs/image\n";
    }
  } else {
    std::cout << "parameters:   " << grouped(weights.parameter_count()) << "\n"
              << "FLOPs:        " << grouped(forward_flops(c)) << " per image, forward\n";
  }
  for (const auto& [key, value] : weights.metadata)
    std::cout << "meta " << key << ": " << value << "\n";
  if (!forward.empty()) print_teacher_forward(path, forward);
  return 0;
}

int expand_command(const std::string& path, std::int64_t depth, const std::string& out) {
  const WeightsFile learngene = load_learngene(path);
  auto model = expand(learngene, depth);
  std::map<std::string, std::string> metadata = {
      {"init", "tleg"}, {"learngene", path}, {"expanded_depth", std::to_string(depth)}};
  // How the learngene's run evaluated (normalisation, crop, precision): its descendants see the
  // same images, so tleg evaluate of the expanded file needs no options either.
  for (const auto& [key, value] : learngene.metadata)
    if (key.starts_with("eval.")) metadata[key] = value;
  save_weights(weights_of(*model, std::move(metadata)), out);
  std::cout << "wrote " << out << ": depth-" << depth << " descendant of " << path << ", "
            << grouped(vit_parameter_count(model->config())) << " parameters\n";
  return 0;
}

int export_command(const std::string& path, const std::string& out, const std::string& format) {
  auto model = load_vit(path);
  export_timm(*model, out, format);
  const bool safetensors = format == "safetensors";
  std::cout << "wrote " << out << "; load it in Python with\n"
            << "  import timm, torch" << (safetensors ? ", safetensors.torch" : "") << "\n"
            << "  model = " << timm_constructor(model->config()) << "\n"
            << "  model.load_state_dict("
            << (safetensors ? "safetensors.torch.load_file('" : "torch.load('") << out << "'))\n";
  return 0;
}

// The methods table, one line each: what scripts check method names against.
int methods_command() {
  std::printf("%-17s %-20s %-17s %s\n", "method", "label", "init", "needs");
  for (const Method& method : methods())
    std::printf("%-17s %-20s %-17s %s\n", method.name.c_str(), method.label.c_str(),
                method.init.c_str(),
                method.needs_learngene    ? "a learngene"
                : method.needs_pretrained ? "a pre-trained model"
                                          : "-");
  return 0;
}

}  // namespace

std::vector<Command> model_commands() {
  return {
      {"methods", "list the stage-2 methods: name, label in reports, initialiser, what it needs",
       "", [](po::options_description&, po::positional_options_description&) {},
       [](Options&) { return [] { return methods_command(); }; }},
      {"inspect",
       "print a learngene's or model's (ViT, CNN) architecture, parameter count and FLOPs", "FILE",
       [](po::options_description& o, po::positional_options_description& p) {
         o.add_options()("file", po::value<std::string>()->required(),
                         "learngene or model file (.h5), or a TorchScript teacher with --forward")(
             "forward", po::value<std::string>()->default_value(""),
             "CxS: run the model (or TorchScript teacher) on one blank C-channel SxS image and "
             "print the classes it predicts");
         p.add("file", 1);
       },
       [](Options& o) {
         return [path = o.get<std::string>("file"), forward = o.get<std::string>("forward")] {
           return inspect(path, forward);
         };
       }},
      {"expand", "expand a learngene into a ViT of any depth", "",
       [](po::options_description& o, po::positional_options_description&) {
         o.add_options()("learngene", po::value<std::string>()->required(), "learngene file")(
             "depth", po::value<std::int64_t>()->required(), "depth of the descendant (>= 1)")(
             "out", po::value<std::string>()->required(), "output model file (.h5)");
       },
       [](Options& o) {
         const auto depth = o.get<std::int64_t>("depth");  // >= 1: launcher/option_ranges.cpp
         return [path = o.get<std::string>("learngene"), depth, out = o.get<std::string>("out")] {
           return expand_command(path, depth, out);
         };
       }},
      {"export", "write a model as a timm-compatible state dict (.pt or .safetensors)", "",
       [](po::options_description& o, po::positional_options_description&) {
         o.add_options()("model", po::value<std::string>()->required(), "model file (.h5)")(
             "out", po::value<std::string>()->required(), "output .pt or .safetensors file")(
             "format", po::value<std::string>()->default_value(""),
             "pt (torch.save) or safetensors; \"\": by --out's extension (.safetensors, "
             "otherwise pt); one the extension contradicts is refused");
       },
       [](Options& o) {
         const auto out = o.get<std::string>("out");
         // Resolved here, so --check refuses a format the output's name contradicts.
         const std::string format = timm_export_format(o.get<std::string>("format"), out);
         return [path = o.get<std::string>("model"), out, format] {
           return export_command(path, out, format);
         };
       }},
  };
}

}  // namespace tleg

// Commands that work on weights files: inspect, expand, export.
#include <iostream>

#include "common/error.h"
#include "expansion/learngene.h"
#include "expansion/model_io.h"
#include "launcher/command.h"

namespace tleg {
namespace {

std::string grouped(std::int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

int inspect(const po::variables_map& options) {
  const WeightsFile weights = load_weights(options["file"].as<std::string>());
  const VitConfig& c = weights.config;
  std::cout << "file:         " << weights.source << " (checksum ok)\n"
            << "kind:         " << weights.kind << "\n"
            << "architecture: " << c.describe() << "\n";
  if (weights.kind == "learngene") {
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
  return 0;
}

int expand_command(const po::variables_map& options) {
  const std::string path = options["learngene"].as<std::string>();
  const auto depth = options["depth"].as<std::int64_t>();
  if (depth < 1) fail("--depth must be at least 1, got ", depth);
  const WeightsFile learngene = load_learngene(path);
  auto model = expand(learngene, depth);
  const std::string out = options["out"].as<std::string>();
  save_weights(vit_weights(*model, {{"init", "tleg"},
                                    {"learngene", path},
                                    {"expanded_depth", std::to_string(depth)}}),
               out);
  std::cout << "wrote " << out << ": depth-" << depth << " descendant of " << path << ", "
            << grouped(vit_parameter_count(model->config())) << " parameters\n";
  return 0;
}

int export_command(const po::variables_map& options) {
  const std::string path = options["model"].as<std::string>();
  const std::string out = options["out"].as<std::string>();
  auto model = load_vit(path);
  export_timm(*model, out);
  std::cout << "wrote " << out << "; load it in Python with\n"
            << "  import timm, torch\n"
            << "  model = " << timm_constructor(model->config()) << "\n"
            << "  model.load_state_dict(torch.load('" << out << "'))\n";
  return 0;
}

}  // namespace

std::vector<Command> model_commands() {
  return {
      {"inspect", "print a learngene's or model's architecture, parameter count and FLOPs", "FILE",
       [](po::options_description& o, po::positional_options_description& p) {
         o.add_options()("file", po::value<std::string>()->required(),
                         "learngene or model file (.h5)");
         p.add("file", 1);
       },
       inspect},
      {"expand", "expand a learngene into a ViT of any depth", "",
       [](po::options_description& o, po::positional_options_description&) {
         o.add_options()("learngene", po::value<std::string>()->required(), "learngene file")(
             "depth", po::value<std::int64_t>()->required(), "depth of the descendant (>= 1)")(
             "out", po::value<std::string>()->required(), "output model file (.h5)");
       },
       expand_command},
      {"export", "write a model as a timm-compatible .pt state dict", "",
       [](po::options_description& o, po::positional_options_description&) {
         o.add_options()("model", po::value<std::string>()->required(), "model file (.h5)")(
             "out", po::value<std::string>()->required(), "output .pt file");
       },
       export_command},
  };
}

}  // namespace tleg

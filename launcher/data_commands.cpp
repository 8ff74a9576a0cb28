// Commands that make and read dataset stores: prepare.
#include <iostream>

#include "common/error.h"
#include "data/importers.h"
#include "launcher/command.h"

namespace tleg {
namespace {

int prepare(const po::variables_map& options) {
  const std::string kind = options["kind"].as<std::string>();
  const std::string out = options["out"].as<std::string>();
  const auto shard = options["shard-size"].as<std::int64_t>();
  if (kind != "fashion-mnist")
    fail("unknown dataset kind '", kind, "': this tleg prepares fashion-mnist");
  const std::string source =
      options.count("src") ? options["src"].as<std::string>() : std::string(kFashionMnistDir);
  const ImportSummary summary = prepare_fashion_mnist(source, out, shard);
  std::cout << "wrote " << summary.path << ": " << summary.train << " train + " << summary.val
            << " val images, fingerprint " << summary.fingerprint << "\n";
  return 0;
}

}  // namespace

std::vector<Command> data_commands() {
  return {
      {"prepare", "import a dataset into an HDF5 dataset store", "KIND (fashion-mnist)",
       [](po::options_description& o, po::positional_options_description& p) {
         o.add_options()("kind", po::value<std::string>()->required(), "dataset kind: fashion-mnist")(
             "src", po::value<std::string>(),
             "source folder (fashion-mnist default: /usr/share/datasets/fashion-mnist)")(
             "out", po::value<std::string>()->required(), "output dataset store (.h5)")(
             "shard-size", po::value<std::int64_t>()->default_value(4096),
             "images per shard (a shard is read with one large read)");
         p.add("kind", 1);
       },
       prepare},
  };
}

}  // namespace tleg

// Loader throughput: the training pipeline (decode + RandomResizedCrop 224 + flip + normalise)
// through tleg::Loader at 1 and 2 threads, the DeiT recipe (plus RandAugment and erasing), one
// view rendered without the loader, and read throughput of a rank's shard runs through
// DatasetReader against plain read() of as many bytes of the same file.
// usage: loader_bench --data_dir=DIR [benchmark flags]; DIR is filled on first use with
// realistic test images (DIR/images/*.jpg, also read by bench/loader_bench.py) and two stores.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "data/dataset_store.h"
#include "data/loader.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;
fs::path g_data_dir;
constexpr int kImages = 500;
constexpr int kReadCopies = 8;  // the read store repeats the images: 4000 images, ~100 MB

// A textured scene: a lit gradient background, overlapping shapes with their own gradients
// and stripes, fine sensor noise and a slight blur, 400-500 px a side, then resized to a
// shorter side of 256 (as `tleg prepare` stores ImageNet) and encoded at q90.
Image synthetic_scene(int index) {
  cv::RNG rng(0x5eed + index);
  const int height = rng.uniform(400, 501), width = rng.uniform(400, 501);
  cv::Mat scene(height, width, CV_8UC3);
  const cv::Vec3d top(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
  const cv::Vec3d bottom(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
  for (int y = 0; y < height; ++y) {
    const double t = static_cast<double>(y) / height;
    scene.row(y).setTo(cv::Scalar(top * (1 - t) + bottom * t));
  }
  const int shapes = rng.uniform(25, 60);
  for (int s = 0; s < shapes; ++s) {
    const cv::Scalar colour(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256));
    const cv::Point centre(rng.uniform(0, width), rng.uniform(0, height));
    const int size = rng.uniform(8, 120);
    switch (rng.uniform(0, 5)) {
      case 0:
        cv::circle(scene, centre, size, colour, cv::FILLED, cv::LINE_AA);
        break;
      case 1:
        cv::rectangle(scene, centre, centre + cv::Point(size, size * 2 / 3), colour, cv::FILLED);
        break;
      case 2:
        cv::ellipse(scene, centre, cv::Size(size, size / 2 + 1), rng.uniform(0, 180), 0, 360,
                    colour, cv::FILLED, cv::LINE_AA);
        break;
      case 3:
        cv::line(scene, centre, cv::Point(rng.uniform(0, width), rng.uniform(0, height)), colour,
                 rng.uniform(1, 8), cv::LINE_AA);
        break;
      default: {
        // A striped patch: texture that JPEG has to spend bits on.
        const cv::Rect patch =
            cv::Rect(centre.x, centre.y, size, size) & cv::Rect(0, 0, width, height);
        const double period = rng.uniform(3.0, 15.0);
        for (int y = patch.y; y < patch.y + patch.height; ++y)
          for (int x = patch.x; x < patch.x + patch.width; ++x) {
            const double shade = 0.5 + 0.5 * std::sin((x + y) / period);
            auto& pixel = scene.at<cv::Vec3b>(y, x);
            for (int c = 0; c < 3; ++c)
              pixel[c] =
                  cv::saturate_cast<std::uint8_t>(pixel[c] * (1 - shade) + colour[c] * shade);
          }
      }
    }
  }
  cv::Mat noise(height, width, CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, 6);
  cv::Mat noisy;
  scene.convertTo(noisy, CV_16SC3);
  noisy += noise;
  noisy.convertTo(scene, CV_8UC3);
  cv::GaussianBlur(scene, scene, cv::Size(3, 3), 0.7);
  const double scale = 256.0 / std::min(height, width);
  cv::Mat resized;
  cv::resize(scene, resized,
             cv::Size(static_cast<int>(std::round(width * scale)),
                      static_cast<int>(std::round(height * scale))),
             0, 0, cv::INTER_AREA);
  Image image{resized.rows, resized.cols, 3, {}};
  image.pixels.assign(resized.data, resized.data + resized.total() * 3);
  return image;
}

void write_store(const fs::path& path, const std::vector<std::vector<std::uint8_t>>& jpegs,
                 int copies, int per_shard) {
  DatasetInfo info;
  info.name = "bench-scenes";
  info.class_names = {"scene"};
  info.source = "bench/loader_bench.cpp synthetic_scene";
  DatasetWriter writer(path.string(), info, per_shard);
  writer.begin_split("train");
  for (int copy = 0; copy < copies; ++copy)
    for (const auto& jpeg : jpegs) writer.add(jpeg.data(), jpeg.size(), 0);
  writer.end_split();
  writer.finish();
}

void prepare_data() {
  if (fs::exists(g_data_dir / "read.h5")) return;
  fs::create_directories(g_data_dir / "images");
  std::vector<std::vector<std::uint8_t>> jpegs;
  std::size_t bytes = 0;
  for (int i = 0; i < kImages; ++i) {
    jpegs.push_back(encode_jpeg(synthetic_scene(i), 90));
    bytes += jpegs.back().size();
    char name[32];
    std::snprintf(name, sizeof name, "%04d.jpg", i);
    std::ofstream(g_data_dir / "images" / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(jpegs.back().data()),
               static_cast<std::streamsize>(jpegs.back().size()));
  }
  write_store(g_data_dir / "store.h5", jpegs, 1, 64);
  write_store(g_data_dir / "read.h5", jpegs, kReadCopies, 256);
  std::cerr << "loader_bench: wrote " << kImages << " JPEGs (" << bytes / kImages / 1024
            << " KiB on average) and the stores to " << g_data_dir << "\n";
}

// CPU seconds of the whole process (every thread): images per CPU second is the per-core rate,
// and unlike wall time it holds up when other work shares the machine.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// Images per second of batches from the loader (batch 64, whole split in memory).
void run_loader(benchmark::State& state, const ViewRecipe& recipe) {
  LoaderOptions options;
  options.path = (g_data_dir / "store.h5").string();
  options.batch_size = 64;
  options.threads = static_cast<int>(state.range(0));
  options.recipe = recipe;
  Loader loader(options);
  std::uint64_t epoch = 0;
  loader.start_epoch(epoch);
  loader.next();  // warm: the split is read and the threads are running
  std::int64_t images = 0;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    auto batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    images += batch->images.size(0);
    benchmark::DoNotOptimize(batch->images.data_ptr<float>());
  }
  const double cpu = process_cpu_seconds() - cpu_start;
  state.SetItemsProcessed(images);
  state.counters["per_thread"] =
      benchmark::Counter(static_cast<double>(images) / state.range(0), benchmark::Counter::kIsRate);
  state.counters["per_cpu_second"] = static_cast<double>(images) / cpu;
}

void BM_TrainPipelineBilinear(benchmark::State& state) {
  ViewRecipe recipe = ViewRecipe::basic(224);
  recipe.interpolation = Interpolation::kBilinear;  // torchvision's default, as the Python side
  run_loader(state, recipe);
}
void BM_TrainPipelineBicubic(benchmark::State& state) { run_loader(state, ViewRecipe::basic(224)); }
void BM_DeitRecipe(benchmark::State& state) { run_loader(state, ViewRecipe::deit(224)); }

// One view on the calling thread, no loader: the per-image cost the threads share out.
void BM_RenderOneView(benchmark::State& state) {
  cv::setNumThreads(1);
  DatasetReader reader((g_data_dir / "store.h5").string());
  const ImageRun run = reader.read_run("train", 0, 64);
  ViewRecipe recipe = ViewRecipe::basic(224);
  recipe.interpolation = Interpolation::kBilinear;
  std::vector<float> out(3 * 224 * 224);
  std::uint64_t sample = 0;
  for (auto _ : state) {
    const std::uint64_t i = sample++ % 64;
    const EncodedImage encoded{run.image(i), run.length(i)};
    const JpegSize size = source_size(encoded);
    const ViewParams params = draw_view(recipe, size.width, size.height, 0, 0, sample);
    normalize_view(render_view(encoded, params, recipe), params, recipe, out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// A rank (0 of 2) reading its shards, one read_run each, as the loader does for large splits.
void BM_ReadShardRuns(benchmark::State& state) {
  DatasetReader reader((g_data_dir / "read.h5").string());
  const SplitIndex& index = reader.index("train");
  std::int64_t bytes = 0;
  for (auto _ : state) {
    for (std::size_t shard = 0; shard < index.shards(); shard += 2) {
      const std::uint64_t first = index.shard_starts[shard];
      const ImageRun run = reader.read_run("train", first, index.shard_starts[shard + 1] - first);
      bytes += static_cast<std::int64_t>(run.bytes.size());
      benchmark::DoNotOptimize(run.bytes.data());
    }
  }
  state.SetBytesProcessed(bytes);
}

// The same number of bytes of the same file with plain sequential read() in 4 MiB calls.
void BM_PlainSequentialRead(benchmark::State& state) {
  DatasetReader reader((g_data_dir / "read.h5").string());
  const SplitIndex& index = reader.index("train");
  std::uint64_t wanted = 0;
  for (std::size_t shard = 0; shard < index.shards(); shard += 2) {
    const std::uint64_t first = index.shard_starts[shard], last = index.shard_starts[shard + 1] - 1;
    wanted += index.offsets[last] + index.lengths[last] - index.offsets[first];
  }
  const std::string path = (g_data_dir / "read.h5").string();
  std::vector<char> buffer(4 << 20);
  std::int64_t bytes = 0;
  for (auto _ : state) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail("loader_bench: cannot open ", path);
    std::uint64_t left = wanted;
    while (left > 0) {
      const ssize_t got = ::read(fd, buffer.data(), std::min<std::uint64_t>(left, buffer.size()));
      if (got <= 0) break;
      left -= static_cast<std::uint64_t>(got);
      bytes += got;
    }
    ::close(fd);
  }
  state.SetBytesProcessed(bytes);
}

BENCHMARK(BM_TrainPipelineBilinear)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_TrainPipelineBicubic)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_DeitRecipe)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_RenderOneView);
BENCHMARK(BM_ReadShardRuns)->UseRealTime();
BENCHMARK(BM_PlainSequentialRead)->UseRealTime();

}  // namespace
}  // namespace tleg

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--data_dir=", 11) == 0)
      tleg::g_data_dir = argv[i] + 11;
    else
      rest.push_back(argv[i]);
  }
  if (tleg::g_data_dir.empty()) {
    std::cerr << "usage: loader_bench --data_dir=DIR [benchmark flags]\n";
    return 2;
  }
  try {
    tleg::prepare_data();
  } catch (const std::exception& error) {
    std::cerr << "loader_bench: " << error.what() << "\n";
    return 1;
  }
  int rest_count = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_count, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

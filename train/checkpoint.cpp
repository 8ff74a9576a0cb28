#include "train/checkpoint.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/checksum.h"
#include "common/error.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;

constexpr char kTrailerMagic[8] = {'T', 'L', 'E', 'G', 'C', 'K', 'P', '1'};
constexpr std::size_t kTrailerSize = sizeof kTrailerMagic + sizeof(std::uint32_t);

std::string checkpoint_name(std::int64_t step) {
  std::string digits = std::to_string(step);
  return "checkpoint-" + std::string(digits.size() < 10 ? 10 - digits.size() : 0, '0') + digits +
         ".pt";
}

}  // namespace

CheckpointStore::CheckpointStore(std::string directory, std::int64_t keep)
    : directory_(std::move(directory)), keep_(keep) {
  if (keep_ < 1) fail("checkpoints to keep must be at least 1, got ", keep_);
  fs::create_directories(directory_);
}

std::vector<std::string> CheckpointStore::checkpoints() const {
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0 && name.size() > 3 && name.ends_with(".pt"))
      paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());  // zero-padded steps sort by step
  return paths;
}

std::string CheckpointStore::save(
    std::int64_t step, const std::function<void(torch::serialize::OutputArchive&)>& fill) const {
  torch::serialize::OutputArchive archive;
  fill(archive);
  std::string bytes;
  archive.save_to([&](const void* data, std::size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  Crc32 crc;
  crc.update(bytes);
  const std::uint32_t value = crc.value();
  const std::string path = (fs::path(directory_) / checkpoint_name(step)).string();
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.write(kTrailerMagic, sizeof kTrailerMagic);
    out.write(reinterpret_cast<const char*>(&value), sizeof value);
    out.flush();
    if (!out) fail(temporary, ": cannot write the checkpoint (disk full?)");
  }
  fs::rename(temporary, path);
  std::vector<std::string> existing = checkpoints();
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep_) < existing.size(); ++i)
    fs::remove(existing[i]);
  return path;
}

namespace {

// The archive bytes of the checkpoint at `path`, or nothing when it is truncated or its checksum
// does not hold.
std::optional<std::string> verified_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() <= kTrailerSize || std::memcmp(bytes.data() + bytes.size() - kTrailerSize,
                                                  kTrailerMagic, sizeof kTrailerMagic) != 0)
    return std::nullopt;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof stored, sizeof stored);
  bytes.resize(bytes.size() - kTrailerSize);
  Crc32 crc;
  crc.update(bytes);
  if (crc.value() != stored) return std::nullopt;
  return bytes;
}

void read_archive(const std::string& bytes,
                  const std::function<void(torch::serialize::InputArchive&)>& read) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  read(archive);
}

}  // namespace

std::optional<std::int64_t> CheckpointStore::load_latest(
    const std::function<void(torch::serialize::InputArchive&)>& read,
    const std::function<void(const std::string&)>& warn) const {
  std::vector<std::string> paths = checkpoints();
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    const auto bytes = verified_bytes(*it);
    if (!bytes) {
      warn("skipping corrupt checkpoint " + *it + " (checksum mismatch or truncated)");
      continue;
    }
    read_archive(*bytes, read);
    const std::string name = std::filesystem::path(*it).filename().string();
    return std::stoll(name.substr(std::strlen("checkpoint-"), 10));
  }
  return std::nullopt;
}

void CheckpointStore::load(std::int64_t step,
                           const std::function<void(torch::serialize::InputArchive&)>& read) const {
  const std::string path = (fs::path(directory_) / checkpoint_name(step)).string();
  if (!fs::exists(path))
    fail(path,
         ": rank 0 resumes from this checkpoint but it is not there on this rank; the run "
         "folder must be on a filesystem every rank shares (and sees up to date)");
  const auto bytes = verified_bytes(path);
  if (!bytes)
    fail(path,
         ": rank 0 resumes from this checkpoint but this rank reads it corrupt (checksum "
         "mismatch or truncated); check the shared filesystem");
  read_archive(*bytes, read);
}

}  // namespace tleg

// Checkpoints that survive being killed at any moment: each is written to a temporary file,
// given a CRC-32 trailer, then renamed; the newest K are kept; resuming takes the newest one
// whose checksum holds and warns about (and skips) a corrupt one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace tleg {

class CheckpointStore {
 public:
  CheckpointStore(std::string directory, std::int64_t keep);

  // Writes checkpoint `step` with what `fill` puts in the archive; returns its path.
  std::string save(std::int64_t step,
                   const std::function<void(torch::serialize::OutputArchive&)>& fill) const;
  // Loads the newest valid checkpoint into `read`; returns its step, or nothing when there is
  // none. Corrupt files are reported through `warn` and skipped.
  std::optional<std::int64_t> load_latest(
      const std::function<void(torch::serialize::InputArchive&)>& read,
      const std::function<void(const std::string&)>& warn) const;

  // Loads checkpoint `step` (the one another rank chose) into `read`; fails naming the file when
  // it is missing or corrupt here.
  void load(std::int64_t step,
            const std::function<void(torch::serialize::InputArchive&)>& read) const;

  std::vector<std::string> checkpoints() const;  // oldest first
  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  std::int64_t keep_;
};

}  // namespace tleg

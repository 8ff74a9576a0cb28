// A small RAII layer over the HDF5 C API: one open file, whole or ranged dataset reads and
// writes, and attributes. Every failure throws tleg::Error naming the file, the object and the
// innermost HDF5 reason. HDF5 is not thread-safe: use one File from one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tleg::h5 {

using Shape = std::vector<std::uint64_t>;

class File {
 public:
  // Opens an existing file read-only. `what` says what the file should be ("learngene",
  // "dataset store") so that the error tells the user what was expected.
  static File open_read(const std::string& path, const std::string& what);
  // Creates (or truncates) a file for writing.
  static File create(const std::string& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  bool exists(const std::string& name) const;
  void create_group(const std::string& name);
  std::vector<std::string> children(const std::string& group) const;

  // Writes a whole dataset of `shape` (row-major) from `data`.
  template <typename T>
  void write(const std::string& name, const Shape& shape, const T* data);

  // A 1-D dataset that grows by `append`, stored in chunks of `chunk` elements (no
  // compression: JPEG bytes do not compress and deflate would cost every read).
  template <typename T>
  void create_extendible_1d(const std::string& name, std::uint64_t chunk);
  template <typename T>
  void append(const std::string& name, const T* data, std::uint64_t count);

  Shape shape(const std::string& name) const;
  // The element size in bytes and whether it is a floating-point type.
  std::pair<std::size_t, bool> element_type(const std::string& name) const;
  // Reads the whole dataset; its element count must be `count`.
  template <typename T>
  void read(const std::string& name, T* out, std::uint64_t count) const;
  template <typename T>
  std::vector<T> read_all(const std::string& name) const;
  // Reads elements [offset, offset + count) of a 1-D dataset with one H5Dread.
  template <typename T>
  void read_range(const std::string& name, std::uint64_t offset, std::uint64_t count, T* out) const;

  // Attributes on an object ("/" for the file itself).
  void set_attribute(const std::string& object, const std::string& key, const std::string& value);
  void set_attribute(const std::string& object, const std::string& key, std::int64_t value);
  void set_attribute(const std::string& object, const std::string& key, double value);
  bool has_attribute(const std::string& object, const std::string& key) const;
  std::vector<std::string> attribute_names(const std::string& object) const;
  std::string string_attribute(const std::string& object, const std::string& key) const;
  std::int64_t int_attribute(const std::string& object, const std::string& key) const;
  double double_attribute(const std::string& object, const std::string& key) const;

  void flush();

 private:
  File(std::int64_t id, std::string path) : id_(id), path_(std::move(path)) {}
  std::int64_t id_ = -1;
  std::string path_;
};

}  // namespace tleg::h5

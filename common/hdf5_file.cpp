#include "common/hdf5_file.h"

#include <hdf5.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "common/error.h"

namespace tleg::h5 {
namespace {

static_assert(std::is_same_v<hid_t, std::int64_t>, "HDF5 >= 1.10 uses 64-bit identifiers");

// HDF5 prints its error stack to stderr by default; tleg reports errors itself, once.
void silence_hdf5_error_printing() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// The innermost (most specific) description on the current HDF5 error stack.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* error, void* out) -> herr_t {
        if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(out) = error->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? "unknown HDF5 error" : reason;
}

template <typename T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, std::uint8_t>)
    return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, std::uint16_t>)
    return H5T_NATIVE_UINT16;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return H5T_NATIVE_INT16;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return H5T_NATIVE_UINT32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return H5T_NATIVE_UINT64;
  else if constexpr (std::is_same_v<T, float>)
    return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>)
    return H5T_NATIVE_DOUBLE;
  else
    static_assert(sizeof(T) == 0, "unsupported HDF5 element type");
}

// Closes an HDF5 identifier of any kind when it goes out of scope.
class Handle {
 public:
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ < 0) return;
    switch (H5Iget_type(id_)) {
      case H5I_DATASPACE:
        H5Sclose(id_);
        break;
      case H5I_ATTR:
        H5Aclose(id_);
        break;
      case H5I_DATATYPE:
        H5Tclose(id_);
        break;
      case H5I_GENPROP_LST:
        H5Pclose(id_);
        break;
      default:
        H5Oclose(id_);
        break;
    }
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
};

}  // namespace

File File::open_read(const std::string& path, const std::string& what) {
  silence_hdf5_error_printing();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    fail(path, ": not a readable ", what,
         " (missing, not an HDF5 file, or truncated; "
         "regenerate it)");
  }
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail(path, ": cannot open the ", what, ": ", hdf5_reason(), " (regenerate it)");
  return File(id, path);
}

// Objects are created without modification times, which HDF5 records by default: the same
// content then gives the same file bytes, whenever it is written.
namespace {
Handle untimed(hid_t property_class) {
  Handle properties(H5Pcreate(property_class));
  H5Pset_obj_track_times(properties.get(), false);
  return properties;
}
}  // namespace

File File::create(const std::string& path) {
  silence_hdf5_error_printing();
  const Handle file_properties = untimed(H5P_FILE_CREATE);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, file_properties.get(), H5P_DEFAULT);
  if (id < 0) fail(path, ": cannot create the file: ", hdf5_reason());
  return File(id, path);
}

File::File(File&& other) noexcept
    : id_(std::exchange(other.id_, -1)), path_(std::move(other.path_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = std::exchange(other.id_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

bool File::exists(const std::string& name) const {
  // H5Lexists needs every intermediate link to exist: check the path one level at a time.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = name.find('/', pos + 1);
    const std::string prefix = name.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

void File::create_group(const std::string& name) {
  const Handle properties = untimed(H5P_GROUP_CREATE);
  Handle group(H5Gcreate2(id_, name.c_str(), H5P_DEFAULT, properties.get(), H5P_DEFAULT));
  if (!group.ok()) fail(path_, ": cannot create group '", name, "': ", hdf5_reason());
}

std::vector<std::string> File::children(const std::string& group) const {
  std::vector<std::string> names;
  const herr_t rc = H5Literate_by_name(
      id_, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names, H5P_DEFAULT);
  if (rc < 0) fail(path_, ": cannot list group '", group, "': ", hdf5_reason());
  return names;
}

template <typename T>
void File::write(const std::string& name, const Shape& shape, const T* data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  const Handle properties = untimed(H5P_DATASET_CREATE);
  Handle dataset(H5Dcreate2(id_, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                            properties.get(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": cannot create dataset '", name, "': ", hdf5_reason());
  if (H5Dwrite(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(path_, ": cannot write dataset '", name, "': ", hdf5_reason());
}

template <typename T>
void File::create_extendible_1d(const std::string& name, std::uint64_t chunk) {
  const hsize_t dims[1] = {0};
  const hsize_t max_dims[1] = {H5S_UNLIMITED};
  const hsize_t chunk_dims[1] = {chunk};
  Handle space(H5Screate_simple(1, dims, max_dims));
  Handle properties = untimed(H5P_DATASET_CREATE);
  H5Pset_chunk(properties.get(), 1, chunk_dims);
  Handle dataset(H5Dcreate2(id_, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                            properties.get(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": cannot create dataset '", name, "': ", hdf5_reason());
}

template <typename T>
void File::append(const std::string& name, const T* data, std::uint64_t count) {
  if (count == 0) return;
  Handle dataset(H5Dopen2(id_, name.c_str(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": no dataset '", name, "': ", hdf5_reason());
  hsize_t size[1];
  {
    Handle space(H5Dget_space(dataset.get()));
    H5Sget_simple_extent_dims(space.get(), size, nullptr);
  }
  const hsize_t grown[1] = {size[0] + count};
  if (H5Dset_extent(dataset.get(), grown) < 0)
    fail(path_, ": cannot grow dataset '", name, "': ", hdf5_reason());
  Handle file_space(H5Dget_space(dataset.get()));
  const hsize_t n[1] = {count};
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, size, nullptr, n, nullptr);
  Handle memory_space(H5Screate_simple(1, n, nullptr));
  if (H5Dwrite(dataset.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT,
               data) < 0)
    fail(path_, ": cannot append to '", name, "': ", hdf5_reason(), " (disk full?)");
}

Shape File::shape(const std::string& name) const {
  Handle dataset(H5Dopen2(id_, name.c_str(), H5P_DEFAULT));
  if (!dataset.ok())
    fail(path_, ": missing dataset '", name,
         "' (the file is incomplete or of "
         "another kind; regenerate it)");
  Handle space(H5Dget_space(dataset.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(path_, ": cannot read the shape of '", name, "': ", hdf5_reason());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

std::pair<std::size_t, bool> File::element_type(const std::string& name) const {
  Handle dataset(H5Dopen2(id_, name.c_str(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": missing dataset '", name, "'");
  Handle type(H5Dget_type(dataset.get()));
  return {H5Tget_size(type.get()), H5Tget_class(type.get()) == H5T_FLOAT};
}

template <typename T>
void File::read(const std::string& name, T* out, std::uint64_t count) const {
  Handle dataset(H5Dopen2(id_, name.c_str(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": missing dataset '", name, "' (regenerate the file)");
  Handle space(H5Dget_space(dataset.get()));
  const auto elements = static_cast<std::uint64_t>(H5Sget_simple_extent_npoints(space.get()));
  if (elements != count)
    fail(path_, ": dataset '", name, "' holds ", elements, " elements, expected ", count);
  if (H5Dread(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    fail(path_, ": cannot read dataset '", name, "': ", hdf5_reason(),
         " (the file is truncated or corrupt; regenerate it)");
}

template <typename T>
std::vector<T> File::read_all(const std::string& name) const {
  std::uint64_t count = 1;
  for (const auto d : shape(name)) count *= d;
  std::vector<T> out(count);
  read(name, out.data(), count);
  return out;
}

template <typename T>
void File::read_range(const std::string& name, std::uint64_t offset, std::uint64_t count,
                      T* out) const {
  Handle dataset(H5Dopen2(id_, name.c_str(), H5P_DEFAULT));
  if (!dataset.ok()) fail(path_, ": missing dataset '", name, "' (regenerate the file)");
  Handle file_space(H5Dget_space(dataset.get()));
  const auto size = static_cast<std::uint64_t>(H5Sget_simple_extent_npoints(file_space.get()));
  if (offset + count > size)
    fail(path_, ": range [", offset, ", ", offset + count, ") is outside dataset '", name, "' of ",
         size, " elements (broken index; regenerate the file)");
  const hsize_t start[1] = {offset};
  const hsize_t n[1] = {count};
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr);
  Handle memory_space(H5Screate_simple(1, n, nullptr));
  if (H5Dread(dataset.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT,
              out) < 0)
    fail(path_, ": cannot read ", count, " elements at ", offset, " of '", name,
         "': ", hdf5_reason(), " (the file is truncated or corrupt; regenerate it)");
}

namespace {

Handle open_object(hid_t file, const std::string& path, const std::string& object) {
  Handle handle(H5Oopen(file, object.c_str(), H5P_DEFAULT));
  if (!handle.ok()) fail(path, ": no object '", object, "' to hold attributes");
  return handle;
}

void write_attribute(hid_t file, const std::string& path, const std::string& object,
                     const std::string& key, hid_t type, const void* value) {
  Handle target = open_object(file, path, object);
  if (H5Aexists(target.get(), key.c_str()) > 0) H5Adelete(target.get(), key.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attribute(
      H5Acreate2(target.get(), key.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute.ok() || H5Awrite(attribute.get(), type, value) < 0)
    fail(path, ": cannot write attribute '", key, "' of '", object, "': ", hdf5_reason());
}

Handle open_attribute(hid_t file, const std::string& path, const std::string& object,
                      const std::string& key) {
  Handle target = open_object(file, path, object);
  Handle attribute(H5Aopen(target.get(), key.c_str(), H5P_DEFAULT));
  if (!attribute.ok())
    fail(path, ": missing attribute '", key, "' on '", object,
         "' (the file is of another kind or an older format; regenerate it)");
  return attribute;
}

}  // namespace

void File::set_attribute(const std::string& object, const std::string& key,
                         const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attribute(id_, path_, object, key, type.get(), padded.data());
}

void File::set_attribute(const std::string& object, const std::string& key, std::int64_t value) {
  write_attribute(id_, path_, object, key, H5T_NATIVE_INT64, &value);
}

void File::set_attribute(const std::string& object, const std::string& key, double value) {
  write_attribute(id_, path_, object, key, H5T_NATIVE_DOUBLE, &value);
}

bool File::has_attribute(const std::string& object, const std::string& key) const {
  if (!exists(object) && object != "/") return false;
  const htri_t found = H5Aexists_by_name(id_, object.c_str(), key.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return found > 0;
}

std::vector<std::string> File::attribute_names(const std::string& object) const {
  Handle target = open_object(id_, path_, object);
  std::vector<std::string> names;
  hsize_t index = 0;
  const herr_t rc = H5Aiterate2(
      target.get(), H5_INDEX_NAME, H5_ITER_INC, &index,
      [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names);
  if (rc < 0) fail(path_, ": cannot list the attributes of '", object, "': ", hdf5_reason());
  return names;
}

std::string File::string_attribute(const std::string& object, const std::string& key) const {
  Handle attribute = open_attribute(id_, path_, object, key);
  Handle stored(H5Aget_type(attribute.get()));
  if (H5Tget_class(stored.get()) != H5T_STRING)
    fail(path_, ": attribute '", key, "' of '", object, "' is not a string");
  if (H5Tis_variable_str(stored.get()) > 0) {
    // Written by h5py or another tool as a variable-length string.
    char* text = nullptr;
    Handle type(H5Tget_native_type(stored.get(), H5T_DIR_ASCEND));
    if (H5Aread(attribute.get(), type.get(), &text) < 0)
      fail(path_, ": cannot read attribute '", key, "': ", hdf5_reason());
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  const std::size_t size = H5Tget_size(stored.get());
  std::string value(size, '\0');
  if (H5Aread(attribute.get(), stored.get(), value.data()) < 0)
    fail(path_, ": cannot read attribute '", key, "': ", hdf5_reason());
  value.resize(value.find('\0') == std::string::npos ? size : value.find('\0'));
  return value;
}

std::int64_t File::int_attribute(const std::string& object, const std::string& key) const {
  Handle attribute = open_attribute(id_, path_, object, key);
  std::int64_t value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0)
    fail(path_, ": attribute '", key, "' of '", object, "' is not an integer: ", hdf5_reason());
  return value;
}

double File::double_attribute(const std::string& object, const std::string& key) const {
  Handle attribute = open_attribute(id_, path_, object, key);
  double value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0)
    fail(path_, ": attribute '", key, "' of '", object, "' is not a number: ", hdf5_reason());
  return value;
}

void File::flush() {
  if (H5Fflush(id_, H5F_SCOPE_GLOBAL) < 0) fail(path_, ": cannot flush: ", hdf5_reason());
}

#define TLEG_H5_INSTANTIATE(T)                                                    \
  template void File::write<T>(const std::string&, const Shape&, const T*);       \
  template void File::create_extendible_1d<T>(const std::string&, std::uint64_t); \
  template void File::append<T>(const std::string&, const T*, std::uint64_t);     \
  template void File::read<T>(const std::string&, T*, std::uint64_t) const;       \
  template std::vector<T> File::read_all<T>(const std::string&) const;            \
  template void File::read_range<T>(const std::string&, std::uint64_t, std::uint64_t, T*) const;
TLEG_H5_INSTANTIATE(std::uint8_t)
TLEG_H5_INSTANTIATE(std::uint16_t)
TLEG_H5_INSTANTIATE(std::int16_t)
TLEG_H5_INSTANTIATE(std::int32_t)
TLEG_H5_INSTANTIATE(std::uint32_t)
TLEG_H5_INSTANTIATE(std::int64_t)
TLEG_H5_INSTANTIATE(std::uint64_t)
TLEG_H5_INSTANTIATE(float)
TLEG_H5_INSTANTIATE(double)
#undef TLEG_H5_INSTANTIATE

}  // namespace tleg::h5

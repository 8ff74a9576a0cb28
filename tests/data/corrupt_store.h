// Damage to a store as bit rot or a bad copy would do it, in place in the HDF5 file: one flipped
// byte of a chunked dataset (found through its chunk's address in the file), such as one of an
// image, or a dataset store's label rewritten to another valid class.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset_store.h"

namespace tleg::testing {

// Flips bits of byte `at` of the 1-D chunked dataset `name`, directly in the file.
inline void flip_dataset_byte(const std::string& path, const std::string& name, std::uint64_t at) {
  haddr_t chunk_address = HADDR_UNDEF;
  std::uint64_t chunk_start_byte = 0;
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    const hid_t layout = H5Dget_create_plist(dataset);
    const hid_t type = H5Dget_type(dataset);
    const std::uint64_t element = H5Tget_size(type);
    hsize_t chunk[1] = {0};
    ASSERT_EQ(H5Pget_chunk(layout, 1, chunk), 1) << name << " is not chunked";
    hsize_t chunk_start[1] = {at / element / chunk[0] * chunk[0]};
    chunk_start_byte = chunk_start[0] * element;
    unsigned filters = 0;
    hsize_t stored = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(dataset, chunk_start, &filters, &chunk_address, &stored),
              0);
    ASSERT_EQ(filters, 0u) << "a filtered chunk does not hold the bytes as they are";
    H5Tclose(type);
    H5Pclose(layout);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  ASSERT_NE(chunk_address, HADDR_UNDEF);
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto position = static_cast<std::streamoff>(chunk_address + at - chunk_start_byte);
  char byte = 0;
  file.seekg(position);
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  file.seekp(position);
  file.write(&byte, 1);
  ASSERT_TRUE(file.good()) << path;
}

// Flips bits of byte `at` of image `sample` of a dataset store's `split`.
inline void flip_image_byte(const std::string& path, const std::string& split, std::uint64_t sample,
                            std::uint64_t at = 0) {
  flip_dataset_byte(path, "/splits/" + split + "/images",
                    DatasetReader(path).index(split).offsets.at(sample) + at);
}

// Rewrites the label of `sample` of `split` to `label`, as the store's own datasets hold it.
inline void rewrite_label(const std::string& path, const std::string& split, std::uint64_t sample,
                          std::int32_t label) {
  std::vector<std::int32_t> labels = DatasetReader(path).index(split).labels;
  labels.at(sample) = label;
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(file, ("/splits/" + split + "/labels").c_str(), H5P_DEFAULT);
  ASSERT_GE(H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()), 0);
  H5Dclose(dataset);
  H5Fclose(file);
}

}  // namespace tleg::testing

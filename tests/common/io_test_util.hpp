#pragma once
// Shared helpers of the Io* tests: temporary directories (shared by the
// ranks, or private), a small serial HDF5 fixture writer (C API), and checks that keep
// every rank in step (no ASSERT that could make one rank skip a collective).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace wsc_io_test {

inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

inline int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

inline void barrier() { MPI_Barrier(MPI_COMM_WORLD); }

/// True on every rank when `ok` holds on all ranks.
inline bool all_ranks(bool ok) {
  int local = ok ? 1 : 0;
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return global == 1;
}

inline std::string make_temp_dir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "wsc_io_test_XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* made = mkdtemp(buffer.data());
  return made != nullptr ? std::string(made) : std::string();
}

/// A directory created by rank 0 and known to every rank of MPI_COMM_WORLD.
/// Construction and destruction are collective.
class SharedTempDir {
 public:
  SharedTempDir() {
    std::string dir;
    if (world_rank() == 0) dir = make_temp_dir();
    int length = static_cast<int>(dir.size());
    MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(static_cast<std::size_t>(length));
    MPI_Bcast(dir.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
    dir_ = dir;
    EXPECT_FALSE(dir_.empty()) << "mkdtemp failed";
  }
  ~SharedTempDir() {
    barrier();
    if (world_rank() == 0 && !dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    barrier();
  }
  SharedTempDir(const SharedTempDir&) = delete;
  SharedTempDir& operator=(const SharedTempDir&) = delete;

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

/// A directory private to this rank (no collective calls).
class LocalTempDir {
 public:
  LocalTempDir() : dir_(make_temp_dir()) { EXPECT_FALSE(dir_.empty()) << "mkdtemp failed"; }
  ~LocalTempDir() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  LocalTempDir(const LocalTempDir&) = delete;
  LocalTempDir& operator=(const LocalTempDir&) = delete;

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

/// Runs `write` on rank 0 only, then waits for it on every rank.
inline void on_root_then_barrier(const std::function<void()>& write) {
  if (world_rank() == 0) write();
  barrier();
}

/// Serial HDF5 writer for test fixtures. Failures are recorded as test
/// failures and writing goes on (so no rank is left waiting).
class FixtureWriter {
 public:
  explicit FixtureWriter(const std::string& path) {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(file_, 0) << "fixture: cannot create " << path;
  }
  ~FixtureWriter() {
    if (file_ >= 0) {
      EXPECT_GE(H5Fclose(file_), 0);
    }
  }
  FixtureWriter(const FixtureWriter&) = delete;
  FixtureWriter& operator=(const FixtureWriter&) = delete;

  hid_t id() const { return file_; }

  /// Creates `name` (with intermediate groups); writes `data` unless null.
  void dataset(const std::string& name, hid_t file_type, hid_t memory_type,
               const std::vector<hsize_t>& dims, const void* data, hid_t dcpl = H5P_DEFAULT) {
    if (file_ < 0) return;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t space = dims.empty() ? H5Screate(H5S_SCALAR)
                               : H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                                  nullptr);
    hid_t dset = H5Dcreate2(file_, name.c_str(), file_type, space, lcpl, dcpl, H5P_DEFAULT);
    EXPECT_GE(dset, 0) << "fixture: cannot create " << name;
    if (dset >= 0 && data != nullptr) {
      EXPECT_GE(H5Dwrite(dset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0)
          << "fixture: cannot write " << name;
    }
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    H5Pclose(lcpl);
  }

  void doubles(const std::string& name, const std::vector<hsize_t>& dims,
               const std::vector<double>& values, hid_t file_type = H5T_IEEE_F64LE) {
    dataset(name, file_type, H5T_NATIVE_DOUBLE, dims, values.data());
  }

  void ints(const std::string& name, const std::vector<std::int64_t>& values,
            hid_t file_type = H5T_STD_I64LE) {
    dataset(name, file_type, H5T_NATIVE_INT64, {static_cast<hsize_t>(values.size())},
            values.data());
  }

  /// A fixed-length (padded) or variable-length string array dataset.
  void strings(const std::string& name, const std::vector<std::string>& values) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    std::vector<const char*> pointers;
    for (const auto& s : values) pointers.push_back(s.c_str());
    dataset(name, type, type, {static_cast<hsize_t>(values.size())}, pointers.data());
    H5Tclose(type);
  }

  /// A string attribute: scalar when `scalar` (values must hold one string),
  /// else a 1-D array; variable or fixed length.
  void string_attribute(const std::string& object, const std::string& name,
                        const std::vector<std::string>& values, bool variable, bool scalar = false) {
    if (file_ < 0) return;
    hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
    EXPECT_GE(obj, 0) << "fixture: cannot open " << object;
    if (obj < 0) return;
    const hsize_t count = values.size();
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr);
    hid_t type = H5Tcopy(H5T_C_S1);
    herr_t status = 0;
    if (variable) {
      H5Tset_size(type, H5T_VARIABLE);
      H5Tset_cset(type, H5T_CSET_UTF8);
      std::vector<const char*> pointers;
      for (const auto& s : values) pointers.push_back(s.c_str());
      hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
      status = attr >= 0 ? H5Awrite(attr, type, pointers.data()) : -1;
      if (attr >= 0) H5Aclose(attr);
    } else {
      std::size_t width = 1;
      for (const auto& s : values) width = std::max(width, s.size());
      H5Tset_size(type, width);
      H5Tset_strpad(type, H5T_STR_NULLPAD);
      std::vector<char> buffer(values.size() * width, '\0');
      for (std::size_t i = 0; i < values.size(); ++i) {
        values[i].copy(buffer.data() + i * width, values[i].size());
      }
      hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
      status = attr >= 0 ? H5Awrite(attr, type, buffer.data()) : -1;
      if (attr >= 0) H5Aclose(attr);
    }
    EXPECT_GE(status, 0) << "fixture: cannot write attribute " << name << " of " << object;
    H5Tclose(type);
    H5Sclose(space);
    H5Oclose(obj);
  }

  /// A contiguous dataset whose storage is never allocated (declared only).
  void unwritten(const std::string& name, hid_t file_type, const std::vector<hsize_t>& dims) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    dataset(name, file_type, H5T_NATIVE_DOUBLE, dims, nullptr, dcpl);
    H5Pclose(dcpl);
  }

 private:
  hid_t file_ = H5I_INVALID_HID;
};

/// Runs f, expecting a std::exception whose message contains every part.
/// Never rethrows; returns the message (empty when nothing was thrown).
template <typename F>
std::string expect_throw_containing(F&& f, const std::vector<std::string>& parts) {
  std::string message;
  bool threw = false;
  try {
    f();
  } catch (const std::exception& e) {
    threw = true;
    message = e.what();
  }
  EXPECT_TRUE(threw) << "rank " << world_rank() << ": expected an exception containing \""
                     << (parts.empty() ? std::string() : parts.front()) << "\"";
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "rank " << world_rank() << ": message \"" << message << "\" lacks \"" << part << "\"";
  }
  EXPECT_EQ(message.find('\n'), std::string::npos) << "message spans several lines: " << message;
  return message;
}

}  // namespace wsc_io_test

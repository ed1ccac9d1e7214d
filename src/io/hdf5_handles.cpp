// Checked, owning HDF5 handles.
#include "wsc/io/hdf5_handles.hpp"

#include <cstdio>
#include <mutex>

namespace wsc::io {

herr_t check_h5(herr_t status, const char* call, const std::string& what) {
  if (status < 0) {
    throw HdfError(what + ": " + call + " failed");
  }
  return status;
}

hid_t check_h5_id(hid_t id, const char* call, const std::string& what) {
  if (id < 0) {
    throw HdfError(what + ": " + call + " failed");
  }
  return id;
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  check_h5(H5get_libversion(&major, &minor, &release), "H5get_libversion", "HDF5 library");
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

void silence_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Also initialises the library; failure here only means HDF5 keeps
    // printing its own error stacks, which is not worth refusing to run.
    if (H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) < 0) {
      std::fputs("wsc: warning: could not silence HDF5 error printing\n", stderr);
    }
  });
}

namespace {

/// Closes any HDF5 identifier with the close call of its type. Returns the
/// status; never throws.
herr_t close_id(hid_t id) noexcept {
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      return H5Fclose(id);
    case H5I_GROUP:
      return H5Gclose(id);
    case H5I_DATATYPE:
      return H5Tclose(id);
    case H5I_DATASPACE:
      return H5Sclose(id);
    case H5I_DATASET:
      return H5Dclose(id);
    case H5I_ATTR:
      return H5Aclose(id);
    case H5I_GENPROP_LST:
      return H5Pclose(id);
    default:
      // Not a closable (or no longer a valid) identifier.
      return H5Idec_ref(id) < 0 ? -1 : 0;
  }
}

}  // namespace

Handle::~Handle() { reset(); }

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0) {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    if (close_id(id) < 0) {
      std::fprintf(stderr, "wsc: warning: closing HDF5 identifier %lld failed\n",
                   static_cast<long long>(id));
    }
  }
}

std::vector<std::string> split_object_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string current;
  for (char c : path) {
    if (c == '/') {
      if (!current.empty()) parts.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) parts.push_back(std::move(current));
  return parts;
}

}  // namespace wsc::io

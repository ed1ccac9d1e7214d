#pragma once
// Checked, owning HDF5 handles. Every C call goes through a check that turns
// a failure into an HdfError naming the call; handles close in their
// destructor and never throw from it. HDF5's own error printing is silenced
// (the code reports errors itself).
#include <hdf5.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::io {

class HdfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws HdfError("<what>: <call> failed") when status < 0.
herr_t check_h5(herr_t status, const char* call, const std::string& what);
hid_t check_h5_id(hid_t id, const char* call, const std::string& what);

/// Splits an object path "/a/b/c" into {"a", "b", "c"} (empty parts dropped).
std::vector<std::string> split_object_path(const std::string& path);

/// The HDF5 library linked at run time, "1.10.8".
std::string hdf5_library_version();

/// Turns HDF5's automatic error-stack printing off once per process.
void silence_hdf5_errors();

/// An owning hid_t, closed with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle();
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

}  // namespace wsc::io

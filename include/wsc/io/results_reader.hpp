#pragma once
// Reads back what ResultsFile wrote (a model's results.h5): double matrices
// and vectors, string lists and group members, for sweep summaries. One
// process, read-only; every HDF5 call checked.
#include "wsc/core/types.hpp"
#include "wsc/io/hdf5_handles.hpp"

#include <string>
#include <vector>

namespace wsc::io {

class ResultsReader {
 public:
  /// Opens `path` read-only; throws HdfError naming it.
  explicit ResultsReader(const std::string& path);

  bool exists(const std::string& object) const;
  /// A 1-d or 2-d float dataset as a matrix (a vector becomes one column).
  core::Matrix matrix(const std::string& dataset) const;
  /// Names of the members of a group, sorted.
  std::vector<std::string> members(const std::string& group) const;
  /// A 1-d dataset of variable- or fixed-length strings.
  std::vector<std::string> strings(const std::string& dataset) const;

 private:
  std::string path_;
  Handle file_;
};

}  // namespace wsc::io

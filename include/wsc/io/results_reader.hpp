#pragma once
// Reads back what ResultsFile wrote (a model's results.h5): double matrices
// and vectors, string lists and group members, for sweep summaries. One
// process, read-only, through the HDF5 object layer; errors name the file
// and the object.
#include "wsc/core/types.hpp"
#include "wsc/io/hdf5_object.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::io {

class ResultsReader {
 public:
  /// Opens `path` read-only; throws HdfError naming it.
  explicit ResultsReader(const std::string& path);

  bool exists(const std::string& object) const;
  /// A 1-d or 2-d numeric dataset as a matrix (a vector becomes one column).
  core::Matrix matrix(const std::string& dataset) const;
  /// A numeric dataset of any rank, row-major, with its shape in `dims`.
  std::vector<double> array(const std::string& dataset, std::vector<std::size_t>& dims) const;
  /// A 1-d integer dataset.
  std::vector<std::int64_t> ints(const std::string& dataset) const;
  /// Names of the members of a group, sorted. Throws when it is absent.
  std::vector<std::string> members(const std::string& group) const;
  /// A 1-d dataset of variable- or fixed-length strings.
  std::vector<std::string> strings(const std::string& dataset) const;

 private:
  Hdf5File file_;
};

}  // namespace wsc::io

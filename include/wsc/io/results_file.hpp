#pragma once
// results.h5: written by one process (the root) to a temporary name, renamed
// by the caller when complete.
#include "wsc/core/types.hpp"
#include "wsc/io/hdf5_handles.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::io {

class ResultsFile {
 public:
  /// Creates (truncates) `path` for writing by this process alone.
  explicit ResultsFile(const std::string& path);

  /// Datasets are created with intermediate groups as needed.
  void write_matrix(const std::string& dataset, const core::Matrix& m);
  void write_vector(const std::string& dataset, const core::Vector& v);
  void write_doubles(const std::string& dataset, const std::vector<double>& v);
  void write_ints(const std::string& dataset, const std::vector<std::int64_t>& v);
  void write_strings(const std::string& dataset, const std::vector<std::string>& v);
  /// String attribute on an object (group or dataset; "/" for the file).
  void write_attribute(const std::string& object, const std::string& name, const std::string& value);
  void write_attribute(const std::string& object, const std::string& name, double value);
  /// String-array attribute (e.g. class_names on a labels dataset).
  void write_attribute_strings(const std::string& object, const std::string& name,
                               const std::vector<std::string>& values);

  /// Flushes and closes; errors surface here rather than in a destructor.
  void close();

 private:
  void ensure_parent_groups(const std::string& dataset);
  std::string path_;
  Handle file_;
};

}  // namespace wsc::io

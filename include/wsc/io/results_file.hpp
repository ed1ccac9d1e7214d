#pragma once
// An HDF5 file written by one process (results.h5, sweep_summary.h5, the
// demo's model file): datasets and attributes by path, groups created as
// needed. The root writes it to a temporary name, renamed by the caller when
// complete.
#include "wsc/core/types.hpp"
#include "wsc/io/hdf5_object.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::io {

class ResultsFile {
 public:
  /// Creates (truncates) `path` for writing by this process alone.
  explicit ResultsFile(const std::string& path);

  /// Datasets are created with intermediate groups as needed, replacing any
  /// dataset of that name.
  void write_matrix(const std::string& dataset, const core::Matrix& m);
  void write_vector(const std::string& dataset, const core::Vector& v);
  void write_doubles(const std::string& dataset, const std::vector<double>& v);
  void write_ints(const std::string& dataset, const std::vector<std::int64_t>& v);
  /// Doubles of any shape, row-major (last index fastest); the product of
  /// `dims` must be v.size().
  void write_array(const std::string& dataset, const std::vector<std::size_t>& dims, const std::vector<double>& v);
  void write_strings(const std::string& dataset, const std::vector<std::string>& v);
  /// String attribute on an object (group or dataset; "/" for the file),
  /// created as a group when absent.
  void write_attribute(const std::string& object, const std::string& name, const std::string& value);
  void write_attribute(const std::string& object, const std::string& name, double value);
  /// String-array attribute (e.g. class_names on a labels dataset).
  void write_attribute_strings(const std::string& object, const std::string& name,
                               const std::vector<std::string>& values);

  /// Flushes and closes; errors surface here rather than in a destructor.
  void close();

 private:
  /// Creates `dataset` (and its parent groups) and writes `data` to it.
  void write_dataset(const std::string& dataset, hid_t file_type, hid_t memory_type,
                     const std::vector<hsize_t>& dims, const void* data);
  /// The object an attribute goes on, created as a group when absent.
  Hdf5Object attribute_target(const std::string& object);
  void require_open() const;
  std::string path_;
  Hdf5File file_;
};

}  // namespace wsc::io

// An HDF5 file written serially by one process, through the object layer.
#include "wsc/io/results_file.hpp"

#include <stdexcept>

namespace wsc::io {

ResultsFile::ResultsFile(const std::string& path) : path_(path), file_(Hdf5File::create(path)) {}

void ResultsFile::require_open() const {
  if (!file_.is_open()) throw HdfError(path_ + ": write after close");
}

void ResultsFile::write_dataset(const std::string& dataset, hid_t file_type, hid_t memory_type,
                                const std::vector<hsize_t>& dims, const void* data) {
  require_open();
  file_.create_parent_groups(dataset);
  file_.create_dataset(dataset, file_type, dims).write(memory_type, data);
}

Hdf5Object ResultsFile::attribute_target(const std::string& object) {
  require_open();
  return file_.open_or_create_group(object);
}

void ResultsFile::write_matrix(const std::string& dataset, const core::Matrix& m) {
  const core::RowMatrix rows = m;  // stored row-major: [rows, cols]
  write_dataset(dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                {static_cast<hsize_t>(rows.rows()), static_cast<hsize_t>(rows.cols())},
                rows.size() > 0 ? rows.data() : nullptr);
}

void ResultsFile::write_vector(const std::string& dataset, const core::Vector& v) {
  write_dataset(dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {static_cast<hsize_t>(v.size())},
                v.size() > 0 ? v.data() : nullptr);
}

void ResultsFile::write_doubles(const std::string& dataset, const std::vector<double>& v) {
  write_dataset(dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {static_cast<hsize_t>(v.size())},
                v.empty() ? nullptr : v.data());
}

void ResultsFile::write_array(const std::string& dataset, const std::vector<std::size_t>& dims,
                              const std::vector<double>& v) {
  std::size_t count = 1;
  std::vector<hsize_t> shape;
  for (const std::size_t n : dims) {
    count *= n;
    shape.push_back(static_cast<hsize_t>(n));
  }
  if (count != v.size()) {
    throw std::invalid_argument(path_ + ": dataset " + dataset + ": shape of " + std::to_string(count) +
                                " values for " + std::to_string(v.size()));
  }
  write_dataset(dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, shape, v.empty() ? nullptr : v.data());
}

void ResultsFile::write_ints(const std::string& dataset, const std::vector<std::int64_t>& v) {
  write_dataset(dataset, H5T_STD_I64LE, H5T_NATIVE_INT64, {static_cast<hsize_t>(v.size())},
                v.empty() ? nullptr : v.data());
}

void ResultsFile::write_strings(const std::string& dataset, const std::vector<std::string>& v) {
  const Handle type = utf8_string_type(path_ + ": dataset " + dataset);
  std::vector<const char*> pointers;
  pointers.reserve(v.size());
  for (const std::string& s : v) pointers.push_back(s.c_str());
  write_dataset(dataset, type.get(), type.get(), {static_cast<hsize_t>(v.size())},
                pointers.empty() ? nullptr : pointers.data());
}

void ResultsFile::write_attribute(const std::string& object, const std::string& name,
                                  const std::string& value) {
  attribute_target(object).write_attribute(name, value);
}

void ResultsFile::write_attribute(const std::string& object, const std::string& name,
                                  double value) {
  attribute_target(object).write_attribute(name, value);
}

void ResultsFile::write_attribute_strings(const std::string& object, const std::string& name,
                                          const std::vector<std::string>& values) {
  attribute_target(object).write_attribute(name, values);
}

void ResultsFile::close() { file_.close("results"); }

}  // namespace wsc::io

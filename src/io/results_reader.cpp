// Reads results.h5 back through the HDF5 object layer.
#include "wsc/io/results_reader.hpp"

namespace wsc::io {

ResultsReader::ResultsReader(const std::string& path) {
  require_hdf5_file(path);
  file_ = Hdf5File::open_read_only(path, path);
}

bool ResultsReader::exists(const std::string& object) const { return file_.exists(object); }

core::Matrix ResultsReader::matrix(const std::string& dataset) const {
  const Hdf5Dataset d = file_.dataset(dataset);
  const DatasetInfo info = d.info();
  if (info.dims.empty() || info.dims.size() > 2) {
    throw HdfError(d.what() + " has rank " + std::to_string(info.dims.size()) +
                   ", expected 1 or 2");
  }
  if (info.kind != ElementKind::Float && info.kind != ElementKind::Integer) {
    throw HdfError(d.what() + " has type " + info.type_name + ", expected a number");
  }
  const std::vector<double> values = d.read_doubles();
  const auto rows = static_cast<core::Index>(info.dims[0]);
  const auto cols = info.dims.size() == 2 ? static_cast<core::Index>(info.dims[1]) : core::Index{1};
  return Eigen::Map<const core::RowMatrix>(values.data(), rows, cols);
}

std::vector<double> ResultsReader::array(const std::string& dataset, std::vector<std::size_t>& dims) const {
  const Hdf5Dataset d = file_.dataset(dataset);
  const DatasetInfo info = d.info();
  if (info.kind != ElementKind::Float && info.kind != ElementKind::Integer) {
    throw HdfError(d.what() + " has type " + info.type_name + ", expected a number");
  }
  dims.clear();
  for (const std::int64_t n : info.dims) dims.push_back(static_cast<std::size_t>(n));
  return d.read_doubles();
}

std::vector<std::int64_t> ResultsReader::ints(const std::string& dataset) const {
  const Hdf5Dataset d = file_.dataset(dataset);
  const DatasetInfo info = d.info();
  if (info.dims.size() != 1 || info.kind != ElementKind::Integer) {
    throw HdfError(d.what() + " is not a 1-d integer dataset");
  }
  return d.read_ints();
}

std::vector<std::string> ResultsReader::members(const std::string& group) const {
  if (!file_.exists(group)) throw HdfError(file_.label() + ": group " + group + " is missing");
  return file_.members(group);
}

std::vector<std::string> ResultsReader::strings(const std::string& dataset) const {
  return file_.dataset(dataset).read_strings();
}

}  // namespace wsc::io

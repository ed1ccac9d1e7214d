#include "wsc/io/results_reader.hpp"

#include <algorithm>

namespace wsc::io {

ResultsReader::ResultsReader(const std::string& path) : path_(path) {
  file_ = Handle(check_h5_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen", path));
}

bool ResultsReader::exists(const std::string& object) const {
  // Each link on the way must exist (H5Lexists on a missing parent fails).
  std::string at;
  for (const std::string& part : split_object_path(object)) {
    at += "/" + part;
    const htri_t found = H5Lexists(file_.get(), at.c_str(), H5P_DEFAULT);
    if (found <= 0) return false;
  }
  return true;
}

core::Matrix ResultsReader::matrix(const std::string& dataset) const {
  const std::string what = path_ + ":" + dataset;
  Handle d(check_h5_id(H5Dopen2(file_.get(), dataset.c_str(), H5P_DEFAULT), "H5Dopen2", what));
  Handle space(check_h5_id(H5Dget_space(d.get()), "H5Dget_space", what));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1 || rank > 2) throw HdfError(what + ": expected a 1-d or 2-d dataset");
  hsize_t dims[2] = {1, 1};
  check_h5(H5Sget_simple_extent_dims(space.get(), dims, nullptr), "H5Sget_simple_extent_dims", what);
  const auto rows = static_cast<core::Index>(dims[0]);
  const auto cols = rank == 2 ? static_cast<core::Index>(dims[1]) : core::Index{1};
  core::RowMatrix m(rows, cols);
  if (m.size() > 0) {
    check_h5(H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()), "H5Dread", what);
  }
  return m;
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> ResultsReader::members(const std::string& group) const {
  const std::string what = path_ + ":" + group;
  Handle g(check_h5_id(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT), "H5Gopen2", what));
  std::vector<std::string> names;
  hsize_t index = 0;
  check_h5(H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_name, &names), "H5Literate", what);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> ResultsReader::strings(const std::string& dataset) const {
  const std::string what = path_ + ":" + dataset;
  Handle d(check_h5_id(H5Dopen2(file_.get(), dataset.c_str(), H5P_DEFAULT), "H5Dopen2", what));
  Handle type(check_h5_id(H5Dget_type(d.get()), "H5Dget_type", what));
  if (H5Tget_class(type.get()) != H5T_STRING) throw HdfError(what + ": not a string dataset");
  Handle space(check_h5_id(H5Dget_space(d.get()), "H5Dget_space", what));
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.get()) != 1) throw HdfError(what + ": expected a 1-d dataset");
  check_h5(H5Sget_simple_extent_dims(space.get(), &n, nullptr), "H5Sget_simple_extent_dims", what);
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(check_h5_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what));
    check_h5(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size", what);
    check_h5(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "H5Tset_cset", what);
    std::vector<char*> raw(n, nullptr);
    if (n > 0) check_h5(H5Dread(d.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "H5Dread", what);
    for (char* s : raw) out.emplace_back(s != nullptr ? s : "");
    if (n > 0) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, raw.data());
  } else {
    const std::size_t size = H5Tget_size(type.get());
    std::vector<char> raw(n * size + 1, '\0');
    if (n > 0) check_h5(H5Dread(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "H5Dread", what);
    for (hsize_t i = 0; i < n; ++i) {
      std::string s(raw.data() + i * size, size);
      s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace wsc::io

// results.h5, written serially by one process.
#include "wsc/io/results_file.hpp"

#include <filesystem>
#include <utility>

namespace wsc::io {
namespace {


std::string absolute_name(const std::string& path) {
  std::string out;
  for (const std::string& part : split_object_path(path)) out += "/" + part;
  return out.empty() ? std::string("/") : out;
}

/// A variable-length UTF-8 string type.
Handle utf8_string_type(const std::string& what) {
  Handle type(check_h5_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what));
  check_h5(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", what);
  check_h5(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", what);
  return type;
}

}  // namespace

ResultsFile::ResultsFile(const std::string& path) : path_(path) {
  silence_hdf5_errors();
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    throw HdfError(path + ": cannot create: directory " + parent.string() + " does not exist");
  }
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    throw HdfError(path + ": cannot create HDF5 file (check permissions and free space)");
  }
  file_ = Handle(file);
}

void ResultsFile::ensure_parent_groups(const std::string& dataset) {
  if (!file_.valid()) throw HdfError(path_ + ": write after close");
  const std::vector<std::string> parts = split_object_path(dataset);
  std::string prefix;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += "/" + parts[i];
    const std::string what = path_ + ": group " + prefix;
    const htri_t exists =
        check_h5(H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT), "H5Lexists", what);
    if (exists > 0) {
      H5O_info_t info;
      check_h5(H5Oget_info_by_name2(file_.get(), prefix.c_str(), &info, H5O_INFO_BASIC,
                                    H5P_DEFAULT),
               "H5Oget_info_by_name", what);
      if (info.type != H5O_TYPE_GROUP) {
        throw HdfError(path_ + ": cannot create " + dataset + ": " + prefix + " is not a group");
      }
      continue;
    }
    Handle group(check_h5_id(
        H5Gcreate2(file_.get(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "H5Gcreate2", what));
  }
}

namespace {

/// Creates (replacing any existing link of that name) a dataset and writes
/// all of `data` to it.
void write_dataset(hid_t file, const std::string& fname, const std::string& dataset,
                   hid_t file_type, hid_t memory_type, const std::vector<hsize_t>& dims,
                   const void* data) {
  const std::string name = absolute_name(dataset);
  const std::string what = fname + ": dataset " + name;
  if (name == "/") throw HdfError(fname + ": cannot write a dataset named \"" + dataset + "\"");
  const htri_t exists = check_h5(H5Lexists(file, name.c_str(), H5P_DEFAULT), "H5Lexists", what);
  if (exists > 0) {
    check_h5(H5Ldelete(file, name.c_str(), H5P_DEFAULT), "H5Ldelete", what);
  }
  Handle space(check_h5_id(
      H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple",
      what));
  Handle dset(check_h5_id(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT),
                          "H5Dcreate2", what));
  static const double dummy = 0.0;
  check_h5(H5Dwrite(dset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                    data != nullptr ? data : &dummy),
           "H5Dwrite", what);
}

}  // namespace

void ResultsFile::write_matrix(const std::string& dataset, const core::Matrix& m) {
  ensure_parent_groups(dataset);
  const core::RowMatrix rows = m;  // stored row-major: [rows, cols]
  write_dataset(file_.get(), path_, dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                {static_cast<hsize_t>(rows.rows()), static_cast<hsize_t>(rows.cols())},
                rows.size() > 0 ? rows.data() : nullptr);
}

void ResultsFile::write_vector(const std::string& dataset, const core::Vector& v) {
  ensure_parent_groups(dataset);
  write_dataset(file_.get(), path_, dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                {static_cast<hsize_t>(v.size())}, v.size() > 0 ? v.data() : nullptr);
}

void ResultsFile::write_doubles(const std::string& dataset, const std::vector<double>& v) {
  ensure_parent_groups(dataset);
  write_dataset(file_.get(), path_, dataset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                {static_cast<hsize_t>(v.size())}, v.empty() ? nullptr : v.data());
}

void ResultsFile::write_ints(const std::string& dataset, const std::vector<std::int64_t>& v) {
  ensure_parent_groups(dataset);
  write_dataset(file_.get(), path_, dataset, H5T_STD_I64LE, H5T_NATIVE_INT64,
                {static_cast<hsize_t>(v.size())}, v.empty() ? nullptr : v.data());
}

void ResultsFile::write_strings(const std::string& dataset, const std::vector<std::string>& v) {
  ensure_parent_groups(dataset);
  const Handle type = utf8_string_type(path_ + ": dataset " + dataset);
  std::vector<const char*> pointers;
  pointers.reserve(v.size());
  for (const std::string& s : v) pointers.push_back(s.c_str());
  write_dataset(file_.get(), path_, dataset, type.get(), type.get(),
                {static_cast<hsize_t>(v.size())}, pointers.empty() ? nullptr : pointers.data());
}

namespace {

/// Opens `object`, creating it (and its parents) as a group when absent.
Handle open_or_create_object(hid_t file, const std::string& fname, const std::string& object) {
  const std::string name = absolute_name(object);
  const std::string what = fname + ": " + name;
  if (name != "/") {
    const htri_t exists = check_h5(H5Lexists(file, name.c_str(), H5P_DEFAULT), "H5Lexists", what);
    if (exists <= 0) {
      Handle lcpl(check_h5_id(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(H5P_LINK_CREATE)", what));
      check_h5(H5Pset_create_intermediate_group(lcpl.get(), 1), "H5Pset_create_intermediate_group",
               what);
      return Handle(check_h5_id(
          H5Gcreate2(file, name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2",
          what));
    }
  }
  return Handle(check_h5_id(H5Oopen(file, name.c_str(), H5P_DEFAULT), "H5Oopen", what));
}

void write_scalar_attribute(hid_t object, const std::string& name, hid_t file_type,
                            hid_t memory_type, const void* value, const std::string& what) {
  const htri_t exists = check_h5(H5Aexists(object, name.c_str()), "H5Aexists", what);
  if (exists > 0) check_h5(H5Adelete(object, name.c_str()), "H5Adelete", what);
  Handle space(check_h5_id(H5Screate(H5S_SCALAR), "H5Screate", what));
  Handle attr(check_h5_id(
      H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "H5Acreate2", what));
  check_h5(H5Awrite(attr.get(), memory_type, value), "H5Awrite", what);
}

}  // namespace

void ResultsFile::write_attribute(const std::string& object, const std::string& name,
                                  const std::string& value) {
  if (!file_.valid()) throw HdfError(path_ + ": write after close");
  const std::string what = path_ + ": attribute " + name + " of " + absolute_name(object);
  if (absolute_name(object) != "/") ensure_parent_groups(object);
  Handle target = open_or_create_object(file_.get(), path_, object);
  const Handle type = utf8_string_type(what);
  const char* text = value.c_str();
  write_scalar_attribute(target.get(), name, type.get(), type.get(), &text, what);
}

void ResultsFile::write_attribute(const std::string& object, const std::string& name,
                                  double value) {
  if (!file_.valid()) throw HdfError(path_ + ": write after close");
  const std::string what = path_ + ": attribute " + name + " of " + absolute_name(object);
  if (absolute_name(object) != "/") ensure_parent_groups(object);
  Handle target = open_or_create_object(file_.get(), path_, object);
  write_scalar_attribute(target.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, what);
}

void ResultsFile::write_attribute_strings(const std::string& object, const std::string& name,
                                          const std::vector<std::string>& values) {
  if (!file_.valid()) throw HdfError(path_ + ": write after close");
  const std::string what = path_ + ": attribute " + name + " of " + absolute_name(object);
  if (absolute_name(object) != "/") ensure_parent_groups(object);
  Handle target = open_or_create_object(file_.get(), path_, object);
  const Handle type = utf8_string_type(what);
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  const htri_t exists = check_h5(H5Aexists(target.get(), name.c_str()), "H5Aexists", what);
  if (exists > 0) check_h5(H5Adelete(target.get(), name.c_str()), "H5Adelete", what);
  const hsize_t count = static_cast<hsize_t>(values.size());
  Handle space(check_h5_id(H5Screate_simple(1, &count, nullptr), "H5Screate_simple", what));
  Handle attr(check_h5_id(
      H5Acreate2(target.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "H5Acreate2", what));
  if (!pointers.empty()) check_h5(H5Awrite(attr.get(), type.get(), pointers.data()), "H5Awrite", what);
}

void ResultsFile::close() {
  if (!file_.valid()) return;
  const hid_t id = file_.get();
  // Flush first so that a full disk is reported here.
  if (H5Fflush(id, H5F_SCOPE_GLOBAL) < 0) {
    file_.reset();
    throw HdfError(path_ + ": writing results failed (H5Fflush; disk full?)");
  }
  // Take an extra reference so that the Handle can let go of its own without
  // closing the file; the final H5Fclose below then reports the status.
  if (H5Iinc_ref(id) < 0) {
    file_.reset();
    throw HdfError(path_ + ": closing results failed (H5Iinc_ref)");
  }
  file_.reset();
  if (H5Fclose(id) < 0) {
    throw HdfError(path_ + ": closing results failed (H5Fclose; disk full?)");
  }
}

}  // namespace wsc::io

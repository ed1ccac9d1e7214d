// The HDF5 object layer: files, groups, datasets and attributes by path,
// every call checked.
#include "wsc/io/hdf5_object.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

namespace wsc::io {
namespace {

/// Collects the descriptions on the current HDF5 error stack (used to refine
/// the message of a failed open).
std::string error_stack_text() {
  std::string text;
  auto walker = [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
    auto* out = static_cast<std::string*>(data);
    if (err != nullptr && err->desc != nullptr) {
      out->append(err->desc);
      out->push_back('\n');
    }
    return 0;
  };
  // Only refines a message: a failed walk leaves the plainer one.
  if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walker, &text) < 0) text.clear();
  return text;
}

/// H5Tget_size, checked.
std::size_t type_size(hid_t type, const std::string& what) {
  const std::size_t size = H5Tget_size(type);
  if (size == 0) throw HdfError(what + ": H5Tget_size failed");
  return size;
}

/// "int32", "uint8", ...
std::string integer_name(hid_t type, std::size_t size, const std::string& what) {
  const H5T_sign_t sign = H5Tget_sign(type);
  if (sign == H5T_SGN_ERROR) throw HdfError(what + ": H5Tget_sign failed");
  return std::string(sign == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
}

/// The name of an element type as messages and `wsc inspect` show it.
std::string type_name_of(hid_t type, ElementKind* kind_out, std::size_t* size_out,
                         const std::string& what) {
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_NO_CLASS) {
    throw HdfError(what + ": H5Tget_class failed");
  }
  const std::size_t size = type_size(type, what);
  ElementKind kind = ElementKind::Other;
  std::string name;
  switch (cls) {
    case H5T_INTEGER:
      kind = ElementKind::Integer;
      name = integer_name(type, size, what);
      break;
    case H5T_FLOAT:
      kind = ElementKind::Float;
      name = "float" + std::to_string(size * 8);
      break;
    case H5T_STRING:
      kind = ElementKind::String;
      name = "string";
      break;
    case H5T_ENUM: {
      // An enum over an integer type (h5py stores bool this way) reads as
      // integers.
      name = "enum";
      Handle base(check_h5_id(H5Tget_super(type), "H5Tget_super", what));
      const H5T_class_t base_class = H5Tget_class(base.get());
      if (base_class == H5T_NO_CLASS) throw HdfError(what + ": H5Tget_class failed");
      if (base_class == H5T_INTEGER) {
        kind = ElementKind::Integer;
        name = "enum(" + integer_name(base.get(), type_size(base.get(), what), what) + ")";
      }
      break;
    }
    case H5T_COMPOUND:
      name = "compound";
      break;
    case H5T_BITFIELD:
      name = "bitfield";
      break;
    case H5T_OPAQUE:
      name = "opaque";
      break;
    case H5T_REFERENCE:
      name = "reference";
      break;
    case H5T_VLEN:
      name = "variable-length sequence";
      break;
    case H5T_ARRAY:
      name = "array";
      break;
    case H5T_TIME:
      name = "time";
      break;
    default:
      name = "unknown";
      break;
  }
  if (kind_out != nullptr) *kind_out = kind;
  if (size_out != nullptr) *size_out = size;
  return name;
}

std::vector<std::int64_t> extent_of(hid_t space, const std::string& what) {
  const int rank = check_h5(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims", what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank), 0);
  if (rank > 0) {
    check_h5(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims",
             what);
  }
  std::vector<std::int64_t> out;
  out.reserve(dims.size());
  for (hsize_t d : dims) {
    if (d > static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max())) {
      throw HdfError(what + " has an impossible extent");
    }
    out.push_back(static_cast<std::int64_t>(d));
  }
  return out;
}

/// The number of elements of a dataspace.
std::size_t element_count(hid_t space, const std::string& what) {
  const hssize_t npoints = H5Sget_simple_extent_npoints(space);
  if (npoints < 0) throw HdfError(what + ": H5Sget_simple_extent_npoints failed");
  return static_cast<std::size_t>(npoints);
}

/// Reads the strings of a string dataset or attribute. `type` is its file
/// type, `space` its dataspace (rank 0 or 1: checked here), and
/// `read(memory_type, buffer)` the H5Dread or H5Aread of all of it.
template <typename Read>
std::vector<std::string> read_string_elements(hid_t type, hid_t space, const Read& read,
                                              const std::string& what) {
  ElementKind kind = ElementKind::Other;
  const std::string type_name = type_name_of(type, &kind, nullptr, what);
  if (kind != ElementKind::String) {
    throw HdfError(what + " has type " + type_name + ", expected string");
  }
  const std::vector<std::int64_t> dims = extent_of(space, what);
  if (dims.size() > 1) {
    throw HdfError(what + " has rank " + std::to_string(dims.size()) +
                   ", expected a string or a 1-D array of strings");
  }
  const std::size_t count = element_count(space, what);
  if (count > kMaxStrings) {
    throw HdfError(what + " has " + std::to_string(count) + " strings, at most " +
                   std::to_string(kMaxStrings));
  }
  std::vector<std::string> out;
  out.reserve(count);
  if (count == 0) return out;
  auto too_long = [&](const char* described, std::size_t bytes) {
    return HdfError(what + " has " + described + std::to_string(bytes) + " bytes, at most " +
                    std::to_string(kMaxStringBytes));
  };

  const htri_t variable = check_h5(H5Tis_variable_str(type), "H5Tis_variable_str", what);
  const H5T_cset_t cset = H5Tget_cset(type);
  if (cset < 0) throw HdfError(what + ": H5Tget_cset failed");
  Handle memory_type(check_h5_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what));
  check_h5(H5Tset_cset(memory_type.get(), cset), "H5Tset_cset", what);
  if (variable > 0) {
    check_h5(H5Tset_size(memory_type.get(), H5T_VARIABLE), "H5Tset_size", what);
    std::vector<char*> pointers(count, nullptr);
    read(memory_type.get(), pointers.data());
    try {
      for (char* p : pointers) {
        const std::size_t length = p != nullptr ? std::strlen(p) : 0;
        if (length > kMaxStringBytes) throw too_long("a string of ", length);
        out.emplace_back(p != nullptr ? p : "", length);
      }
    } catch (...) {
      // Already failing: the strings are freed as far as possible.
      static_cast<void>(H5Dvlen_reclaim(memory_type.get(), space, H5P_DEFAULT, pointers.data()));
      throw;
    }
    check_h5(H5Dvlen_reclaim(memory_type.get(), space, H5P_DEFAULT, pointers.data()),
             "H5Dvlen_reclaim", what);
  } else {
    const std::size_t size = type_size(type, what);
    if (size > kMaxStringBytes) throw too_long("a fixed string length of ", size);
    const H5T_str_t pad = H5Tget_strpad(type);
    if (pad == H5T_STR_ERROR) throw HdfError(what + ": H5Tget_strpad failed");
    check_h5(H5Tset_size(memory_type.get(), size), "H5Tset_size", what);
    check_h5(H5Tset_strpad(memory_type.get(), pad), "H5Tset_strpad", what);
    std::vector<char> buffer(count * size, '\0');
    read(memory_type.get(), buffer.data());
    for (std::size_t i = 0; i < count; ++i) {
      const char* begin = buffer.data() + i * size;
      std::size_t length = 0;
      while (length < size && begin[length] != '\0') ++length;
      std::string text(begin, length);
      if (pad == H5T_STR_SPACEPAD) {
        while (!text.empty() && text.back() == ' ') text.pop_back();
      }
      out.push_back(std::move(text));
    }
  }
  return out;
}

/// Deletes attribute `name` of `object` if it has one.
void delete_attribute_if_present(hid_t object, const std::string& name, const std::string& what) {
  const htri_t present = check_h5(H5Aexists(object, name.c_str()), "H5Aexists", what);
  if (present > 0) check_h5(H5Adelete(object, name.c_str()), "H5Adelete", what);
}

void write_scalar_attribute(hid_t object, const std::string& name, hid_t file_type,
                            hid_t memory_type, const void* value, const std::string& what) {
  delete_attribute_if_present(object, name, what);
  Handle space(check_h5_id(H5Screate(H5S_SCALAR), "H5Screate", what));
  Handle attr(check_h5_id(
      H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "H5Acreate2", what));
  check_h5(H5Awrite(attr.get(), memory_type, value), "H5Awrite", what);
}

}  // namespace

// ---------------------------------------------------------------------------
// Names and opening

Handle utf8_string_type(const std::string& what) {
  Handle type(check_h5_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what));
  check_h5(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", what);
  check_h5(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", what);
  return type;
}

std::string absolute_object_name(const std::string& path) {
  std::string out;
  for (const std::string& part : split_object_path(path)) out += "/" + part;
  return out.empty() ? std::string("/") : out;
}

void require_hdf5_file(const std::string& path) {
  silence_hdf5_errors();
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    throw HdfError(path + ": cannot open: no such file");
  }
  if (fs::is_directory(status)) {
    throw HdfError(path + ": cannot open: is a directory, expected an HDF5 file");
  }
  if (!fs::is_regular_file(status)) {
    throw HdfError(path + ": cannot open: not a regular file");
  }
  {
    errno = 0;
    std::FILE* probe = std::fopen(path.c_str(), "rb");
    if (probe == nullptr) {
      const int err = errno;
      throw HdfError(path + ": cannot open: " + (err != 0 ? std::strerror(err) : "not readable"));
    }
    std::fclose(probe);  // opened read-only: nothing to lose
  }
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) {
    throw HdfError(path + ": not an HDF5 file");
  }
  if (is_hdf5 < 0) {
    throw HdfError(path + ": cannot open (truncated or damaged HDF5 file)");
  }
}

Hdf5File Hdf5File::open_read_only(const std::string& path, const std::string& label,
                                  MPI_Comm comm) {
  silence_hdf5_errors();
  Handle fapl(check_h5_id(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate(H5P_FILE_ACCESS)", path));
  if (comm != MPI_COMM_NULL) {
    check_h5(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "H5Pset_fapl_mpio", path);
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (file < 0) {
    const std::string stack = error_stack_text();
    if (stack.find("truncated") == std::string::npos &&
        stack.find("unable to lock") != std::string::npos) {
      throw HdfError(path +
                     ": cannot open (the file is locked, probably being written by another "
                     "process; or set HDF5_USE_FILE_LOCKING=FALSE)");
    }
    throw HdfError(path + ": cannot open (truncated or damaged HDF5 file)");
  }
  return Hdf5File(Handle(file), label);
}

Hdf5File Hdf5File::create(const std::string& path) {
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
  return Hdf5File(Handle(file), path);
}

void Hdf5File::close(const std::string& subject) {
  if (!file_.valid()) return;
  const hid_t id = file_.get();
  // Flush first so that a full disk is reported here.
  if (H5Fflush(id, H5F_SCOPE_GLOBAL) < 0) {
    file_.reset();
    throw HdfError(label_ + ": writing " + subject + " failed (H5Fflush; disk full?)");
  }
  // Take an extra reference so that the Handle can let go of its own without
  // closing the file; the final H5Fclose below then reports the status.
  if (H5Iinc_ref(id) < 0) {
    file_.reset();
    throw HdfError(label_ + ": closing " + subject + " failed (H5Iinc_ref)");
  }
  file_.reset();
  if (H5Fclose(id) < 0) {
    throw HdfError(label_ + ": closing " + subject + " failed (H5Fclose; disk full?)");
  }
}

// ---------------------------------------------------------------------------
// Objects

bool Hdf5File::exists(const std::string& path) const {
  const hid_t file = file_.get();
  const std::vector<std::string> parts = split_object_path(path);
  std::string prefix;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += "/" + parts[i];
    const std::string what = label_ + ": " + prefix;
    const htri_t link = check_h5(H5Lexists(file, prefix.c_str(), H5P_DEFAULT), "H5Lexists", what);
    if (link <= 0) return false;
    const htri_t object = check_h5(H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT),
                                   "H5Oexists_by_name", what);
    if (object <= 0) return false;  // dangling soft or external link
    if (i + 1 < parts.size() && type(prefix) != H5O_TYPE_GROUP) return false;
  }
  return true;
}

H5O_type_t Hdf5File::type(const std::string& path) const {
  H5O_info_t info;
  check_h5(H5Oget_info_by_name2(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
           "H5Oget_info_by_name", label_ + ": " + path);
  return info.type;
}

std::vector<std::string> Hdf5File::members(const std::string& path) const {
  std::vector<std::string> names;
  if (!exists(path)) return names;
  if (type(path) != H5O_TYPE_GROUP) {
    throw HdfError(label_ + ": " + path + " is not a group");
  }
  const std::string what = label_ + ": group " + path;
  Handle group(check_h5_id(H5Gopen2(file_.get(), path.c_str(), H5P_DEFAULT), "H5Gopen2", what));
  H5G_info_t info;
  check_h5(H5Gget_info(group.get(), &info), "H5Gget_info", what);
  names.reserve(static_cast<std::size_t>(info.nlinks));
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t length = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                              nullptr, 0, H5P_DEFAULT);
    if (length < 0) throw HdfError(what + ": H5Lget_name_by_idx failed");
    std::vector<char> buffer(static_cast<std::size_t>(length) + 1, '\0');
    if (H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, buffer.data(),
                           buffer.size(), H5P_DEFAULT) < 0) {
      throw HdfError(what + ": H5Lget_name_by_idx failed");
    }
    names.emplace_back(buffer.data());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Hdf5Object Hdf5File::root() const {
  return Hdf5Object(
      Handle(check_h5_id(H5Oopen(file_.get(), "/", H5P_DEFAULT), "H5Oopen", label_ + ": /")),
      label_, "/");
}

Hdf5Dataset Hdf5File::dataset(const std::string& path) const {
  if (!exists(path)) {
    throw HdfError(label_ + ": dataset " + path + " is missing");
  }
  if (type(path) != H5O_TYPE_DATASET) {
    throw HdfError(label_ + ": " + path + " is not a dataset");
  }
  return Hdf5Dataset(Handle(check_h5_id(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT),
                                        "H5Dopen2", label_ + ": dataset " + path)),
                     label_, path);
}

// ---------------------------------------------------------------------------
// Writing

void Hdf5File::create_parent_groups(const std::string& path) {
  const std::vector<std::string> parts = split_object_path(path);
  std::string prefix;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += "/" + parts[i];
    const std::string what = label_ + ": group " + prefix;
    const htri_t present =
        check_h5(H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT), "H5Lexists", what);
    if (present > 0) {
      if (type(prefix) != H5O_TYPE_GROUP) {
        throw HdfError(label_ + ": cannot create " + path + ": " + prefix + " is not a group");
      }
      continue;
    }
    Handle group(check_h5_id(
        H5Gcreate2(file_.get(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "H5Gcreate2", what));
  }
}

Hdf5Object Hdf5File::open_or_create_group(const std::string& path) {
  const std::string name = absolute_object_name(path);
  const std::string what = label_ + ": " + name;
  if (name != "/") {
    create_parent_groups(name);
    const htri_t present =
        check_h5(H5Lexists(file_.get(), name.c_str(), H5P_DEFAULT), "H5Lexists", what);
    if (present <= 0) {
      return Hdf5Object(Handle(check_h5_id(H5Gcreate2(file_.get(), name.c_str(), H5P_DEFAULT,
                                                      H5P_DEFAULT, H5P_DEFAULT),
                                           "H5Gcreate2", what)),
                        label_, name);
    }
  }
  return Hdf5Object(
      Handle(check_h5_id(H5Oopen(file_.get(), name.c_str(), H5P_DEFAULT), "H5Oopen", what)),
      label_, name);
}

Hdf5Dataset Hdf5File::create_dataset(const std::string& path, hid_t file_type,
                                     const std::vector<hsize_t>& dims) {
  const std::string name = absolute_object_name(path);
  if (name == "/") throw HdfError(label_ + ": cannot write a dataset named \"" + path + "\"");
  const std::string what = label_ + ": dataset " + name;
  const htri_t present =
      check_h5(H5Lexists(file_.get(), name.c_str(), H5P_DEFAULT), "H5Lexists", what);
  if (present > 0) {
    check_h5(H5Ldelete(file_.get(), name.c_str(), H5P_DEFAULT), "H5Ldelete", what);
  }
  Handle space(check_h5_id(
      H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple",
      what));
  return Hdf5Dataset(Handle(check_h5_id(H5Dcreate2(file_.get(), name.c_str(), file_type,
                                                   space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                                   H5P_DEFAULT),
                                        "H5Dcreate2", what)),
                     label_, name);
}

// ---------------------------------------------------------------------------
// Attributes

bool Hdf5Object::has_attribute(const std::string& name) const {
  return check_h5(H5Aexists(id(), name.c_str()), "H5Aexists",
                  where() + ": attribute " + name) > 0;
}

std::vector<std::string> Hdf5Object::read_string_attribute(const std::string& name) const {
  const std::string what = where() + ": attribute " + name;
  Handle attr(check_h5_id(H5Aopen(id(), name.c_str(), H5P_DEFAULT), "H5Aopen", what));
  Handle type(check_h5_id(H5Aget_type(attr.get()), "H5Aget_type", what));
  Handle space(check_h5_id(H5Aget_space(attr.get()), "H5Aget_space", what));
  return read_string_elements(
      type.get(), space.get(),
      [&](hid_t memory_type, void* buffer) {
        check_h5(H5Aread(attr.get(), memory_type, buffer), "H5Aread", what);
      },
      what);
}

double Hdf5Object::read_number_attribute(const std::string& name) const {
  const std::string what = where() + ": attribute " + name;
  Handle attr(check_h5_id(H5Aopen(id(), name.c_str(), H5P_DEFAULT), "H5Aopen", what));
  Handle type(check_h5_id(H5Aget_type(attr.get()), "H5Aget_type", what));
  ElementKind kind = ElementKind::Other;
  const std::string type_name = type_name_of(type.get(), &kind, nullptr, what);
  if (kind != ElementKind::Integer && kind != ElementKind::Float) {
    throw HdfError(what + " has type " + type_name + ", expected a number");
  }
  Handle space(check_h5_id(H5Aget_space(attr.get()), "H5Aget_space", what));
  const std::size_t count = element_count(space.get(), what);
  if (count != 1) {
    throw HdfError(what + " has " + std::to_string(count) + " values, expected one");
  }
  double value = 0.0;
  check_h5(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), "H5Aread", what);
  return value;
}

void Hdf5Object::write_attribute(const std::string& name, const std::string& value) const {
  const std::string what = where() + ": attribute " + name;
  const Handle type = utf8_string_type(what);
  const char* text = value.c_str();
  write_scalar_attribute(id(), name, type.get(), type.get(), &text, what);
}

void Hdf5Object::write_attribute(const std::string& name, double value) const {
  write_scalar_attribute(id(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value,
                         where() + ": attribute " + name);
}

void Hdf5Object::write_attribute(const std::string& name,
                                 const std::vector<std::string>& values) const {
  const std::string what = where() + ": attribute " + name;
  const Handle type = utf8_string_type(what);
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const std::string& v : values) pointers.push_back(v.c_str());
  delete_attribute_if_present(id(), name, what);
  const hsize_t count = static_cast<hsize_t>(values.size());
  Handle space(check_h5_id(H5Screate_simple(1, &count, nullptr), "H5Screate_simple", what));
  Handle attr(check_h5_id(
      H5Acreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "H5Acreate2", what));
  if (!pointers.empty()) {
    check_h5(H5Awrite(attr.get(), type.get(), pointers.data()), "H5Awrite", what);
  }
}

// ---------------------------------------------------------------------------
// Datasets

DatasetInfo Hdf5Dataset::info() const {
  const std::string what = this->what();
  DatasetInfo out;
  Handle space(check_h5_id(H5Dget_space(id()), "H5Dget_space", what));
  out.dims = extent_of(space.get(), what);
  Handle type(check_h5_id(H5Dget_type(id()), "H5Dget_type", what));
  out.type_name = type_name_of(type.get(), &out.kind, &out.element_size, what);
  return out;
}

void Hdf5Dataset::require_storage(const DatasetInfo& info) const {
  const std::string what = this->what();
  std::uint64_t bytes = info.element_size;
  bool overflow = false;
  std::string declared;
  for (std::size_t i = 0; i < info.dims.size(); ++i) {
    if (i > 0) declared += " x ";
    declared += std::to_string(info.dims[i]);
    overflow = overflow ||
               __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(info.dims[i]), &bytes);
  }
  if (info.dims.empty()) declared = "a scalar";
  if (overflow) {
    throw HdfError(what + " declares " + declared + " elements, an impossible size");
  }
  if (bytes == 0) return;
  Handle dcpl(check_h5_id(H5Dget_create_plist(id()), "H5Dget_create_plist", what));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout < 0) throw HdfError(what + ": H5Pget_layout failed");
  if (layout == H5D_VIRTUAL) return;  // data lives in other datasets
  // 0 is both "nothing stored" and the failure value: either way there is
  // nothing to read.
  const hsize_t storage = H5Dget_storage_size(id());
  if (storage == 0 || (layout == H5D_CONTIGUOUS && storage < bytes)) {
    throw HdfError(what + " declares " + declared + " " + info.type_name + " (" +
                   std::to_string(bytes) + " bytes) but holds only " + std::to_string(storage) +
                   " bytes (unwritten or truncated)");
  }
}

namespace {

template <typename T>
std::vector<T> read_whole(hid_t dset, hid_t memory_type, const std::string& what) {
  Handle space(check_h5_id(H5Dget_space(dset), "H5Dget_space", what));
  std::vector<T> out(element_count(space.get(), what));
  T dummy{};
  check_h5(H5Dread(dset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   out.empty() ? static_cast<void*>(&dummy) : static_cast<void*>(out.data())),
           "H5Dread", what);
  return out;
}

}  // namespace

std::vector<double> Hdf5Dataset::read_doubles() const {
  return read_whole<double>(id(), H5T_NATIVE_DOUBLE, what());
}

std::vector<std::int64_t> Hdf5Dataset::read_ints() const {
  return read_whole<std::int64_t>(id(), H5T_NATIVE_INT64, what());
}

std::vector<std::string> Hdf5Dataset::read_strings() const {
  const std::string what = this->what();
  Handle type(check_h5_id(H5Dget_type(id()), "H5Dget_type", what));
  Handle space(check_h5_id(H5Dget_space(id()), "H5Dget_space", what));
  return read_string_elements(
      type.get(), space.get(),
      [&](hid_t memory_type, void* buffer) {
        check_h5(H5Dread(id(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), "H5Dread",
                 what);
      },
      what);
}

std::string Hdf5Dataset::read_rows(std::int64_t begin, std::int64_t count, std::int64_t cols,
                                   bool collective, double* out) const {
  return read_rows_as(begin, count, cols, collective, H5T_NATIVE_DOUBLE, out);
}

std::string Hdf5Dataset::read_rows(std::int64_t begin, std::int64_t count, std::int64_t cols,
                                   bool collective, float* out) const {
  return read_rows_as(begin, count, cols, collective, H5T_NATIVE_FLOAT, out);
}

std::string Hdf5Dataset::read_rows_as(std::int64_t begin, std::int64_t count, std::int64_t cols,
                                      bool collective, hid_t memory_type, void* out) const {
  const std::string what = file_label() + ": reading rows [" + std::to_string(begin) + ", " +
                           std::to_string(begin + count) + ") of " + path();
  const bool select = count > 0;
  Handle file_space(check_h5_id(H5Dget_space(id()), "H5Dget_space", what));
  Handle memory_space;
  if (select) {
    const hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
    const hsize_t extent[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
    check_h5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr),
             "H5Sselect_hyperslab", what);
    memory_space =
        Handle(check_h5_id(H5Screate_simple(2, extent, nullptr), "H5Screate_simple", what));
  } else {
    check_h5(H5Sselect_none(file_space.get()), "H5Sselect_none", what);
    const hsize_t one[2] = {1, static_cast<hsize_t>(cols)};
    memory_space = Handle(check_h5_id(H5Screate_simple(2, one, nullptr), "H5Screate_simple", what));
    check_h5(H5Sselect_none(memory_space.get()), "H5Sselect_none", what);
  }
  Handle dxpl(check_h5_id(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate(H5P_DATASET_XFER)", what));
  if (collective) {
    check_h5(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", what);
  }
  double dummy = 0.0;
  check_h5(H5Dread(id(), memory_type, memory_space.get(), file_space.get(), dxpl.get(),
                   select ? out : static_cast<void*>(&dummy)),
           "H5Dread", what);
  if (!collective) return "serial";
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  check_h5(H5Pget_mpio_actual_io_mode(dxpl.get(), &mode), "H5Pget_mpio_actual_io_mode", what);
  switch (mode) {
    case H5D_MPIO_NO_COLLECTIVE:
    case H5D_MPIO_CHUNK_INDEPENDENT:
      return "independent";
    case H5D_MPIO_CHUNK_MIXED:
      return "mixed";
    case H5D_MPIO_CONTIGUOUS_COLLECTIVE:
    case H5D_MPIO_CHUNK_COLLECTIVE:
      return "collective";
  }
  return "unknown";
}

void Hdf5Dataset::write(hid_t memory_type, const void* data) const {
  static const double dummy = 0.0;
  check_h5(H5Dwrite(id(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                    data != nullptr ? data : &dummy),
           "H5Dwrite", what());
}

}  // namespace wsc::io

// The model file: validated, sharded reads of embeddings, whole reads of
// labels, groups and heads, and the `wsc inspect` report.
#include "wsc/io/model_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <new>
#include <sstream>
#include <unordered_set>
#include <utility>

namespace wsc::io {
namespace {

// ---------------------------------------------------------------------------
// Small helpers

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

/// The name used in messages: the file name without its directory.
std::string display_name(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  return name.empty() ? path : name;
}

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

std::string format_number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}


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
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walker, &text);
  return text;
}

// ---------------------------------------------------------------------------
// Opening

/// Checks that `path` is a readable HDF5 file (no HDF5 file handle is kept).
void precheck_file(const std::string& path) {
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
    std::fclose(probe);
  }
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) {
    throw HdfError(path + ": not an HDF5 file");
  }
  if (is_hdf5 < 0) {
    throw HdfError(path + ": cannot open (truncated or damaged HDF5 file)");
  }
}

/// Opens a prechecked file read-only; collective over `comm` unless null.
Handle open_hdf5(const std::string& path, MPI_Comm comm) {
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
  return Handle(file);
}

Handle open_file(const std::string& path, MPI_Comm comm) {
  precheck_file(path);
  return open_hdf5(path, comm);
}

/// Runs a step that may fail on some ranks only (a path visible on some nodes
/// only, say); with a communicator every rank then throws the same HdfError,
/// so that no rank goes on into a collective call alone.
template <typename Step>
void agreed_step(const par::Communicator* comm, Step&& step) {
  if (comm == nullptr) {
    step();
    return;
  }
  try {
    comm->agree_on(std::forward<Step>(step));
  } catch (const par::AgreedError& e) {
    throw HdfError(e.what());
  }
}

// ---------------------------------------------------------------------------
// Objects

/// True when every component of `path` exists, every intermediate one is a
/// group, and the last one resolves to an object.
bool object_exists(hid_t file, const std::string& fname, const std::string& path) {
  const std::vector<std::string> parts = split_object_path(path);
  std::string prefix;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += "/" + parts[i];
    const htri_t link = check_h5(H5Lexists(file, prefix.c_str(), H5P_DEFAULT), "H5Lexists",
                                 fname + ": " + prefix);
    if (link <= 0) return false;
    const htri_t object = check_h5(H5Oexists_by_name(file, prefix.c_str(), H5P_DEFAULT),
                                   "H5Oexists_by_name", fname + ": " + prefix);
    if (object <= 0) return false;  // dangling soft or external link
    if (i + 1 < parts.size()) {
      H5O_info_t info;
      check_h5(H5Oget_info_by_name2(file, prefix.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
               "H5Oget_info_by_name", fname + ": " + prefix);
      if (info.type != H5O_TYPE_GROUP) return false;
    }
  }
  return true;
}

H5O_type_t object_type(hid_t file, const std::string& fname, const std::string& path) {
  H5O_info_t info;
  check_h5(H5Oget_info_by_name2(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
           "H5Oget_info_by_name", fname + ": " + path);
  return info.type;
}

Handle require_dataset(hid_t file, const std::string& fname, const std::string& dpath) {
  if (!object_exists(file, fname, dpath)) {
    throw HdfError(fname + ": dataset " + dpath + " is missing");
  }
  if (object_type(file, fname, dpath) != H5O_TYPE_DATASET) {
    throw HdfError(fname + ": " + dpath + " is not a dataset");
  }
  return Handle(check_h5_id(H5Dopen2(file, dpath.c_str(), H5P_DEFAULT), "H5Dopen2",
                            fname + ": dataset " + dpath));
}

std::vector<std::string> group_members(hid_t file, const std::string& fname,
                                       const std::string& group_path) {
  std::vector<std::string> names;
  if (!object_exists(file, fname, group_path)) return names;
  if (object_type(file, fname, group_path) != H5O_TYPE_GROUP) {
    throw HdfError(fname + ": " + group_path + " is not a group");
  }
  const std::string what = fname + ": group " + group_path;
  Handle group(check_h5_id(H5Gopen2(file, group_path.c_str(), H5P_DEFAULT), "H5Gopen2", what));
  H5G_info_t info;
  check_h5(H5Gget_info(group.get(), &info), "H5Gget_info", what);
  names.reserve(static_cast<std::size_t>(info.nlinks));
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t length = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                              nullptr, 0, H5P_DEFAULT);
    check_h5(static_cast<herr_t>(length < 0 ? -1 : 0), "H5Lget_name_by_idx", what);
    std::vector<char> buffer(static_cast<std::size_t>(length) + 1, '\0');
    check_h5(static_cast<herr_t>(H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC,
                                                    i, buffer.data(), buffer.size(),
                                                    H5P_DEFAULT) < 0
                                     ? -1
                                     : 0),
             "H5Lget_name_by_idx", what);
    names.emplace_back(buffer.data());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------
// Types and shapes

std::string type_name_of(hid_t type, ElementKind* kind_out, std::size_t* size_out,
                         const std::string& what) {
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_NO_CLASS) {
    throw HdfError(what + ": H5Tget_class failed");
  }
  const std::size_t size = H5Tget_size(type);
  if (size == 0) {
    throw HdfError(what + ": H5Tget_size failed");
  }
  ElementKind kind = ElementKind::Other;
  std::string name;
  switch (cls) {
    case H5T_INTEGER: {
      kind = ElementKind::Integer;
      const H5T_sign_t sign = H5Tget_sign(type);
      if (sign == H5T_SGN_ERROR) throw HdfError(what + ": H5Tget_sign failed");
      name = std::string(sign == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
      break;
    }
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
      const hid_t base = H5Tget_super(type);
      if (base >= 0) {
        Handle base_type(base);
        if (H5Tget_class(base) == H5T_INTEGER) {
          kind = ElementKind::Integer;
          const H5T_sign_t sign = H5Tget_sign(base);
          name = std::string("enum(") + (sign == H5T_SGN_NONE ? "uint" : "int") +
                 std::to_string(H5Tget_size(base) * 8) + ")";
        }
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

DatasetInfo describe(hid_t dset, const std::string& fname, const std::string& dpath) {
  const std::string what = fname + ": dataset " + dpath;
  DatasetInfo info;
  Handle space(check_h5_id(H5Dget_space(dset), "H5Dget_space", what));
  info.dims = extent_of(space.get(), what);
  Handle type(check_h5_id(H5Dget_type(dset), "H5Dget_type", what));
  info.type_name = type_name_of(type.get(), &info.kind, &info.element_size, what);
  return info;
}

std::string rank_message(const std::string& fname, const std::string& dpath, std::size_t rank,
                         int expected, const char* shape) {
  return fname + ": dataset " + dpath + " has rank " + std::to_string(rank) + ", expected " +
         std::to_string(expected) + " (" + shape + ")";
}

std::string length_message(const std::string& fname, const std::string& dpath,
                           std::int64_t got, std::int64_t expected) {
  return fname + ": " + dpath + " has " + std::to_string(got) + " entries, expected " +
         std::to_string(expected) + " (one per embedding row)";
}

/// Refuses a dataset whose storage cannot hold what its shape declares
/// (never written, or cut short). Does not allocate anything.
void check_storage(hid_t dset, const std::string& fname, const std::string& dpath,
                   const DatasetInfo& info) {
  const std::string what = fname + ": dataset " + dpath;
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
  Handle dcpl(check_h5_id(H5Dget_create_plist(dset), "H5Dget_create_plist", what));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout < 0) throw HdfError(what + ": H5Pget_layout failed");
  if (layout == H5D_VIRTUAL) return;  // data lives in other datasets
  const hsize_t storage = H5Dget_storage_size(dset);
  if (storage == 0 || (layout == H5D_CONTIGUOUS && storage < bytes)) {
    throw HdfError(what + " declares " + declared + " " + info.type_name + " (" +
                   std::to_string(bytes) + " bytes) but holds only " + std::to_string(storage) +
                   " bytes (unwritten or truncated)");
  }
}

template <typename T>
std::vector<T> read_all(hid_t dset, hid_t memory_type, std::size_t count,
                        const std::string& what) {
  std::vector<T> out(count);
  T dummy{};
  check_h5(H5Dread(dset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   count > 0 ? static_cast<void*>(out.data()) : static_cast<void*>(&dummy)),
           "H5Dread", what);
  return out;
}

// ---------------------------------------------------------------------------
// Strings

/// Reads a string attribute (scalar or 1-D, fixed or variable length).
/// `where` names the object for messages ("model.h5: /labels/site").
std::vector<std::string> read_string_attribute(hid_t object, const char* name,
                                               const std::string& where) {
  const std::string what = where + ": attribute " + name;
  Handle attr(check_h5_id(H5Aopen(object, name, H5P_DEFAULT), "H5Aopen", what));
  Handle type(check_h5_id(H5Aget_type(attr.get()), "H5Aget_type", what));
  ElementKind kind = ElementKind::Other;
  const std::string type_name = type_name_of(type.get(), &kind, nullptr, what);
  if (kind != ElementKind::String) {
    throw HdfError(what + " has type " + type_name + ", expected string");
  }
  Handle space(check_h5_id(H5Aget_space(attr.get()), "H5Aget_space", what));
  const std::vector<std::int64_t> dims = extent_of(space.get(), what);
  if (dims.size() > 1) {
    throw HdfError(what + " has rank " + std::to_string(dims.size()) +
                   ", expected a string or a 1-D array of strings");
  }
  const hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
  if (npoints < 0) throw HdfError(what + ": H5Sget_simple_extent_npoints failed");
  const std::size_t count = static_cast<std::size_t>(npoints);
  std::vector<std::string> out;
  out.reserve(count);
  if (count == 0) return out;

  const htri_t variable = check_h5(H5Tis_variable_str(type.get()), "H5Tis_variable_str", what);
  const H5T_cset_t cset = H5Tget_cset(type.get());
  if (cset < 0) throw HdfError(what + ": H5Tget_cset failed");
  Handle memory_type(check_h5_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what));
  check_h5(H5Tset_cset(memory_type.get(), cset), "H5Tset_cset", what);
  if (variable > 0) {
    check_h5(H5Tset_size(memory_type.get(), H5T_VARIABLE), "H5Tset_size", what);
    std::vector<char*> pointers(count, nullptr);
    check_h5(H5Aread(attr.get(), memory_type.get(), pointers.data()), "H5Aread", what);
    try {
      for (char* p : pointers) out.emplace_back(p != nullptr ? p : "");
    } catch (...) {
      H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, pointers.data());
      throw;
    }
    check_h5(H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, pointers.data()),
             "H5Dvlen_reclaim", what);
  } else {
    const std::size_t size = H5Tget_size(type.get());
    const H5T_str_t pad = H5Tget_strpad(type.get());
    check_h5(H5Tset_size(memory_type.get(), size), "H5Tset_size", what);
    check_h5(H5Tset_strpad(memory_type.get(), pad == H5T_STR_ERROR ? H5T_STR_NULLPAD : pad),
             "H5Tset_strpad", what);
    std::vector<char> buffer(count * size, '\0');
    check_h5(H5Aread(attr.get(), memory_type.get(), buffer.data()), "H5Aread", what);
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

/// The optional `class_names` attribute of a dataset (empty when absent).
std::vector<std::string> read_class_names(hid_t dset, const std::string& fname,
                                          const std::string& dpath) {
  const htri_t present = check_h5(H5Aexists(dset, "class_names"), "H5Aexists(class_names)",
                                  fname + ": " + dpath);
  if (present <= 0) return {};
  return read_string_attribute(dset, "class_names", fname + ": " + dpath);
}

// ---------------------------------------------------------------------------
// The contract's datasets

struct EmbeddingShape {
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  bool float32 = false;
  DatasetInfo info;
};

const char* const kEmbeddings = "/embeddings";

EmbeddingShape validate_embeddings(hid_t file, const std::string& fname) {
  Handle dset = require_dataset(file, fname, kEmbeddings);
  EmbeddingShape shape;
  shape.info = describe(dset.get(), fname, kEmbeddings);
  const DatasetInfo& info = shape.info;
  if (info.dims.size() != 2) {
    throw HdfError(rank_message(fname, kEmbeddings, info.dims.size(), 2, "[N, d]"));
  }
  if (info.kind == ElementKind::Integer) {
    throw HdfError(fname + ": dataset /embeddings has type " + info.type_name +
                   ", expected float32 or float64 (integer embeddings are not accepted; "
                   "store them as float)");
  }
  if (info.kind != ElementKind::Float || (info.element_size != 4 && info.element_size != 8)) {
    throw HdfError(fname + ": dataset /embeddings has type " + info.type_name +
                   ", expected float32 or float64");
  }
  if (info.dims[0] < 1) {
    throw HdfError(fname + ": dataset /embeddings is empty (N = 0 rows, expected N >= 1)");
  }
  if (info.dims[1] < 1) {
    throw HdfError(fname + ": dataset /embeddings is empty (d = 0 columns, expected d >= 1)");
  }
  check_storage(dset.get(), fname, kEmbeddings, info);
  shape.rows = info.dims[0];
  shape.dim = info.dims[1];
  shape.float32 = info.element_size == 4;
  return shape;
}

/// Reads rows [begin, begin + count) x all columns of a [N, d] dataset into
/// `out` (already sized count x d). With `collective`, every rank must call;
/// `select` false makes this rank take part without reading anything.
std::string read_row_block(hid_t dset, const std::string& fname, const std::string& dpath,
                           std::int64_t begin, std::int64_t count, std::int64_t dim, bool select,
                           bool collective, hid_t memory_type, void* out) {
  const std::string what = fname + ": reading rows [" + std::to_string(begin) + ", " +
                           std::to_string(begin + count) + ") of " + dpath;
  Handle file_space(check_h5_id(H5Dget_space(dset), "H5Dget_space", what));
  Handle memory_space;
  if (select && count > 0) {
    const hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
    const hsize_t extent[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(dim)};
    check_h5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr),
             "H5Sselect_hyperslab", what);
    memory_space = Handle(check_h5_id(H5Screate_simple(2, extent, nullptr), "H5Screate_simple",
                                      what));
  } else {
    select = false;
    check_h5(H5Sselect_none(file_space.get()), "H5Sselect_none", what);
    const hsize_t one[2] = {1, static_cast<hsize_t>(dim)};
    memory_space = Handle(check_h5_id(H5Screate_simple(2, one, nullptr), "H5Screate_simple", what));
    check_h5(H5Sselect_none(memory_space.get()), "H5Sselect_none", what);
  }
  Handle dxpl(check_h5_id(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate(H5P_DATASET_XFER)", what));
  if (collective) {
    check_h5(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", what);
  }
  double dummy = 0.0;
  check_h5(H5Dread(dset, memory_type, memory_space.get(), file_space.get(), dxpl.get(),
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

/// Reads a rank-1 integer or float dataset of length n (n < 0: any length).
LabelColumn read_label_column(hid_t file, const std::string& fname, const std::string& name,
                              std::int64_t expected_rows) {
  const std::string dpath = "/labels/" + name;
  Handle dset = require_dataset(file, fname, dpath);
  const DatasetInfo info = describe(dset.get(), fname, dpath);
  if (info.dims.size() != 1) {
    throw HdfError(rank_message(fname, dpath, info.dims.size(), 1, "[N]"));
  }
  if (info.kind != ElementKind::Integer && info.kind != ElementKind::Float) {
    throw HdfError(fname + ": " + dpath + " has type " + info.type_name +
                   ", expected integer or float");
  }
  if (expected_rows >= 0 && info.dims[0] != expected_rows) {
    throw HdfError(length_message(fname, dpath, info.dims[0], expected_rows));
  }
  check_storage(dset.get(), fname, dpath, info);
  LabelColumn column;
  column.name = name;
  const std::size_t count = static_cast<std::size_t>(info.dims[0]);
  const std::string what = fname + ": dataset " + dpath;
  if (info.kind == ElementKind::Integer) {
    column.codes = read_all<std::int64_t>(dset.get(), H5T_NATIVE_INT64, count, what);
  } else {
    column.continuous = true;
    column.values = read_all<double>(dset.get(), H5T_NATIVE_DOUBLE, count, what);
  }
  column.class_names = read_class_names(dset.get(), fname, dpath);
  return column;
}

std::vector<std::int64_t> read_group_column(hid_t file, const std::string& fname,
                                            const std::string& name, std::int64_t expected_rows) {
  const std::string dpath = "/groups/" + name;
  Handle dset = require_dataset(file, fname, dpath);
  const DatasetInfo info = describe(dset.get(), fname, dpath);
  if (info.dims.size() != 1) {
    throw HdfError(rank_message(fname, dpath, info.dims.size(), 1, "[N]"));
  }
  if (info.kind != ElementKind::Integer) {
    throw HdfError(fname + ": " + dpath + " has type " + info.type_name + ", expected integer");
  }
  if (expected_rows >= 0 && info.dims[0] != expected_rows) {
    throw HdfError(length_message(fname, dpath, info.dims[0], expected_rows));
  }
  check_storage(dset.get(), fname, dpath, info);
  return read_all<std::int64_t>(dset.get(), H5T_NATIVE_INT64,
                                static_cast<std::size_t>(info.dims[0]),
                                fname + ": dataset " + dpath);
}

/// Reads /heads/<task>; expected_dim < 0 accepts any d.
core::ProbeHead read_head_impl(hid_t file, const std::string& fname, const std::string& task,
                               std::int64_t expected_dim, std::vector<std::string>* class_names) {
  const std::string wpath = "/heads/" + task + "/weight";
  const std::string bpath = "/heads/" + task + "/bias";
  if (!object_exists(file, fname, wpath)) {
    const std::vector<std::string> heads = group_members(file, fname, "/heads");
    throw HdfError(fname + ": head " + wpath + " is missing (" +
                   (heads.empty() ? std::string("no heads in file")
                                  : "heads in file: " + join(heads, ", ")) +
                   ")");
  }
  Handle weight_set = require_dataset(file, fname, wpath);
  const DatasetInfo winfo = describe(weight_set.get(), fname, wpath);
  if (winfo.dims.size() != 2) {
    throw HdfError(rank_message(fname, wpath, winfo.dims.size(), 2, "[C, d]"));
  }
  if (winfo.kind != ElementKind::Float) {
    throw HdfError(fname + ": " + wpath + " has type " + winfo.type_name + ", expected float");
  }
  const std::int64_t classes = winfo.dims[0];
  const std::int64_t dim = winfo.dims[1];
  if (classes < 1) {
    throw HdfError(fname + ": " + wpath + " has 0 rows, expected C >= 1 (one per class)");
  }
  if (expected_dim >= 0 && dim != expected_dim) {
    throw HdfError(fname + ": " + wpath + " has " + std::to_string(dim) +
                   " columns, expected d = " + std::to_string(expected_dim));
  }
  check_storage(weight_set.get(), fname, wpath, winfo);
  const std::vector<double> wdata =
      read_all<double>(weight_set.get(), H5T_NATIVE_DOUBLE,
                       static_cast<std::size_t>(classes) * static_cast<std::size_t>(dim),
                       fname + ": dataset " + wpath);
  for (double v : wdata) {
    if (!std::isfinite(v)) throw HdfError(fname + ": " + wpath + " contains NaN or Inf");
  }
  core::Matrix weight = Eigen::Map<const core::RowMatrix>(wdata.data(), classes, dim);

  core::Vector bias = core::Vector::Zero(classes);
  if (object_exists(file, fname, bpath)) {
    Handle bias_set = require_dataset(file, fname, bpath);
    const DatasetInfo binfo = describe(bias_set.get(), fname, bpath);
    if (binfo.dims.size() != 1) {
      throw HdfError(rank_message(fname, bpath, binfo.dims.size(), 1, "[C]"));
    }
    if (binfo.kind != ElementKind::Float) {
      throw HdfError(fname + ": " + bpath + " has type " + binfo.type_name + ", expected float");
    }
    if (binfo.dims[0] != classes) {
      throw HdfError(fname + ": " + bpath + " has " + std::to_string(binfo.dims[0]) +
                     " entries, expected C = " + std::to_string(classes) +
                     " (one per row of " + wpath + ")");
    }
    check_storage(bias_set.get(), fname, bpath, binfo);
    const std::vector<double> bdata =
        read_all<double>(bias_set.get(), H5T_NATIVE_DOUBLE, static_cast<std::size_t>(classes),
                         fname + ": dataset " + bpath);
    for (double v : bdata) {
      if (!std::isfinite(v)) throw HdfError(fname + ": " + bpath + " contains NaN or Inf");
    }
    bias = Eigen::Map<const core::Vector>(bdata.data(), classes);
  }

  core::ProbeHead head;
  if (classes == 1) {
    head = core::expand_binary_head(weight, bias);
  } else {
    head.weight = std::move(weight);
    head.bias = std::move(bias);
  }
  if (class_names != nullptr) {
    std::vector<std::string> names = read_class_names(weight_set.get(), fname, wpath);
    if (!names.empty() && static_cast<core::Index>(names.size()) != head.classes()) {
      throw HdfError(fname + ": attribute class_names of " + wpath + " has " +
                     std::to_string(names.size()) + " entries, expected " +
                     std::to_string(head.classes()) + " (one per class)");
    }
    *class_names = std::move(names);
  }
  return head;
}

std::string read_model_attribute(hid_t file, const std::string& fname) {
  const htri_t present = check_h5(H5Aexists(file, "model"), "H5Aexists(model)", fname + ": /");
  if (present <= 0) return {};
  const std::vector<std::string> values = read_string_attribute(file, "model", fname + ": /");
  if (values.size() != 1) {
    throw HdfError(fname + ": root attribute model has " + std::to_string(values.size()) +
                   " strings, expected one");
  }
  return values.front();
}

// ---------------------------------------------------------------------------
// inspect

std::string describe_line(hid_t file, const std::string& fname, const std::string& dpath) {
  Handle dset = require_dataset(file, fname, dpath);
  const DatasetInfo info = describe(dset.get(), fname, dpath);
  return info.type_name + " " + shape_text(info.dims);
}

void inspect_embeddings(hid_t file, const std::string& fname, std::ostream& out,
                        std::vector<std::string>& problems, std::int64_t& rows,
                        std::int64_t& dim) {
  rows = -1;
  dim = -1;
  EmbeddingShape shape;
  try {
    shape = validate_embeddings(file, fname);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
    out << "embeddings: ";
    try {
      out << (object_exists(file, fname, kEmbeddings) ? describe_line(file, fname, kEmbeddings)
                                                     : std::string("missing"));
    } catch (const std::exception&) {
      out << "unreadable";
    }
    out << " (unusable)\n";
    return;
  }
  rows = shape.rows;
  dim = shape.dim;
  out << "embeddings: N = " << rows << " rows, d = " << dim << " columns, "
      << shape.info.type_name << "\n";

  // Scan for non-finite values in bounded chunks of rows (about 8 MiB).
  try {
    Handle dset = require_dataset(file, fname, kEmbeddings);
    const std::int64_t chunk_rows =
        std::max<std::int64_t>(1, (std::int64_t{1} << 20) / std::max<std::int64_t>(1, dim));
    std::vector<double> buffer;
    std::int64_t bad_rows = 0;
    std::int64_t first_bad = -1;
    for (std::int64_t begin = 0; begin < rows; begin += chunk_rows) {
      const std::int64_t count = std::min(chunk_rows, rows - begin);
      buffer.resize(static_cast<std::size_t>(count * dim));
      read_row_block(dset.get(), fname, kEmbeddings, begin, count, dim, true, false,
                     H5T_NATIVE_DOUBLE, buffer.data());
      for (std::int64_t r = 0; r < count; ++r) {
        const double* row = buffer.data() + r * dim;
        for (std::int64_t c = 0; c < dim; ++c) {
          if (!std::isfinite(row[c])) {
            if (first_bad < 0) first_bad = begin + r;
            ++bad_rows;
            break;
          }
        }
      }
    }
    if (bad_rows > 0) {
      problems.push_back(fname + ": /embeddings has " + std::to_string(bad_rows) +
                         " row(s) containing NaN or Inf (first: row " +
                         std::to_string(first_bad) + ")");
    }
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
}

void inspect_heads(hid_t file, const std::string& fname, std::int64_t dim, std::ostream& out,
                   std::vector<std::string>& problems) {
  std::vector<std::string> tasks;
  try {
    tasks = group_members(file, fname, "/heads");
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "heads (" << tasks.size() << "):" << (tasks.empty() ? " none" : "") << "\n";
  for (const std::string& task : tasks) {
    const std::string wpath = "/heads/" + task + "/weight";
    const std::string bpath = "/heads/" + task + "/bias";
    out << "  " << task << ": ";
    try {
      if (!object_exists(file, fname, wpath)) {
        out << "no weight dataset\n";
        problems.push_back(fname + ": head /heads/" + task + " has no weight dataset " + wpath);
        continue;
      }
      out << "weight " << describe_line(file, fname, wpath);
      if (object_exists(file, fname, bpath)) {
        out << ", bias " << describe_line(file, fname, bpath);
      }
      std::vector<std::string> names;
      const core::ProbeHead head = read_head_impl(file, fname, task, dim, &names);
      out << ", " << head.classes() << " classes";
      if (!names.empty()) out << " (" << join(names, ", ") << ")";
      out << "\n";
    } catch (const std::exception& e) {
      out << " (unusable)\n";
      problems.emplace_back(e.what());
    }
  }
}

void inspect_labels(hid_t file, const std::string& fname, std::int64_t rows, std::ostream& out,
                    std::vector<std::string>& problems) {
  std::vector<std::string> names;
  try {
    names = group_members(file, fname, "/labels");
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "labels (" << names.size() << "):" << (names.empty() ? " none" : "") << "\n";
  for (const std::string& name : names) {
    const std::string dpath = "/labels/" + name;
    out << "  " << name << ": ";
    try {
      out << describe_line(file, fname, dpath);
      const LabelColumn column = read_label_column(file, fname, name, -1);
      const std::int64_t length = static_cast<std::int64_t>(
          column.continuous ? column.values.size() : column.codes.size());
      if (rows >= 0 && length != rows) {
        problems.push_back(length_message(fname, dpath, length, rows));
      }
      if (column.continuous) {
        double lo = std::numeric_limits<double>::infinity();
        double hi = -lo;
        std::int64_t missing = 0;
        std::int64_t infinite = 0;
        for (double v : column.values) {
          if (std::isnan(v)) {
            ++missing;
          } else if (std::isinf(v)) {
            ++infinite;
          } else {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
        }
        out << ", continuous";
        if (lo <= hi) out << ", min " << format_number(lo) << ", max " << format_number(hi);
        out << ", missing " << missing << "\n";
        if (infinite > 0) {
          problems.push_back(fname + ": " + dpath + " contains " + std::to_string(infinite) +
                             " infinite value(s) (use NaN for missing)");
        }
      } else {
        std::map<std::int64_t, std::int64_t> counts;
        std::int64_t missing = 0;
        std::int64_t below = 0;
        std::int64_t first_below = -1;
        for (std::size_t i = 0; i < column.codes.size(); ++i) {
          const std::int64_t v = column.codes[i];
          if (v == -1) {
            ++missing;
          } else if (v < -1) {
            if (below++ == 0) first_below = static_cast<std::int64_t>(i);
          } else {
            ++counts[v];
          }
        }
        out << ", " << counts.size() << " classes";
        if (!counts.empty()) {
          out << "; counts";
          std::size_t shown = 0;
          for (const auto& [code, n] : counts) {
            if (shown == 20) {
              out << ", ...";
              break;
            }
            out << (shown++ == 0 ? " " : ", ") << code;
            if (static_cast<std::size_t>(code) < column.class_names.size()) {
              out << " (" << column.class_names[static_cast<std::size_t>(code)] << ")";
            }
            out << ": " << n;
          }
        }
        out << "; missing " << missing;
        if (below > 0) out << "; out of range " << below;
        out << "\n";
        if (below > 0) {
          problems.push_back(fname + ": " + dpath + " has " + std::to_string(below) +
                             " value(s) below -1 (first at row " + std::to_string(first_below) +
                             ": " + std::to_string(column.codes[static_cast<std::size_t>(
                                        first_below)]) +
                             "); use -1 for missing");
        }
        if (!column.class_names.empty() && !counts.empty() &&
            counts.rbegin()->first >= static_cast<std::int64_t>(column.class_names.size())) {
          problems.push_back(fname + ": attribute class_names of " + dpath + " has " +
                             std::to_string(column.class_names.size()) +
                             " entries but the labels go up to " +
                             std::to_string(counts.rbegin()->first));
        }
      }
    } catch (const std::exception& e) {
      out << " (unusable)\n";
      problems.emplace_back(e.what());
    }
  }
}

void inspect_groups(hid_t file, const std::string& fname, std::int64_t rows, std::ostream& out,
                    std::vector<std::string>& problems) {
  std::vector<std::string> names;
  try {
    names = group_members(file, fname, "/groups");
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "groups (" << names.size() << "):" << (names.empty() ? " none" : "") << "\n";
  for (const std::string& name : names) {
    const std::string dpath = "/groups/" + name;
    out << "  " << name << ": ";
    try {
      out << describe_line(file, fname, dpath);
      const std::vector<std::int64_t> ids = read_group_column(file, fname, name, -1);
      const std::int64_t length = static_cast<std::int64_t>(ids.size());
      if (rows >= 0 && length != rows) {
        problems.push_back(length_message(fname, dpath, length, rows));
      }
      const std::unordered_set<std::int64_t> distinct(ids.begin(), ids.end());
      out << ", " << distinct.size() << " distinct groups\n";
    } catch (const std::exception& e) {
      out << " (unusable)\n";
      problems.emplace_back(e.what());
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// ModelFile

ModelFile::ModelFile(const std::string& path, const par::Communicator* comm,
                     bool require_embeddings)
    : path_(path), name_(display_name(path)), parallel_(comm != nullptr), comm_(comm) {
  agreed_step(comm, [&] { precheck_file(path_); });
  file_ = open_hdf5(path_, comm != nullptr ? comm->get() : MPI_COMM_NULL);
  if (!require_embeddings) return;
  EmbeddingShape shape;
  // On failure every rank throws, so the (collective) close of file_ happens
  // on all of them.
  agreed_step(comm, [&] { shape = validate_embeddings(file_.get(), name_); });
  has_embeddings_ = true;
  rows_ = shape.rows;
  dim_ = shape.dim;
  embeddings_float32_ = shape.float32;
}

std::string ModelFile::model_name() const {
  std::string name;
  try {
    name = read_model_attribute(file_.get(), name_);
  } catch (const HdfError&) {
    name.clear();  // not a usable string: fall back to the file name
  }
  if (name.empty()) name = std::filesystem::path(path_).stem().string();
  return name;
}

bool ModelFile::exists(const std::string& object_path) const {
  return object_exists(file_.get(), name_, object_path);
}

DatasetInfo ModelFile::info(const std::string& dataset_path) const {
  Handle dset = require_dataset(file_.get(), name_, dataset_path);
  return describe(dset.get(), name_, dataset_path);
}

std::vector<std::string> ModelFile::members(const std::string& group_path) const {
  return group_members(file_.get(), name_, group_path);
}

core::RowMatrix ModelFile::read_embeddings(const par::RowBlock& block, std::int64_t piece_bytes) const {
  // Every failure that can differ between ranks is deferred until after the
  // (collective) read so that no rank leaves the others waiting in it.
  if (!has_embeddings_) {
    throw HdfError(name_ + ": /embeddings was not opened (file opened for labels only)");
  }
  std::string deferred;
  const bool in_range = block.begin >= 0 && block.count >= 0 && block.begin <= rows_ &&
                        block.count <= rows_ - block.begin;
  core::RowMatrix out;
  if (!in_range) {
    deferred = name_ + ": /embeddings rows [" + std::to_string(block.begin) + ", " +
               std::to_string(block.begin + block.count) + ") are outside [0, " +
               std::to_string(rows_) + ")";
  } else {
    try {
      out.resize(block.count, dim_);
    } catch (const std::bad_alloc&) {
      deferred = name_ + ": cannot allocate " +
                 std::to_string(block.count * dim_ * static_cast<std::int64_t>(sizeof(double))) +
                 " bytes for rows [" + std::to_string(block.begin) + ", " +
                 std::to_string(block.end()) + ") of /embeddings";
    }
  }
  const bool select = deferred.empty() && block.count > 0;
  {
    Handle dset(check_h5_id(H5Dopen2(file_.get(), kEmbeddings, H5P_DEFAULT), "H5Dopen2",
                            name_ + ": dataset /embeddings"));
    // Pieces: the same number on every rank (from the largest block), so
    // ranks that run out of rows still take part in each collective read.
    const std::int64_t element = embeddings_float32_ ? 4 : 8;
    const std::int64_t piece_rows =
        std::max<std::int64_t>(1, piece_bytes / std::max<std::int64_t>(1, dim_ * element));
    const std::int64_t ranks = comm_ != nullptr ? comm_->size() : 1;
    const std::int64_t largest = comm_ != nullptr ? (rows_ + ranks - 1) / ranks : block.count;
    const std::int64_t pieces = std::max<std::int64_t>(1, (largest + piece_rows - 1) / piece_rows);
    std::vector<float> narrow;
    for (std::int64_t p = 0; p < pieces; ++p) {
      const std::int64_t first = p * piece_rows;
      const std::int64_t n = select ? std::max<std::int64_t>(0, std::min(piece_rows, block.count - first)) : 0;
      const bool take = n > 0;
      double* target = take ? out.data() + first * dim_ : nullptr;
      if (embeddings_float32_) {
        if (take) narrow.resize(static_cast<std::size_t>(n * dim_));
        last_read_mode_ = read_row_block(dset.get(), name_, kEmbeddings, take ? block.begin + first : 0,
                                         n, dim_, take, parallel_, H5T_NATIVE_FLOAT, narrow.data());
        for (std::int64_t i = 0; take && i < n * dim_; ++i) {
          target[i] = static_cast<double>(narrow[static_cast<std::size_t>(i)]);
        }
      } else {
        last_read_mode_ = read_row_block(dset.get(), name_, kEmbeddings, take ? block.begin + first : 0,
                                         n, dim_, take, parallel_, H5T_NATIVE_DOUBLE, target);
      }
    }
  }
  if (!deferred.empty()) throw HdfError(deferred);
  if (!out.allFinite()) {
    for (core::Index r = 0; r < out.rows(); ++r) {
      if (!out.row(r).allFinite()) {
        throw HdfError(name_ + ": /embeddings row " + std::to_string(block.begin + r) +
                       " contains NaN or Inf");
      }
    }
  }
  return out;
}

LabelColumn ModelFile::read_labels(const std::string& name, std::int64_t expected_rows) const {
  return read_label_column(file_.get(), name_, name, expected_rows);
}

std::vector<std::int64_t> ModelFile::read_groups(const std::string& name,
                                                 std::int64_t expected_rows) const {
  return read_group_column(file_.get(), name_, name, expected_rows);
}

core::ProbeHead ModelFile::read_head(const std::string& task, std::int64_t expected_dim,
                                     std::vector<std::string>* class_names) const {
  return read_head_impl(file_.get(), name_, task, expected_dim, class_names);
}

// ---------------------------------------------------------------------------
// inspect

int inspect_model_file(const std::string& path, std::string& report) {
  std::ostringstream out;
  std::vector<std::string> problems;
  try {
    out << "file: " << path << "\n";
    Handle file = open_file(path, MPI_COMM_NULL);
    const std::string fname = display_name(path);
    std::string name;
    try {
      name = read_model_attribute(file.get(), fname);
    } catch (const std::exception& e) {
      problems.emplace_back(e.what());
    }
    if (name.empty()) {
      out << "model: " << std::filesystem::path(path).stem().string()
          << " (from the file name; no root attribute model)\n";
    } else {
      out << "model: " << name << "\n";
    }
    std::int64_t rows = -1;
    std::int64_t dim = -1;
    inspect_embeddings(file.get(), fname, out, problems, rows, dim);
    inspect_heads(file.get(), fname, dim, out, problems);
    inspect_labels(file.get(), fname, rows, out, problems);
    inspect_groups(file.get(), fname, rows, out, problems);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  } catch (...) {
    problems.push_back(path + ": unexpected error while inspecting");
  }
  try {
    if (problems.empty()) {
      out << "problems: none\n";
    } else {
      out << "problems (" << problems.size() << "):\n";
      for (const std::string& p : problems) out << "  - " << p << "\n";
    }
    report = out.str();
  } catch (...) {
    report = path + ": out of memory while writing the report\n";
  }
  return static_cast<int>(std::min<std::size_t>(problems.size(),
                                                static_cast<std::size_t>(
                                                    std::numeric_limits<int>::max())));
}

}  // namespace wsc::io

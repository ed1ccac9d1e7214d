#pragma once
// The HDF5 object layer: an open file and the groups, datasets and
// attributes in it, reached by their paths. Built on the checked handles of
// hdf5_handles.hpp: the status of every HDF5 call is checked, and every
// failure is an HdfError naming the file (by its label: a path, or the file
// name alone) and the object, e.g.
//   "model.h5: dataset /labels/site is missing"
//   "model.h5: dataset /embeddings: H5Dread failed"
//   "model.h5: /heads/x/weight: attribute class_names has type int64, expected string"
// Paths are absolute ("/a/b"). exists() walks a path link by link, so asking
// about a missing object is an answer, not an HDF5 error.
#include "wsc/io/hdf5_handles.hpp"

#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wsc::io {

/// What the elements of a dataset are, as far as reading them goes. An enum
/// over an integer type (h5py's bool) counts as Integer.
enum class ElementKind { Integer, Float, String, Other };

/// The extent and element type of a dataset.
struct DatasetInfo {
  std::vector<std::int64_t> dims;
  ElementKind kind = ElementKind::Other;
  std::size_t element_size = 0;
  std::string type_name;  ///< e.g. "float32", "int64", "enum(int8)", "string"
};

/// Strings read from a file (names: classes, models, metadata): at most
/// kMaxStrings in one attribute or dataset (the class limit of a config)
/// and kMaxStringBytes bytes each. The count and a fixed length are checked
/// before anything is allocated, a variable length as each string is read.
inline constexpr std::size_t kMaxStrings = 65536;
inline constexpr std::size_t kMaxStringBytes = 4096;

/// "/a/b" for "a/b", "/a//b/" or "/a/b"; "/" for "" and "/".
std::string absolute_object_name(const std::string& path);

/// A variable-length UTF-8 string type (the type of every string we write).
Handle utf8_string_type(const std::string& what);

/// Checks that `path` is a readable HDF5 file, with the messages users see
/// ("<path>: cannot open: no such file", "<path>: not an HDF5 file", ...).
/// Keeps no HDF5 handle open.
void require_hdf5_file(const std::string& path);

class Hdf5Object;
class Hdf5Dataset;

/// An open HDF5 file. Moves, does not copy; closes when destroyed.
class Hdf5File {
 public:
  Hdf5File() = default;

  /// Opens `path` read-only, collective over `comm` (MPI-IO) unless it is
  /// MPI_COMM_NULL. A failure names `path` ("cannot open (truncated or
  /// damaged HDF5 file)", or the file is locked); later messages name the
  /// file by `label`. Call require_hdf5_file() first for the plainer reasons.
  static Hdf5File open_read_only(const std::string& path, const std::string& label,
                                 MPI_Comm comm = MPI_COMM_NULL);
  /// Creates (truncates) `path` for writing by this process alone; messages
  /// name the file by its path.
  static Hdf5File create(const std::string& path);

  bool is_open() const { return file_.valid(); }
  hid_t id() const { return file_.get(); }
  /// How messages name the file.
  const std::string& label() const { return label_; }

  // -- Objects -------------------------------------------------------------

  /// True when every component of `path` exists, each but the last is a
  /// group, and the last resolves to an object (not a dangling link). "/"
  /// exists.
  bool exists(const std::string& path) const;
  /// The type of the object at `path` (which must exist).
  H5O_type_t type(const std::string& path) const;
  /// Names of the members of group `path`, sorted; empty when it is absent.
  /// Throws "<file>: <path> is not a group" when it is something else.
  std::vector<std::string> members(const std::string& path) const;

  /// The root group (for its attributes).
  Hdf5Object root() const;
  /// Opens dataset `path`. Throws "<file>: dataset <path> is missing" or
  /// "<file>: <path> is not a dataset".
  Hdf5Dataset dataset(const std::string& path) const;

  // -- Writing -------------------------------------------------------------

  /// Creates the groups on the way to `path` (all components but the last)
  /// that do not exist yet. Throws "<file>: cannot create <path>: <prefix> is
  /// not a group" when one of them is something else.
  void create_parent_groups(const std::string& path);
  /// Opens group or dataset `path` ("/": the root), creating it as a group,
  /// with its parents, when absent.
  Hdf5Object open_or_create_group(const std::string& path);
  /// Creates dataset `path` of `file_type` and extent `dims` (its parents
  /// must exist), replacing any object of that name.
  Hdf5Dataset create_dataset(const std::string& path, hid_t file_type,
                             const std::vector<hsize_t>& dims);

  /// Flushes (so that a full disk is reported here, not in a destructor) and
  /// closes. Throws "<file>: writing <subject> failed (H5Fflush; disk full?)"
  /// or "<file>: closing <subject> failed (...)". Closing a closed file does
  /// nothing.
  void close(const std::string& subject);

 private:
  Hdf5File(Handle file, std::string label) : file_(std::move(file)), label_(std::move(label)) {}
  Handle file_;
  std::string label_;
};

/// An open group or dataset (or the root group), with the names its
/// messages use. Attributes are read and written through it.
class Hdf5Object {
 public:
  Hdf5Object(Handle object, std::string file_label, std::string path)
      : object_(std::move(object)), file_(std::move(file_label)), path_(std::move(path)) {}

  hid_t id() const { return object_.get(); }
  const std::string& path() const { return path_; }
  /// "<file>: <path>", how messages name the object.
  std::string where() const { return file_ + ": " + path_; }

  bool has_attribute(const std::string& name) const;
  /// A string attribute, scalar (one string) or 1-d, of fixed or variable
  /// length (space padding trimmed). Throws "<file>: <path>: attribute <name>
  /// has type <type>, expected string" and the like, and beyond kMaxStrings
  /// or kMaxStringBytes "... has 1000000 strings, at most 65536".
  std::vector<std::string> read_string_attribute(const std::string& name) const;
  /// A scalar numeric attribute, as double.
  double read_number_attribute(const std::string& name) const;

  /// Scalar attributes (variable-length UTF-8 strings, float64), and a 1-d
  /// string-list attribute; each replaces an attribute of that name.
  void write_attribute(const std::string& name, const std::string& value) const;
  void write_attribute(const std::string& name, double value) const;
  void write_attribute(const std::string& name, const std::vector<std::string>& values) const;

 protected:
  const std::string& file_label() const { return file_; }

 private:
  Handle object_;
  std::string file_;
  std::string path_;
};

/// An open dataset: its shape and type, whole reads converted to double,
/// int64 or strings, hyperslabs of rows, and writes.
class Hdf5Dataset : public Hdf5Object {
 public:
  using Hdf5Object::Hdf5Object;

  /// "<file>: dataset <path>", how messages about its contents name it.
  std::string what() const { return file_label() + ": dataset " + path(); }

  DatasetInfo info() const;
  /// Refuses a dataset whose storage cannot hold what `info` (its own)
  /// declares: never written, or cut short ("... declares 100 x 8 float32
  /// (3200 bytes) but holds only 0 bytes (unwritten or truncated)").
  void require_storage(const DatasetInfo& info) const;

  /// The whole dataset, any rank, row-major, converted by HDF5.
  std::vector<double> read_doubles() const;
  std::vector<std::int64_t> read_ints() const;
  /// A scalar or 1-d string dataset (fixed or variable length), within
  /// kMaxStrings and kMaxStringBytes.
  std::vector<std::string> read_strings() const;

  /// Reads rows [begin, begin + count) x all `cols` columns of this 2-d
  /// dataset into `out` (row-major, count x cols), in the memory type of
  /// `out`. With `collective`, a collective MPI-IO transfer: every rank of
  /// the file's communicator calls, a rank with count == 0 takes part reading
  /// nothing. Returns the transfer HDF5 reports: "collective", "independent"
  /// or "mixed"; "serial" when not collective.
  std::string read_rows(std::int64_t begin, std::int64_t count, std::int64_t cols,
                        bool collective, double* out) const;
  std::string read_rows(std::int64_t begin, std::int64_t count, std::int64_t cols,
                        bool collective, float* out) const;

  /// Writes the whole dataset from `data` (in `memory_type`; may be null
  /// when the dataset is empty).
  void write(hid_t memory_type, const void* data) const;

 private:
  std::string read_rows_as(std::int64_t begin, std::int64_t count, std::int64_t cols,
                           bool collective, hid_t memory_type, void* out) const;
};

}  // namespace wsc::io

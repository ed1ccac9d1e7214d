#pragma once
// The model file of the contract: /embeddings [N,d], /heads/<task>/weight
// [C,d] (+ optional bias [C]), /labels/<name> [N] (integer or float),
// /groups/<name> [N] (integer), root attribute `model`.
// Opened by every rank with MPI-IO; embeddings are read as collective
// hyperslabs, each rank its own contiguous block of rows.
#include "wsc/core/embedding_rows.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/types.hpp"
#include "wsc/io/hdf5_object.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace wsc::io {

/// The paths of the contract.
namespace model_h5 {
inline constexpr char kEmbeddings[] = "/embeddings";
inline constexpr char kHeads[] = "/heads";
inline constexpr char kLabels[] = "/labels";
inline constexpr char kGroups[] = "/groups";
/// Root attribute: the model's name.
inline constexpr char kModelAttribute[] = "model";
/// Optional string-list attribute of a head's weight and of a labels dataset.
inline constexpr char kClassNamesAttribute[] = "class_names";
inline std::string head(const std::string& task) { return std::string(kHeads) + "/" + task; }
inline std::string head_weight(const std::string& task) { return head(task) + "/weight"; }
inline std::string head_bias(const std::string& task) { return head(task) + "/bias"; }
inline std::string labels(const std::string& name) { return std::string(kLabels) + "/" + name; }
inline std::string groups(const std::string& name) { return std::string(kGroups) + "/" + name; }
/// Declared shapes beyond these are refused before anything is read: the
/// classes of a head (as metadata bins and classes in a config) and the
/// levels of a block tree.
inline constexpr std::int64_t kMaxHeadClasses = 65536;
inline constexpr std::int64_t kMaxTreeLevels = 64;
}  // namespace model_h5

/// The shape of /embeddings, validated.
struct EmbeddingsShape {
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  bool float32 = false;
  DatasetInfo info;
};

/// One labels dataset, whole (every rank holds all N entries).
struct LabelColumn {
  std::string name;
  bool continuous = false;           ///< stored as float
  std::vector<std::int64_t> codes;   ///< integer datasets: values as stored (-1 missing)
  std::vector<double> values;        ///< float datasets: values (NaN missing)
  std::vector<std::string> class_names;  ///< optional attribute `class_names`
};

class ModelFile {
 public:
  /// Opens read-only. With a communicator: MPI-IO, collective over it.
  /// Without (nullptr): plain POSIX access from this process alone.
  /// Throws HdfError naming the file when it is missing, not HDF5, or truncated.
  /// With require_embeddings == false (a separate labels file) /embeddings is
  /// neither required nor validated: rows() and dim() are then 0 and
  /// read_embeddings() throws.
  ModelFile(const std::string& path, const par::Communicator* comm,
            bool require_embeddings = true);

  const std::string& path() const { return path_; }
  /// How messages name the file: its name without the directory.
  const std::string& file_name() const { return file_.label(); }
  /// Root attribute `model`, or the file name's stem.
  std::string model_name() const;
  /// Root attribute `model`; empty when absent. Throws when it is not one
  /// string.
  std::string model_attribute() const;

  bool exists(const std::string& object_path) const;
  /// Throws "<file>: dataset <path> is missing" when absent.
  DatasetInfo info(const std::string& dataset_path) const;
  /// Member names of a group ("/labels", "/heads", "/groups"); empty if absent.
  std::vector<std::string> members(const std::string& group_path) const;

  /// Validates /embeddings (what opening checks): rank 2, float32/float64,
  /// N >= 1, d >= 1, storage for all of it. Throws naming the problem.
  EmbeddingsShape check_embeddings() const;

  /// Shape of /embeddings, validated: rank 2, float32/float64, N >= 1, d >= 1.
  std::int64_t rows() const { return rows_; }
  std::int64_t dim() const { return dim_; }
  bool embeddings_float32() const { return embeddings_float32_; }

  /// The default size of one piece of an embeddings read.
  static constexpr std::int64_t kEmbeddingPieceBytes = std::int64_t{1} << 28;
  /// Called after each piece of an embeddings read: pieces done, of total.
  using PieceRead = std::function<void(std::int64_t done, std::int64_t total)>;

  /// Reads rows [block.begin, block.end()) of /embeddings as doubles.
  /// Collective when opened with a communicator (every rank must call, an
  /// empty block is fine). Rows are read in the file's own float type (so
  /// HDF5 needs no type conversion, which would turn collective I/O off) in
  /// pieces of at most `piece_bytes`, and widened to double in memory.
  /// `piece_read(done, total)`, when given, is called on every rank after
  /// each piece (every rank reads the same number of pieces).
  core::RowMatrix read_embeddings(const par::RowBlock& block,
                                  std::int64_t piece_bytes = kEmbeddingPieceBytes,
                                  const PieceRead& piece_read = {}) const;

  /// The same rows at the file's precision: float32 rows stay float (no
  /// widened copy), float64 rows double. What an analysis holds.
  core::EmbeddingRows read_rows(const par::RowBlock& block, std::int64_t piece_bytes = kEmbeddingPieceBytes,
                                const PieceRead& piece_read = {}) const;

  /// How the last read_embeddings() was done, as HDF5 reports it (the
  /// mode of the last piece): "collective", "independent", "mixed" or
  /// "serial" (file opened without a communicator).
  const std::string& last_read_mode() const { return last_read_mode_; }

  /// Reads /labels/<name>: rank 1, length N, integer or float. Throws naming
  /// the dataset on a wrong type, rank or length (expected_rows < 0: any).
  LabelColumn read_labels(const std::string& name, std::int64_t expected_rows) const;

  /// Reads /groups/<name>: rank 1, length N, integer (expected_rows < 0: any).
  std::vector<std::int64_t> read_groups(const std::string& name, std::int64_t expected_rows) const;

  /// Reads /groups/<name> as a block tree (FSL PALM's -eb layout): rank 2,
  /// [N, L] with 1 <= L <= kMaxTreeLevels columns, integer; row-major ids, L in `levels`.
  std::vector<std::int64_t> read_group_levels(const std::string& name, std::int64_t expected_rows,
                                              std::int64_t& levels) const;

  /// Reads /heads/<task>: weight [C, d] (or [1, d], expanded to the two-class
  /// head), optional bias [C]; checks d (expected_dim < 0: any), C <=
  /// kMaxHeadClasses and the bias's C before reading anything, and
  /// finiteness. Class names from the weight's optional `class_names`
  /// attribute.
  core::ProbeHead read_head(const std::string& task, std::int64_t expected_dim,
                            std::vector<std::string>* class_names) const;

  /// The file's objects, for what the contract's readers do not cover.
  const Hdf5File& hdf5() const { return file_; }

  /// Whole reads (labels, groups, heads) declaring more bytes than this, at
  /// 8 bytes per value, are refused before anything is allocated: "<file>:
  /// <dataset> declares <shape> (<b> bytes), more than the <limit> bytes
  /// available". Default: what an address space could ever hold
  /// (2^47); `wsc inspect` sets the memory this machine has available.
  void set_memory_limit(std::int64_t bytes) { memory_limit_ = bytes; }
  std::int64_t memory_limit() const { return memory_limit_; }

 private:
  template <typename T>
  core::EmbeddingRows read_rows_as(const par::RowBlock& block, std::int64_t piece_bytes,
                                   const PieceRead& piece_read) const;

  std::string path_;
  bool parallel_ = false;
  bool has_embeddings_ = false;
  Hdf5File file_;
  std::int64_t rows_ = 0;
  std::int64_t dim_ = 0;
  bool embeddings_float32_ = false;
  const par::Communicator* comm_ = nullptr;
  mutable std::string last_read_mode_ = "none";
  std::int64_t memory_limit_ = std::int64_t{1} << 47;
};

/// "[d0, d1, ...]".
std::string shape_text(const std::vector<std::int64_t>& dims);

/// Throws HdfError "<file>: <dataset> declares <shape> (<b> bytes), more than
/// the <limit> bytes available" when reading all of `dims` at
/// `value_bytes` bytes per value would need more than `limit` bytes.
void require_memory_for(const std::string& file, const std::string& dataset,
                        const std::vector<std::int64_t>& dims, std::int64_t value_bytes,
                        std::int64_t limit);

/// "<file>: <dataset> has <got> entries, expected <expected> (one per
/// embedding row)".
std::string row_count_message(const std::string& file, const std::string& dataset,
                              std::int64_t got, std::int64_t expected);

}  // namespace wsc::io

// The model file: validated, sharded reads of embeddings, whole reads of
// labels, groups and heads, all through the HDF5 object layer.
#include "wsc/io/model_file.hpp"
#include "wsc/io/text_output.hpp"

#include "wsc/core/checked.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <new>
#include <optional>
#include <utility>

namespace wsc::io {
namespace {

/// The name used in messages: the file name without its directory.
std::string display_name(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  return name.empty() ? path : name;
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

std::string rank_message(const std::string& fname, const std::string& dpath, std::size_t rank,
                         int expected, const char* shape) {
  return fname + ": dataset " + dpath + " has rank " + std::to_string(rank) + ", expected " +
         std::to_string(expected) + " (" + shape + ")";
}

/// The optional `class_names` attribute of a dataset (empty when absent).
std::vector<std::string> read_class_names(const Hdf5Dataset& dset) {
  if (!dset.has_attribute(model_h5::kClassNamesAttribute)) return {};
  return dset.read_string_attribute(model_h5::kClassNamesAttribute);
}

/// Opens a rank-1 dataset of the contract and checks its element kind (one
/// of `kinds`, else "<file>: <path> has type <t>, expected <expected>"), its
/// length (unless expected_rows < 0), that it fits in `memory_limit` bytes
/// and its storage.
Hdf5Dataset open_column(const Hdf5File& file, const std::string& dpath,
                        std::int64_t expected_rows, bool accept_float, std::int64_t memory_limit,
                        DatasetInfo& info) {
  Hdf5Dataset dset = file.dataset(dpath);
  const std::string& fname = file.label();
  info = dset.info();
  if (info.dims.size() != 1) {
    throw HdfError(rank_message(fname, dpath, info.dims.size(), 1, "[N]"));
  }
  const bool accepted =
      info.kind == ElementKind::Integer || (accept_float && info.kind == ElementKind::Float);
  if (!accepted) {
    throw HdfError(fname + ": " + dpath + " has type " + info.type_name + ", expected " +
                   (accept_float ? "integer or float" : "integer"));
  }
  if (expected_rows >= 0 && info.dims[0] != expected_rows) {
    throw HdfError(row_count_message(fname, dpath, info.dims[0], expected_rows));
  }
  require_memory_for(fname, dpath, info.dims, 8, memory_limit);
  dset.require_storage(info);
  return dset;
}

/// Reads a float dataset, refusing NaN and Inf.
std::vector<double> read_finite(const Hdf5Dataset& dset, const std::string& fname,
                                const std::string& dpath) {
  std::vector<double> values = dset.read_doubles();
  for (double v : values) {
    if (!std::isfinite(v)) throw HdfError(fname + ": " + dpath + " contains NaN or Inf");
  }
  return values;
}

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

void require_memory_for(const std::string& file, const std::string& dataset,
                        const std::vector<std::int64_t>& dims, std::int64_t value_bytes,
                        std::int64_t limit) {
  std::optional<std::int64_t> bytes = value_bytes;
  for (const std::int64_t n : dims) bytes = bytes ? core::checked_mul(*bytes, n) : std::nullopt;
  if (bytes && *bytes <= limit) return;
  throw HdfError(file + ": " + dataset + " declares " + shape_text(dims) + " (" +
                 (bytes ? std::to_string(*bytes) + " bytes" : std::string("more than 2^63 bytes")) +
                 "), more than the " + std::to_string(limit) + " bytes available");
}

std::string row_count_message(const std::string& file, const std::string& dataset,
                              std::int64_t got, std::int64_t expected) {
  return file + ": " + dataset + " has " + std::to_string(got) + " entries, expected " +
         std::to_string(expected) + " (one per embedding row)";
}

// ---------------------------------------------------------------------------
// Opening

ModelFile::ModelFile(const std::string& path, const par::Communicator* comm,
                     bool require_embeddings)
    : path_(path), parallel_(comm != nullptr), comm_(comm) {
  agreed_step(comm, [&] { require_hdf5_file(path_); });
  file_ = Hdf5File::open_read_only(path_, display_name(path_),
                                   comm != nullptr ? comm->get() : MPI_COMM_NULL);
  if (!require_embeddings) return;
  EmbeddingsShape shape;
  // On failure every rank throws, so the (collective) close of file_ happens
  // on all of them.
  agreed_step(comm, [&] { shape = check_embeddings(); });
  has_embeddings_ = true;
  rows_ = shape.rows;
  dim_ = shape.dim;
  embeddings_float32_ = shape.float32;
}

EmbeddingsShape ModelFile::check_embeddings() const {
  const std::string& fname = file_name();
  const std::string dpath = model_h5::kEmbeddings;
  const Hdf5Dataset dset = file_.dataset(dpath);
  EmbeddingsShape shape;
  shape.info = dset.info();
  const DatasetInfo& info = shape.info;
  if (info.dims.size() != 2) {
    throw HdfError(rank_message(fname, dpath, info.dims.size(), 2, "[N, d]"));
  }
  if (info.kind == ElementKind::Integer) {
    throw HdfError(fname + ": dataset " + dpath + " has type " + info.type_name +
                   ", expected float32 or float64 (integer embeddings are not accepted; "
                   "store them as float)");
  }
  if (info.kind != ElementKind::Float || (info.element_size != 4 && info.element_size != 8)) {
    throw HdfError(fname + ": dataset " + dpath + " has type " + info.type_name +
                   ", expected float32 or float64");
  }
  if (info.dims[0] < 1) {
    throw HdfError(fname + ": dataset " + dpath + " is empty (N = 0 rows, expected N >= 1)");
  }
  if (info.dims[1] < 1) {
    throw HdfError(fname + ": dataset " + dpath + " is empty (d = 0 columns, expected d >= 1)");
  }
  dset.require_storage(info);
  shape.rows = info.dims[0];
  shape.dim = info.dims[1];
  shape.float32 = info.element_size == 4;
  return shape;
}

// ---------------------------------------------------------------------------
// Names and objects

std::string ModelFile::model_attribute() const {
  const Hdf5Object root = file_.root();
  if (!root.has_attribute(model_h5::kModelAttribute)) return {};
  const std::vector<std::string> values = root.read_string_attribute(model_h5::kModelAttribute);
  if (values.size() != 1) {
    throw HdfError(file_name() + ": root attribute " + model_h5::kModelAttribute + " has " +
                   std::to_string(values.size()) + " strings, expected one");
  }
  return values.front();
}

std::string ModelFile::model_name() const {
  std::string name;
  try {
    name = model_attribute();
  } catch (const HdfError&) {
    name.clear();  // not a usable string: fall back to the file name
  }
  if (name.empty()) name = std::filesystem::path(path_).stem().string();
  return name;
}

bool ModelFile::exists(const std::string& object_path) const { return file_.exists(object_path); }

DatasetInfo ModelFile::info(const std::string& dataset_path) const {
  return file_.dataset(dataset_path).info();
}

std::vector<std::string> ModelFile::members(const std::string& group_path) const {
  return file_.members(group_path);
}

// ---------------------------------------------------------------------------
// Embeddings

core::RowMatrix ModelFile::read_embeddings(const par::RowBlock& block, std::int64_t piece_bytes,
                                           const PieceRead& piece_read) const {
  core::EmbeddingRows rows = read_rows(block, piece_bytes, piece_read);
  if (!rows.is_float()) return rows.doubles();
  return rows.floats().cast<double>();
}

core::EmbeddingRows ModelFile::read_rows(const par::RowBlock& block, std::int64_t piece_bytes,
                                        const PieceRead& piece_read) const {
  if (embeddings_float32_) return read_rows_as<float>(block, piece_bytes, piece_read);
  return read_rows_as<double>(block, piece_bytes, piece_read);
}

template <typename T>
core::EmbeddingRows ModelFile::read_rows_as(const par::RowBlock& block, std::int64_t piece_bytes,
                                           const PieceRead& piece_read) const {
  using Rows = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  // Every failure that can differ between ranks is deferred until after the
  // (collective) read so that no rank leaves the others waiting in it.
  if (!has_embeddings_) {
    throw HdfError(file_name() + ": " + model_h5::kEmbeddings +
                   " was not opened (file opened for labels only)");
  }
  const std::string& name = file_name();
  std::string deferred;
  const bool in_range = block.begin >= 0 && block.count >= 0 && block.begin <= rows_ &&
                        block.count <= rows_ - block.begin;
  Rows out;
  if (!in_range) {
    deferred = name + ": /embeddings rows [" + std::to_string(block.begin) + ", " +
               std::to_string(block.begin + block.count) + ") are outside [0, " +
               std::to_string(rows_) + ")";
  } else {
    try {
      out.resize(block.count, dim_);
    } catch (const std::bad_alloc&) {
      deferred = name + ": cannot allocate " +
                 std::to_string(block.count * dim_ * static_cast<std::int64_t>(sizeof(T))) +
                 " bytes for rows [" + std::to_string(block.begin) + ", " +
                 std::to_string(block.end()) + ") of /embeddings";
    }
  }
  const bool select = deferred.empty() && block.count > 0;
  {
    const Hdf5Dataset dset = file_.dataset(model_h5::kEmbeddings);
    // Pieces: the same number on every rank (from the largest block, which
    // is all N rows when ranks hold the rows replicated), so ranks that run
    // out of rows still take part in each collective read. Rows are read in
    // the file's own type (no HDF5 conversion, which would turn collective
    // I/O off) straight into their place.
    const std::int64_t piece_rows =
        std::max<std::int64_t>(1, piece_bytes / std::max<std::int64_t>(1, dim_ * static_cast<std::int64_t>(sizeof(T))));
    const std::int64_t mine = select ? block.count : 0;
    const std::int64_t largest = comm_ != nullptr ? comm_->max(mine) : mine;
    const std::int64_t pieces = std::max<std::int64_t>(1, (largest + piece_rows - 1) / piece_rows);
    for (std::int64_t p = 0; p < pieces; ++p) {
      const std::int64_t first = p * piece_rows;
      const std::int64_t n = select ? std::max<std::int64_t>(0, std::min(piece_rows, block.count - first)) : 0;
      const bool take = n > 0;
      const std::int64_t begin = take ? block.begin + first : 0;
      T* target = take ? out.data() + first * dim_ : nullptr;
      last_read_mode_ = dset.read_rows(begin, n, dim_, parallel_, target);
      if (piece_read) piece_read(p + 1, pieces);
    }
  }
  if (!deferred.empty()) throw HdfError(deferred);
  // A plain loop: Eigen's allFinite() took 2.3 s on 500000 x 256 doubles,
  // this 0.06 s.
  const T* const values = out.data();
  const auto size = static_cast<std::int64_t>(out.size());
  for (std::int64_t i = 0; i < size; ++i) {
    if (!std::isfinite(values[i])) {
      throw HdfError(name + ": /embeddings row " + std::to_string(block.begin + i / dim_) +
                     " contains NaN or Inf");
    }
  }
  return core::EmbeddingRows(std::move(out));
}

// ---------------------------------------------------------------------------
// Labels, groups, heads

LabelColumn ModelFile::read_labels(const std::string& name, std::int64_t expected_rows) const {
  DatasetInfo info;
  const Hdf5Dataset dset =
      open_column(file_, model_h5::labels(name), expected_rows, /*accept_float=*/true, memory_limit_, info);
  LabelColumn column;
  column.name = name;
  if (info.kind == ElementKind::Integer) {
    column.codes = dset.read_ints();
  } else {
    column.continuous = true;
    column.values = dset.read_doubles();
  }
  column.class_names = read_class_names(dset);
  return column;
}

std::vector<std::int64_t> ModelFile::read_groups(const std::string& name,
                                                 std::int64_t expected_rows) const {
  DatasetInfo info;
  return open_column(file_, model_h5::groups(name), expected_rows, /*accept_float=*/false, memory_limit_, info)
      .read_ints();
}

std::vector<std::int64_t> ModelFile::read_group_levels(const std::string& name, std::int64_t expected_rows,
                                                       std::int64_t& levels) const {
  const std::string dpath = model_h5::groups(name);
  const std::string& fname = file_.label();
  const Hdf5Dataset dset = file_.dataset(dpath);
  const DatasetInfo info = dset.info();
  if (info.dims.size() != 2) throw HdfError(rank_message(fname, dpath, info.dims.size(), 2, "[N, L]"));
  if (info.kind != ElementKind::Integer) {
    throw HdfError(fname + ": " + dpath + " has type " + info.type_name + ", expected integer");
  }
  if (expected_rows >= 0 && info.dims[0] != expected_rows) {
    throw HdfError(row_count_message(fname, dpath, info.dims[0], expected_rows));
  }
  if (info.dims[1] < 1) throw HdfError(fname + ": " + dpath + " has 0 columns, expected L >= 1 (one per level)");
  if (info.dims[1] > model_h5::kMaxTreeLevels) {
    throw HdfError(fname + ": " + dpath + " declares " + std::to_string(info.dims[1]) + " levels, at most " +
                   std::to_string(model_h5::kMaxTreeLevels));
  }
  require_memory_for(fname, dpath, info.dims, 8, memory_limit_);
  dset.require_storage(info);
  levels = info.dims[1];
  return dset.read_ints();
}

core::ProbeHead ModelFile::read_head(const std::string& task, std::int64_t expected_dim,
                                     std::vector<std::string>* class_names) const {
  const std::string& fname = file_name();
  const std::string wpath = model_h5::head_weight(task);
  const std::string bpath = model_h5::head_bias(task);
  if (!file_.exists(wpath)) {
    const std::vector<std::string> heads = file_.members(model_h5::kHeads);
    throw HdfError(fname + ": head " + wpath + " is missing (" +
                   (heads.empty() ? std::string("no heads in file")
                                  : "heads in file: " + join(heads, ", ")) +
                   ")");
  }
  const Hdf5Dataset weight_set = file_.dataset(wpath);
  const DatasetInfo winfo = weight_set.info();
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
  if (classes > model_h5::kMaxHeadClasses) {
    throw HdfError(fname + ": " + wpath + " declares " + std::to_string(classes) + " rows (classes), at most " +
                   std::to_string(model_h5::kMaxHeadClasses));
  }
  require_memory_for(fname, wpath, winfo.dims, 8, memory_limit_);
  // Both shapes are checked before either dataset is read.
  std::optional<Hdf5Dataset> bias_set;
  if (file_.exists(bpath)) {
    bias_set.emplace(file_.dataset(bpath));
    const DatasetInfo binfo = bias_set->info();
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
    bias_set->require_storage(binfo);
  }
  weight_set.require_storage(winfo);
  const std::vector<double> wdata = read_finite(weight_set, fname, wpath);
  core::Matrix weight = Eigen::Map<const core::RowMatrix>(wdata.data(), classes, dim);
  core::Vector bias = core::Vector::Zero(classes);
  if (bias_set) {
    const std::vector<double> bdata = read_finite(*bias_set, fname, bpath);
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
    std::vector<std::string> names = read_class_names(weight_set);
    if (!names.empty() && static_cast<core::Index>(names.size()) != head.classes()) {
      throw HdfError(fname + ": attribute " + model_h5::kClassNamesAttribute + " of " + wpath +
                     " has " + std::to_string(names.size()) + " entries, expected " +
                     std::to_string(head.classes()) + " (one per class)");
    }
    *class_names = std::move(names);
  }
  return head;
}

}  // namespace wsc::io

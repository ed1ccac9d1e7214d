#pragma once
// The embedding rows of one participant at the precision they were stored
// in: a float32 file stays float32 in memory, a float64 file double. The
// numerical passes visit the rows in tiles and convert one tile at a time to
// the precision they compute in, so no widened copy of all rows exists.
#include "wsc/core/types.hpp"

#include <cstddef>
#include <utility>

namespace wsc::core {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Owning: the rows in float or in double.
class EmbeddingRows {
 public:
  EmbeddingRows() = default;
  EmbeddingRows(RowMatrix x) : doubles_(std::move(x)) {}  // NOLINT: implicit on purpose
  EmbeddingRows(RowMatrixF x) : floats_(std::move(x)), is_float_(true) {}  // NOLINT

  bool is_float() const { return is_float_; }
  Index rows() const { return is_float_ ? floats_.rows() : doubles_.rows(); }
  Index cols() const { return is_float_ ? floats_.cols() : doubles_.cols(); }
  const RowMatrix& doubles() const { return doubles_; }
  const RowMatrixF& floats() const { return floats_; }
  /// Bytes of the stored rows.
  std::size_t bytes() const {
    return static_cast<std::size_t>(rows()) * static_cast<std::size_t>(cols()) *
           (is_float_ ? sizeof(float) : sizeof(double));
  }

 private:
  RowMatrix doubles_;
  RowMatrixF floats_;
  bool is_float_ = false;
};

/// Non-owning view of rows stored in float or double, read in tiles.
class RowsView {
 public:
  RowsView(const RowMatrix& x)  // NOLINT: implicit, every solver argument is a view
      : doubles_(x.data()), rows_(x.rows()), cols_(x.cols()) {}
  RowsView(const RowMatrixF& x)  // NOLINT
      : floats_(x.data()), rows_(x.rows()), cols_(x.cols()) {}
  RowsView(const EmbeddingRows& x)  // NOLINT
      : doubles_(x.is_float() ? nullptr : x.doubles().data()),
        floats_(x.is_float() ? x.floats().data() : nullptr),
        rows_(x.rows()),
        cols_(x.cols()) {}

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  bool is_float() const { return floats_ != nullptr; }

  /// Rows [begin, begin + count) in double: the stored rows themselves when
  /// they are double, else widened (exactly) into `scratch`.
  Eigen::Map<const RowMatrix> doubles(Index begin, Index count, RowMatrix& scratch) const {
    if (!is_float()) return Eigen::Map<const RowMatrix>(doubles_ + begin * cols_, count, cols_);
    scratch = Eigen::Map<const RowMatrixF>(floats_ + begin * cols_, count, cols_).cast<double>();
    return Eigen::Map<const RowMatrix>(scratch.data(), count, cols_);
  }

  /// Rows [begin, begin + count) minus `centre` (d), computed in double and
  /// rounded to float, into `out`: a large common offset of the features
  /// does not cost float digits.
  void centred_floats(Index begin, Index count, const Vector& centre, RowMatrixF& out) const {
    out.resize(count, cols_);
    if (is_float()) {
      out = (Eigen::Map<const RowMatrixF>(floats_ + begin * cols_, count, cols_).cast<double>().rowwise() -
             centre.transpose())
                .cast<float>();
    } else {
      out = (Eigen::Map<const RowMatrix>(doubles_ + begin * cols_, count, cols_).rowwise() - centre.transpose())
                .cast<float>();
    }
  }

 private:
  const double* doubles_ = nullptr;
  const float* floats_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
};

/// Rows per tile of the solver's passes for dimension d: about 1 MiB of
/// double rows (at least 64, at most 2048 rows), so a tile and the products
/// made from it stay in the cache while a batch of heads goes over it.
inline Index tile_rows(Index d) {
  const Index target = (Index{1} << 20) / (8 * (d > 0 ? d : 1));
  return target < 64 ? 64 : (target > 2048 ? 2048 : target);
}

/// Calls f(begin, count) for consecutive tiles of `tile` rows covering [0, rows).
template <typename F>
void for_each_tile(Index rows, Index tile, F&& f) {
  for (Index begin = 0; begin < rows; begin += tile) f(begin, rows - begin < tile ? rows - begin : tile);
}

}  // namespace wsc::core

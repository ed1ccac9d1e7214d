#pragma once
// The cells of a WSC analysis in their one order: metadata task t, then
// primary class i, then metadata class j (wsc.csv's rows, the columns of the
// null and bootstrap matrices, RunState's per-cell vectors). Every loop over
// cells goes through this type.
#include "wsc/core/types.hpp"

#include <cstddef>
#include <utility>
#include <vector>

namespace wsc::engine {

struct Cell {
  std::size_t task = 0;   ///< metadata task t
  core::Index i = 0;      ///< primary class
  core::Index j = 0;      ///< metadata class
  std::size_t index = 0;  ///< position in the flat order
};

class CellIndex {
 public:
  CellIndex() = default;
  /// One (primary classes, metadata classes) shape per metadata task.
  explicit CellIndex(std::vector<std::pair<core::Index, core::Index>> shapes);
  /// The shapes of anything with a `cos` matrix (TaskResult).
  template <typename Task>
  static CellIndex of_tasks(const std::vector<Task>& tasks) {
    std::vector<std::pair<core::Index, core::Index>> shapes;
    for (const Task& t : tasks) shapes.emplace_back(t.cos.rows(), t.cos.cols());
    return CellIndex(std::move(shapes));
  }

  std::size_t size() const { return offsets_.empty() ? 0 : offsets_.back(); }
  std::size_t tasks() const { return shapes_.size(); }
  /// Cells of task t occupy [begin(t), end(t)).
  std::size_t begin(std::size_t t) const { return offsets_[t]; }
  std::size_t end(std::size_t t) const { return offsets_[t + 1]; }
  core::Index primary_classes(std::size_t t) const { return shapes_[t].first; }
  core::Index metadata_classes(std::size_t t) const { return shapes_[t].second; }
  std::size_t at(std::size_t t, core::Index i, core::Index j) const {
    return offsets_[t] + static_cast<std::size_t>(i * shapes_[t].second + j);
  }

  /// f(Cell) for every cell of task t, in order.
  template <typename F>
  void for_each_in(std::size_t t, F&& f) const {
    std::size_t index = offsets_[t];
    for (core::Index i = 0; i < shapes_[t].first; ++i) {
      for (core::Index j = 0; j < shapes_[t].second; ++j) f(Cell{t, i, j, index++});
    }
  }
  /// f(Cell) for every cell, in order.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t t = 0; t < shapes_.size(); ++t) for_each_in(t, f);
  }

  /// The flat values of task t as a C_A x C_m matrix.
  core::Matrix task_matrix(std::size_t t, const std::vector<double>& flat) const;

 private:
  std::vector<std::pair<core::Index, core::Index>> shapes_;
  std::vector<std::size_t> offsets_{0};
};

}  // namespace wsc::engine

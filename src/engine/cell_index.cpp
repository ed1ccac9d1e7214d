#include "wsc/engine/cell_index.hpp"

namespace wsc::engine {

CellIndex::CellIndex(std::vector<std::pair<core::Index, core::Index>> shapes) : shapes_(std::move(shapes)) {
  offsets_.reserve(shapes_.size() + 1);
  for (const auto& [rows, cols] : shapes_) offsets_.push_back(offsets_.back() + static_cast<std::size_t>(rows * cols));
}

core::Matrix CellIndex::task_matrix(std::size_t t, const std::vector<double>& flat) const {
  core::Matrix m(shapes_[t].first, shapes_[t].second);
  for_each_in(t, [&](const Cell& c) { m(c.i, c.j) = flat[c.index]; });
  return m;
}

}  // namespace wsc::engine

#pragma once
// Held-out evaluation of a task's heads over a group's rows (private to the
// engine): fold assignment, training labels of a fold, metrics of a head on
// selected rows.
#include "wsc/core/metrics.hpp"
#include "wsc/core/softmax_objective.hpp"
#include "wsc/engine/analysis.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace wsc::engine::detail {

struct TaskMetrics {
  double accuracy = std::nan("");
  double f1 = std::nan("");
  double auroc = std::nan("");
};

/// Metrics of `head` on the rows selected by `select(global_row)`; the
/// probabilities of selected rows are summed into one buffer over the group
/// so every rank computes the same numbers.
template <typename Select>
TaskMetrics evaluate_rows(core::RowsView x, std::int64_t begin, const core::Labels& labels,
                          const core::ProbeHead& head, Select select, const par::Communicator& comm) {
  const auto n = static_cast<std::int64_t>(labels.size());
  std::vector<std::int64_t> position(labels.size(), -1);
  std::vector<int> y_true;
  for (std::int64_t i = 0; i < n; ++i) {
    if (labels[static_cast<std::size_t>(i)] >= 0 && select(i)) {
      position[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(y_true.size());
      y_true.push_back(labels[static_cast<std::size_t>(i)]);
    }
  }
  const core::Index classes = head.classes();
  core::Matrix proba = core::Matrix::Zero(static_cast<core::Index>(y_true.size()), classes);
  core::RowMatrix scratch;
  core::for_each_tile(x.rows(), core::tile_rows(x.cols()), [&](core::Index first, core::Index count) {
    const core::Matrix local = core::predict_proba(head, x.doubles(first, count, scratch));
    for (core::Index r = 0; r < count; ++r) {
      const std::int64_t pos = position[static_cast<std::size_t>(begin + first + r)];
      if (pos >= 0) proba.row(pos) = local.row(r);
    }
  });
  comm.sum(proba.data(), static_cast<std::size_t>(proba.size()));
  TaskMetrics m;
  if (y_true.empty()) return m;
  const std::vector<int> y_pred = core::argmax_rows(proba);
  m.accuracy = core::accuracy(y_true, y_pred);
  m.f1 = core::f1_macro(y_true, y_pred);
  m.auroc = core::auroc_macro_ovr(y_true, proba);
  return m;
}

/// The fold of every labelled row of a task (-1 elsewhere): stratified, or
/// stratified and grouped when CV groups are given.
std::vector<int> fold_assignment(const TaskLabels& task, const AnalysisInput& input, const CvSettings& cv);

/// `labels` with the rows of fold f set to -1 (the training rows of fold f).
core::Labels training_labels(const core::Labels& labels, const std::vector<int>& fold, int f);

}  // namespace wsc::engine::detail

#include "wsc/engine/distributed_fit.hpp"

#include "wsc/core/softmax_objective.hpp"

#include <limits>
#include <stdexcept>

namespace wsc::engine {

core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows) {
  const auto first = global.begin() + begin;
  return core::Labels(first, first + rows);
}

core::ProbeHead fit_group_probe(const core::RowMatrix& x, std::int64_t begin,
                                const core::Labels& global_labels, int classes,
                                const FitSettings& settings, const core::SumReduce& reduce,
                                core::FitReport* report) {
  // Which classes have labelled rows: computed from the global labels, so
  // every rank reaches the same answer without communication.
  std::vector<int> present(static_cast<std::size_t>(classes), 0);
  for (int label : global_labels) {
    if (label >= 0) present[static_cast<std::size_t>(label)] = 1;
  }
  std::vector<int> compact(static_cast<std::size_t>(classes), -1);
  int fitted_classes = 0;
  for (int c = 0; c < classes; ++c) {
    if (present[static_cast<std::size_t>(c)]) compact[static_cast<std::size_t>(c)] = fitted_classes++;
  }
  if (fitted_classes < 2) {
    throw std::invalid_argument("fewer than two classes have labelled rows");
  }
  core::Labels y = local_labels(global_labels, begin, x.rows());
  if (fitted_classes != classes) {
    for (int& label : y) {
      if (label >= 0) label = compact[static_cast<std::size_t>(label)];
    }
  }
  core::ProbeHead fitted =
      core::fit_probe(x, y, fitted_classes, settings.l2, settings.solver, reduce, report);
  if (fitted_classes == classes) return fitted;

  core::ProbeHead head;
  head.weight = core::Matrix::Zero(classes, x.cols());
  head.bias = core::Vector::Constant(classes, -std::numeric_limits<double>::infinity());
  for (int c = 0; c < classes; ++c) {
    const int k = compact[static_cast<std::size_t>(c)];
    if (k < 0) continue;
    head.weight.row(c) = fitted.weight.row(k);
    head.bias(c) = fitted.bias(k);
  }
  return head;
}

}  // namespace wsc::engine

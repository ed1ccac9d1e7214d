#include "wsc/engine/distributed_fit.hpp"

#include "wsc/core/batched_newton.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace wsc::engine {

core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows) {
  const auto first = global.begin() + begin;
  return core::Labels(first, first + rows);
}

std::vector<core::ProbeHead> fit_group_probes(const core::RowMatrix& x, std::int64_t begin,
                                              const std::vector<core::Labels>& global_labels,
                                              int classes, const ProbeSettings& settings,
                                              const core::SumReduce& reduce,
                                              std::vector<core::FitReport>* reports,
                                              const std::vector<core::Vector>* global_weights) {
  const std::size_t heads = global_labels.size();
  if (global_weights != nullptr && global_weights->size() != heads) {
    throw std::invalid_argument("fit_group_probes: one weight vector per head is required");
  }
  // The class pattern of each head, from global labels: the same on every rank.
  std::vector<std::vector<int>> patterns;
  std::vector<std::size_t> pattern_of(heads);
  for (std::size_t h = 0; h < heads; ++h) {
    std::vector<int> present(static_cast<std::size_t>(classes), 0);
    for (int label : global_labels[h]) {
      if (label >= 0) present[static_cast<std::size_t>(label)] = 1;
    }
    const auto found = std::find(patterns.begin(), patterns.end(), present);
    pattern_of[h] = static_cast<std::size_t>(found - patterns.begin());
    if (found == patterns.end()) patterns.push_back(std::move(present));
  }

  std::vector<core::ProbeHead> out(heads);
  if (reports != nullptr) reports->assign(heads, core::FitReport{});
  for (std::size_t p = 0; p < patterns.size(); ++p) {
    const std::vector<int>& present = patterns[p];
    std::vector<int> compact(static_cast<std::size_t>(classes), -1);
    int fitted_classes = 0;
    for (int c = 0; c < classes; ++c) {
      if (present[static_cast<std::size_t>(c)]) compact[static_cast<std::size_t>(c)] = fitted_classes++;
    }
    if (fitted_classes < 2) throw std::invalid_argument("fewer than two classes have labelled rows");

    std::vector<std::size_t> members;
    std::vector<core::Labels> labels;
    std::vector<core::Vector> weights;
    for (std::size_t h = 0; h < heads; ++h) {
      if (pattern_of[h] != p) continue;
      members.push_back(h);
      core::Labels y = local_labels(global_labels[h], begin, x.rows());
      if (fitted_classes != classes) {
        for (int& label : y) {
          if (label >= 0) label = compact[static_cast<std::size_t>(label)];
        }
      }
      labels.push_back(std::move(y));
      if (global_weights != nullptr) {
        weights.push_back((*global_weights)[h].segment(static_cast<core::Index>(begin), x.rows()));
      }
    }
    std::vector<core::FitReport> batch_reports;
    std::vector<core::ProbeHead> fitted = core::fit_probes_batched(
        x, labels, fitted_classes, settings.l2, settings.solver, reduce, &batch_reports, nullptr,
        global_weights != nullptr ? &weights : nullptr);
    for (std::size_t k = 0; k < members.size(); ++k) {
      const std::size_t h = members[k];
      if (reports != nullptr) (*reports)[h] = batch_reports[k];
      if (fitted_classes == classes) {
        out[h] = std::move(fitted[k]);
        continue;
      }
      core::ProbeHead& head = out[h];
      head.weight = core::Matrix::Zero(classes, x.cols());
      head.bias = core::Vector::Constant(classes, -std::numeric_limits<double>::infinity());
      for (int c = 0; c < classes; ++c) {
        const int j = compact[static_cast<std::size_t>(c)];
        if (j < 0) continue;
        head.weight.row(c) = fitted[k].weight.row(j);
        head.bias(c) = fitted[k].bias(j);
      }
    }
  }
  return out;
}

}  // namespace wsc::engine

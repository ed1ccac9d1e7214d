#include "wsc/engine/distributed_fit.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace wsc::engine {

core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows) {
  const auto first = global.begin() + begin;
  return core::Labels(first, first + rows);
}

std::vector<core::Labels> local_labels(const std::vector<core::Labels>& global, std::int64_t begin, core::Index rows) {
  std::vector<core::Labels> out;
  out.reserve(global.size());
  for (const core::Labels& y : global) out.push_back(local_labels(y, begin, rows));
  return out;
}

void add_stats(core::BatchedFitStats& into, const core::BatchedFitStats& more) {
  into.heads += more.heads;
  into.rounds += more.rounds;
  into.evaluations += more.evaluations;
  into.hessian_products += more.hessian_products;
  into.tile_rows = more.tile_rows;
  into.reduce_calls += more.reduce_calls;
  into.reduced_doubles += more.reduced_doubles;
  into.evaluation_flops += more.evaluation_flops;
  into.evaluation_seconds += more.evaluation_seconds;
  into.hessian_flops += more.hessian_flops;
  into.hessian_float_flops += more.hessian_float_flops;
  into.hessian_seconds += more.hessian_seconds;
  into.reduce_seconds += more.reduce_seconds;
}

std::vector<core::ProbeHead> fit_group_probes(core::RowsView x, const std::vector<core::Labels>& labels_in,
                                              int classes, const ProbeSettings& settings, const core::SumReduce& reduce,
                                              const core::RowInvariants& invariants,
                                              std::vector<core::FitReport>* reports,
                                              const std::vector<core::Vector>* weights_in,
                                              core::BatchedFitStats* stats) {
  const std::size_t heads = labels_in.size();
  if (weights_in != nullptr && weights_in->size() != heads) {
    throw std::invalid_argument("fit_group_probes: one weight vector per head is required");
  }
  // The classes with labelled rows of each head over the group (one reduce):
  // the same on every rank.
  core::Vector present = core::Vector::Zero(static_cast<core::Index>(heads) * classes);
  for (std::size_t h = 0; h < heads; ++h) {
    for (int label : labels_in[h]) {
      if (label >= 0 && label < classes) present(static_cast<core::Index>(h) * classes + label) = 1.0;
    }
  }
  if (present.size() > 0) reduce(present.data(), static_cast<std::size_t>(present.size()));
  std::vector<std::vector<int>> patterns;
  std::vector<std::size_t> pattern_of(heads);
  for (std::size_t h = 0; h < heads; ++h) {
    std::vector<int> pattern(static_cast<std::size_t>(classes), 0);
    for (int c = 0; c < classes; ++c) pattern[static_cast<std::size_t>(c)] = present(static_cast<core::Index>(h) * classes + c) > 0.0;
    const auto found = std::find(patterns.begin(), patterns.end(), pattern);
    pattern_of[h] = static_cast<std::size_t>(found - patterns.begin());
    if (found == patterns.end()) patterns.push_back(std::move(pattern));
  }

  std::vector<core::ProbeHead> out(heads);
  if (reports != nullptr) reports->assign(heads, core::FitReport{});
  for (std::size_t p = 0; p < patterns.size(); ++p) {
    const std::vector<int>& pattern = patterns[p];
    std::vector<int> compact(static_cast<std::size_t>(classes), -1);
    int fitted_classes = 0;
    for (int c = 0; c < classes; ++c) {
      if (pattern[static_cast<std::size_t>(c)]) compact[static_cast<std::size_t>(c)] = fitted_classes++;
    }
    if (fitted_classes < 2) throw std::invalid_argument("fewer than two classes have labelled rows");

    std::vector<std::size_t> members;
    std::vector<core::Labels> labels;
    std::vector<core::Vector> weights;
    for (std::size_t h = 0; h < heads; ++h) {
      if (pattern_of[h] != p) continue;
      members.push_back(h);
      if (patterns.size() == 1 && fitted_classes == classes) continue;  // labels_in as they are
      core::Labels y = labels_in[h];
      if (fitted_classes != classes) {
        for (int& label : y) {
          if (label >= 0 && label < classes) label = compact[static_cast<std::size_t>(label)];
        }
      }
      labels.push_back(std::move(y));
      if (weights_in != nullptr) weights.push_back((*weights_in)[h]);
    }
    const bool as_given = patterns.size() == 1 && fitted_classes == classes;
    std::vector<core::FitReport> batch_reports;
    core::BatchedFitStats batch_stats;
    std::vector<core::ProbeHead> fitted = core::fit_probes_batched(
        x, as_given ? labels_in : labels, fitted_classes, settings.l2, settings.solver, reduce, &batch_reports,
        &batch_stats, weights_in == nullptr ? nullptr : (as_given ? weights_in : &weights), &invariants);
    if (stats != nullptr) add_stats(*stats, batch_stats);
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

#pragma once
// Probe fits over the rows of a group of ranks: each rank holds a contiguous
// block of rows, the labels are global; the solver's sums go through the
// group's reduction. Classes absent from a training subset are left out of
// the fit (their probability is 0), as scikit-learn does.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"

#include <cstdint>

namespace wsc::engine {

struct FitSettings {
  double l2 = 1e-4;
  core::SolverOptions solver;
};

/// The rows [begin, begin + x.rows()) of the global labels.
core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows);

/// Fits a C-class head on the labelled rows (labels >= 0) of the whole group.
/// Classes without any labelled row get a zero weight row and bias -inf
/// (probability 0). Collective over the reduction. `global_labels` must be
/// identical on all ranks.
core::ProbeHead fit_group_probe(const core::RowMatrix& x, std::int64_t begin,
                                const core::Labels& global_labels, int classes,
                                const FitSettings& settings, const core::SumReduce& reduce,
                                core::FitReport* report);

}  // namespace wsc::engine

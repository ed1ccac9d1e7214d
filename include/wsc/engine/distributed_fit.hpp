#pragma once
// Probe fits over the rows of a group of ranks: each rank holds a contiguous
// block of rows, the labels are global; the solver's sums go through the
// group's reduction. Classes absent from a training subset are left out of
// the fit (their probability is 0), as scikit-learn does.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"
#include "wsc/engine/settings.hpp"

#include <cstdint>
#include <vector>

namespace wsc::engine {


/// The rows [begin, begin + x.rows()) of the global labels.
core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows);

/// Many heads over the group's rows, one per global label vector (each
/// `classes` classes, -1 = row not used by that head), fitted together with
/// core::fit_probes_batched. Heads whose labelled rows use the same set of
/// classes share a batch; a class without labelled rows is left out of the
/// fit and gets a zero weight row and bias -inf (probability 0). `global_weights` (optional, one per head,
/// N entries >= 0) weights the rows (bootstrap multiplicities). Collective;
/// the arguments must be identical on all ranks. Throws
/// std::invalid_argument if a head has fewer than two classes with rows.
std::vector<core::ProbeHead> fit_group_probes(const core::RowMatrix& x, std::int64_t begin,
                                              const std::vector<core::Labels>& global_labels,
                                              int classes, const ProbeSettings& settings,
                                              const core::SumReduce& reduce,
                                              std::vector<core::FitReport>* reports,
                                              const std::vector<core::Vector>* global_weights = nullptr);

}  // namespace wsc::engine

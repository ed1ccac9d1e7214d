#pragma once
// Probe fits over the rows of a group of ranks: each rank holds a contiguous
// block of rows and the labels of those rows; the solver's sums go through the
// group's reduction. Classes absent from a training subset are left out of
// the fit (their probability is 0), as scikit-learn does.
#include "wsc/core/batched_newton.hpp"
#include "wsc/core/embedding_rows.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/row_invariants.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"
#include "wsc/engine/settings.hpp"

#include <cstdint>
#include <vector>

namespace wsc::engine {


/// The rows [begin, begin + rows) of the global labels.
core::Labels local_labels(const core::Labels& global, std::int64_t begin, core::Index rows);
std::vector<core::Labels> local_labels(const std::vector<core::Labels>& global, std::int64_t begin, core::Index rows);

/// Many heads over the group's rows, one per label vector (each `classes`
/// classes, -1 = row not used by that head), fitted together with
/// core::fit_probes_batched. `labels` (and `weights`, optional: row weights
/// >= 0 such as bootstrap multiplicities) hold this rank's rows only, so
/// nothing of N entries per head is needed. Heads whose labelled rows (over
/// the group, found with one reduce) use the same set of classes share a
/// batch; a class without labelled rows is left out of the fit and gets a
/// zero weight row and bias -inf (probability 0). Collective; settings and
/// the head count must be identical on all ranks. Throws
/// std::invalid_argument if a head has fewer than two classes with rows.
///
/// `invariants`: the rows' mean and covariance basis (the same on every rank
/// of the group), reused by every fit of a run; `stats` (optional): the
/// solver's work counters are added to it.
std::vector<core::ProbeHead> fit_group_probes(core::RowsView x, const std::vector<core::Labels>& labels, int classes,
                                              const ProbeSettings& settings, const core::SumReduce& reduce,
                                              const core::RowInvariants& invariants,
                                              std::vector<core::FitReport>* reports,
                                              const std::vector<core::Vector>* weights = nullptr,
                                              core::BatchedFitStats* stats = nullptr);

/// Adds the work counters of `more` to `into`.
void add_stats(core::BatchedFitStats& into, const core::BatchedFitStats& more);

}  // namespace wsc::engine

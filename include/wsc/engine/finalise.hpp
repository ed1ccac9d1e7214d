#pragma once
// The last phase of an analysis: from the randomised phases' combined state
// and the observed WSC, the statistics a user reads. Pure (no MPI, no I/O):
// the same state gives the same numbers on any rank count.
#include "wsc/engine/result.hpp"
#include "wsc/engine/run_state.hpp"
#include "wsc/engine/settings.hpp"
#include "wsc/core/sequential.hpp"

#include <cstdint>
#include <vector>

#include <limits>

namespace wsc::engine {

/// The verdict on one metadata task at level `alpha`: from its encodability
/// p-value (NaN: untested) and its smallest p_fwer over cells (+inf when no
/// cell has one), `permuted` telling whether the permutation null ran.
Verdict verdict_for(double p_encoded, double min_p_fwer, bool permuted, double alpha);

/// permutation.stop = "decisions": where the permutations of `state` (a
/// whole run's or merged chunks', so starting at index 0) stop. Looks are at
/// every state.look permutations; the stop is the first look where every
/// cell's decisions (settings.permutation.decisions, at
/// settings.encodability.alpha, core::settled_cells) are settled, or the
/// last look of the segments done.
SequentialResult sequential_stop(const RunState& state, const AnalysisSettings& settings);

/// The stop rule of the settings.
core::StopRule stop_rule(const AnalysisSettings& settings);

/// Fills `result` (whose metadata tasks hold the observed cos and CV score,
/// and whose `cells` index them) from `state`:
/// - permutation null: p_perm = (1 + #{b: |cos_b| >= |cos|}) / (m + 1),
///   p_fwer the same against max over cells, q_fdr Benjamini-Hochberg of
///   p_perm; the null's maxima and (when kept) cells; fit counters and a
///   warning for unconverged permuted fits;
/// - encodability: score_null and p_encoded = (1 + #{e: score_e >= score}) / (E + 1);
/// - bootstrap: the resampled cells and each cell's percentile interval at
///   settings.bootstrap.level;
/// - the verdict of every metadata task at settings.encodability.alpha.
/// Throws std::invalid_argument when the state's cells are not result.cells'.
void finalise(const RunState& state, const AnalysisSettings& settings, AnalysisResult& result);

}  // namespace wsc::engine

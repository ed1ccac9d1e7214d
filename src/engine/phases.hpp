#pragma once
// The phases of run_analysis (private to the engine). Each is collective
// over the layout's world.
#include "rounds.hpp"
#include "wsc/engine/analysis.hpp"

namespace wsc::engine::detail {

/// What every batched fit of a run shares on this rank: the rows'
/// invariants (computed once, by observe) and the work counters of the
/// phase running (written through a const context).
struct FitShared {
  core::RowInvariants& invariants;
  core::BatchedFitStats& stats;
};

/// PCA; the primary head (from the file, or fitted with its CV folds); each
/// metadata probe with its F fold probes as one batched fit; the WSC
/// matrices of the observed and the fold probes. Every group computes them;
/// world rank 0's values are shared so all groups agree to the last bit.
/// Also sets fits.invariants (from the PCA's covariance), adds the
/// observed fits' work to fits.stats, and reports the "pca" and "fits"
/// phases to `progress`.
AnalysisResult observe(const AnalysisInput& input, const AnalysisSettings& settings, const Layout& layout,
                       const FitShared& fits, const ProgressFn& progress);

/// What the randomised phases share.
struct PhaseContext {
  const AnalysisInput& input;
  const AnalysisSettings& settings;
  const Layout& layout;
  const AnalysisResult& observed;  ///< observe()'s result
  const ItemSizes& items;
  const ProgressFn& progress;
  Checkpointer& checkpointer;
  const core::RowInvariants& invariants;
  /// Work counters of each phase on this rank.
  core::BatchedFitStats& encodability_stats;
  core::BatchedFitStats& permutation_stats;
  core::BatchedFitStats& bootstrap_stats;
  /// permutation.stop = "decisions" in a whole run: stop at the first look
  /// where every decision is settled (chunks run their whole range).
  bool may_stop_early = false;
};

/// Encodability null: permutation e of the rows (the same (seed, e) as the
/// WSC null) permutes each task's labels; the probe is refitted on every
/// fold's training rows (folds fixed) and scored on its held-out rows.
void run_encodability(const PhaseContext& ctx, const IndexRange& range, RunState& local);

/// Permutation null: permutation b moves the rows of the whole metadata
/// table (one index shared by all tasks); every metadata probe is refitted
/// and |cos| of every cell counted against the observed one.
void run_permutations(const PhaseContext& ctx, const IndexRange& range, RunState& local);

/// Bootstrap: resample b (keyed by (bootstrap seed, b)) reweights the rows;
/// every metadata probe (and a fitted primary probe) is refitted with those
/// weights and the cells recomputed.
void run_bootstrap(const PhaseContext& ctx, const IndexRange& range, RunState& local);

}  // namespace wsc::engine::detail

#pragma once
// What an analysis found: the projection, the observed heads with their CV
// quality and WSC matrices, the randomised phases' nulls, p-values,
// intervals and verdicts. Plain data: no MPI, no files.
#include "wsc/core/batched_newton.hpp"
#include "wsc/core/metrics.hpp"
#include "wsc/core/pareto_tail.hpp"
#include "wsc/core/pca.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/pvalues.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/engine/cell_index.hpp"
#include "wsc/engine/run_state.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace wsc::engine {

/// Per metadata task: is it in the embedding (p_encoded <= alpha), and does
/// the primary head use it (a cell with p_fwer <= alpha)? See the README.
enum class Verdict {
  Untested,        ///< no encodability test
  NotEncoded,      ///< p_encoded > alpha: the WSC cells are not interpretable
  Encoded,         ///< encoded; use not tested (no permutation null)
  EncodedNotUsed,  ///< encoded, no cell significant family-wise
  EncodedUsed,     ///< encoded and a cell significant family-wise
};

/// "untested", "not_encoded", "encoded", "encoded_not_used", "encoded_used".
const char* to_string(Verdict verdict);

struct QualityResult {
  std::string method;  ///< "cv" (held-out folds), "model-head" (given head on all rows), "none"
  int folds = 0;
  std::vector<double> accuracy, f1_macro, auroc_macro;  ///< per fold
  core::MeanSd accuracy_stat, f1_stat, auroc_stat;
  std::vector<core::FitReport> fold_fits;
  std::vector<int> fold_of_row;  ///< global; -1 for rows without a label
};

struct TaskResult {
  std::string name;
  std::string kind;
  int classes = 0;
  std::vector<std::string> class_names;
  std::int64_t labelled_rows = 0;
  core::ProbeHead head;
  core::FitReport fit;          ///< empty for a head from the file
  bool fitted = false;
  core::Matrix projected;       ///< C x k
  core::Matrix cos;             ///< metadata only: C_A x C_m
  QualityResult quality;

  // Metadata tasks only:
  std::vector<core::Matrix> fold_cos;  ///< per CV fold: cos of that fold's probe
  core::Matrix fold_cos_mean, fold_cos_sd;
  core::Matrix boot_lo, boot_hi;       ///< percentile interval (empty without bootstrap)
  double score = std::numeric_limits<double>::quiet_NaN();  ///< CV mean macro AUROC
  std::vector<double> score_null;      ///< per encodability permutation
  double p_encoded = std::numeric_limits<double>::quiet_NaN();
  core::PInterval p_encoded_interval;  ///< its Monte Carlo error (core::p_interval, 99%)
  Verdict verdict = Verdict::Untested;
};

/// The work of the batched fits of one phase on one rank, and how close it
/// came to the GEMM-bound limit: the time its GEMM flops take at the GEMM
/// rates (double and float) measured on the same rank, with the same tile and
/// batch shapes, in the same run.
struct FitPerformance {
  core::BatchedFitStats stats;   ///< summed over the phase's fits
  double seconds = 0.0;          ///< wall time of the phase
  double gemm_rate_double = 0.0; ///< flops/s of the passes' GEMM pair in double
  double gemm_rate_float = 0.0;  ///< the same in float
  /// Seconds the passes' GEMM flops take at those rates.
  double bound_seconds() const {
    const double d = gemm_rate_double > 0.0 ? (stats.evaluation_flops + stats.hessian_flops) / gemm_rate_double : 0.0;
    const double f = gemm_rate_float > 0.0 ? stats.hessian_float_flops / gemm_rate_float : 0.0;
    return d + f;
  }
};

/// The WSC at each k of [pca] sensitivity: the observed heads projected on
/// the first k principal components (no projection for k = 0), and, from the
/// same permuted heads as the main null, p-values at each k with the family
/// of each k's own cells.
struct SensitivityResult {
  std::vector<int> ks;                ///< ascending, 0 (no projection) last
  std::vector<core::PcaBasis> bases;  ///< per k (components k x d; identity for 0)
  std::vector<core::Matrix> primary;  ///< per k: the primary head projected (C_A x k)
  /// [k][metadata task]: C_A x C_m cosines, and their mean and sd over the CV fold probes.
  std::vector<std::vector<core::Matrix>> cos, fold_mean, fold_sd;
  /// k-major: entry s * cells + c is cell c at ks[s]; NaN without permutations.
  std::vector<double> p_perm, p_fwer, q_fdr;
  /// permutations x K, row-major: max |cos| over the cells at each k.
  std::vector<double> null_max;

  bool empty() const { return ks.empty(); }
  std::size_t size() const { return ks.size(); }
  /// |cos| of every cell at each k, k-major (the statistic the null counts against).
  std::vector<double> observed_abs(const CellIndex& cells) const;
};

/// Where a run stopped on decisions (permutation.stop = "decisions").
struct SequentialResult {
  std::int64_t permutations = 0;           ///< permutations used
  std::int64_t looks = 0;                  ///< looks made
  bool settled = false;                    ///< every cell settled at the stop
  std::vector<bool> cell_settled;          ///< per cell (CellIndex order)
  std::vector<std::int64_t> settled_at;    ///< per cell: permutations at its first settled look (0: never)
};

struct AnalysisResult {
  core::PcaBasis pca;
  SensitivityResult sensitivity;      ///< empty without [pca] sensitivity
  TaskResult primary;
  std::vector<TaskResult> metadata;
  CellIndex cells;                     ///< the cells of `metadata`, in wsc.csv order

  std::int64_t permutations = 0;
  /// permutation.stop = "decisions": where it stopped (looks = 0 otherwise).
  SequentialResult sequential;
  /// Per cell (CellIndex order); NaN when no permutation ran.
  std::vector<double> p_perm, p_fwer, q_fdr;
  /// Per cell: the Monte Carlo error of p_perm and p_fwer (core::p_interval, 99%).
  std::vector<core::PInterval> p_perm_interval, p_fwer_interval;
  std::vector<double> null_max;        ///< per permutation: max |cos| over cells
  core::Matrix null_cells;             ///< permutations x cells, or empty when too large
  /// The generalised Pareto tail approximation (core/pareto_tail.hpp):
  /// p_fwer_tail against null_max, p_perm_tail against each cell's column of
  /// null_cells; where the fit is not used, p_fwer and p_perm themselves.
  /// NaN without permutations, p_perm_tail also when null_cells is empty.
  std::vector<double> p_fwer_tail, p_perm_tail;
  std::vector<bool> fwer_tail_approximate, perm_tail_approximate;  ///< per cell: the fit gave p
  core::ParetoTailFit fwer_tail;                 ///< the fit to null_max
  std::vector<core::ParetoTailFit> perm_tail;    ///< per cell (empty when null_cells is)
  std::int64_t permutation_fits = 0;
  std::int64_t permutation_unconverged = 0;
  int permutation_max_iterations = 0;
  double permutation_max_grad = 0.0;

  std::int64_t encodability_permutations = 0;
  std::int64_t encodability_fits = 0;
  std::int64_t bootstrap = 0;
  core::Matrix boot_cells;             ///< bootstrap x cells (signed cos)

  RunState state;                      ///< the randomised phases, as a chunk reports them

  int groups = 1;                      ///< the layout the run used
  int group_size = 1;
  std::string layout_reason;
  std::vector<int> node_of_rank;               ///< per world rank: its node (0, 1, ...)
  std::vector<int> ranks_per_node;             ///< the layout's nodes (node_placement)
  std::vector<std::vector<int>> group_nodes;   ///< per group: the node of each of its ranks
  int groups_spanning_nodes = 0;
  double predicted_heads_per_second = 0.0;  ///< the layout's prediction (0: not measured)
  /// What world rank 0 holds, estimated from this run's shapes (layout.hpp).
  double memory_rows = 0.0, memory_labels = 0.0, memory_batch = 0.0, memory_fixed = 0.0;

  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, double>> timings;  ///< phase -> seconds
  /// What the batched fits of each phase ("observe", "encodability",
  /// "permutations", "bootstrap") did on world rank 0, with the GEMM rates
  /// measured there at the same shapes (FitPerformance above).
  std::vector<std::pair<std::string, FitPerformance>> performance;

  /// The level of every significance call (encodability.alpha).
  double alpha = 0.05;
  /// Cell c is significant family-wise: p_fwer <= alpha (never without a
  /// permutation null).
  bool significant_fwer(std::size_t c) const { return permutations > 0 && p_fwer[c] <= alpha; }
};

}  // namespace wsc::engine

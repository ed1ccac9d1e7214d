#pragma once
// The whole WSC analysis of one model over one group of ranks:
// project (PCA) -> fit heads -> WSC -> cross-validated probe quality ->
// permutation null -> p-values. Talks to MPI only through par::Communicator.
#include "wsc/core/metrics.hpp"
#include "wsc/core/pca.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace wsc::engine {

struct AnalysisInput {
  core::RowMatrix x;                 ///< this rank's rows (count x d)
  std::int64_t row_begin = 0;        ///< global index of x's first row
  std::int64_t rows = 0;             ///< N over all ranks
  std::int64_t dim = 0;              ///< d

  std::string primary_task;
  bool primary_from_file = true;
  core::ProbeHead primary_head;                ///< when from file
  std::vector<std::string> primary_class_names;
  std::optional<TaskLabels> primary_labels;    ///< /labels/<primary> if present

  std::vector<TaskLabels> metadata;
  std::vector<std::int64_t> cv_groups;         ///< empty: plain stratified folds

  /// Exchangeability of the permutation null: "free", "within" (rows move
  /// only inside their stratum) or "blocks" (whole blocks move together).
  std::string permutation_scheme = "free";
  std::vector<std::int64_t> permutation_strata;  ///< scheme "within": one per row, < 0 stays put
  std::vector<std::int64_t> permutation_blocks;  ///< scheme "blocks": block id per row
};

/// Permutation `index` of the rows under the input's exchangeability scheme.
std::vector<std::int64_t> permutation_for(const AnalysisInput& input, std::uint64_t seed,
                                          std::uint64_t index);

struct AnalysisSettings {
  core::PcaSettings pca;
  double l2 = 1e-4;
  core::SolverOptions solver;
  int folds = 5;
  std::uint64_t cv_seed = 0;
  std::int64_t permutations = 0;
  std::uint64_t permutation_seed = 1;
  /// Permuted heads fitted together (capped by memory, see
  /// core::suggested_batch_heads).
  std::int64_t permutation_batch = 64;
  /// Keep every permutation's cell values when permutations x cells <= this.
  std::int64_t keep_null_limit = 20'000'000;
};

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
};

struct AnalysisResult {
  core::PcaBasis pca;
  TaskResult primary;
  std::vector<TaskResult> metadata;

  std::int64_t permutations = 0;
  /// Cells in order: metadata task t, primary class i, metadata class j.
  std::vector<double> p_perm, p_fwer, q_fdr;
  std::vector<double> null_max;        ///< per permutation: max |cos| over cells
  core::Matrix null_cells;             ///< permutations x cells, or empty when too large
  std::int64_t permutation_fits = 0;
  std::int64_t permutation_unconverged = 0;
  int permutation_max_iterations = 0;
  double permutation_max_grad = 0.0;

  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, double>> timings;  ///< phase -> seconds
};

/// Called on rank 0 after each permutation (done, total).
using ProgressFn = std::function<void(std::int64_t done, std::int64_t total)>;

/// Collective over `comm`: every rank passes its own block of rows and
/// identical labels and settings; every rank returns the same result.
AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const par::Communicator& comm, const ProgressFn& progress);

/// Cells of the result in wsc.csv order (t, i, j), flattened.
std::vector<double> flatten_cells(const std::vector<TaskResult>& metadata);

}  // namespace wsc::engine

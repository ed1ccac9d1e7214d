#pragma once
// The whole WSC analysis of one model over the ranks of a Layout:
// project (PCA) -> fit heads and their CV folds -> WSC -> probe quality ->
// encodability null -> permutation null -> bootstrap -> p-values and
// verdicts. Talks to MPI only through par::Communicator (via Layout).
#include "wsc/core/metrics.hpp"
#include "wsc/core/pca.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/engine/run_state.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
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
  std::int64_t keep_null_limit = 10'000'000;

  /// Encodability: permutations of each metadata task's labels whose
  /// cross-validated macro AUROC (same folds) forms the null of the observed
  /// one (scikit-learn's permutation_test_score); 0 skips the test.
  std::int64_t encodability_permutations = 100;
  /// Level of the per-task verdict (p_encoded and p_fwer).
  double alpha = 0.05;

  /// Bootstrap resamples of the rows (0: none): percentile interval per cell.
  std::int64_t bootstrap = 0;
  std::uint64_t bootstrap_seed = 1;
  double bootstrap_level = 0.95;

  /// Run only these index ranges of the randomised phases (one chunk of a
  /// split run); unset: all of [0, count).
  std::optional<IndexRange> permutation_range, encodability_range, bootstrap_range;
};

/// Saving and stopping a long run. All optional.
struct RunControl {
  /// A state to continue from (a checkpoint, or merged chunks): indices it
  /// has done are not run again. Its ranges must be this run's.
  const RunState* resume = nullptr;
  /// Called on world rank 0 with the global state when it is to be saved;
  /// may throw (the error then reaches every rank as par::AgreedError).
  std::function<void(const RunState&)> save;
  /// Save every this many seconds (by world rank 0's clock); 0: only on stop.
  double checkpoint_seconds = 0.0;
  /// Polled on every rank between rounds of work; true on any rank makes
  /// every rank save and throw Interrupted.
  std::function<bool()> stop_requested;
  std::uint64_t fingerprint = 0;  ///< copied into saved states
  std::string description;
};

/// A run stopped on request after saving its state (thrown on every rank).
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Indices per work item of the randomised phases for a group of
/// `group_size` ranks: permuted heads are fitted in batches of this many
/// indices. A permuted head's arithmetic depends on its batch-mates (the
/// GEMMs' shapes), so runs that are to agree bit for bit (chunks of a split
/// run and the whole run) must cut their index ranges at multiples of these.
struct ItemSizes {
  std::int64_t permutations = 1;
  std::int64_t encodability = 1;
  std::int64_t bootstrap = 1;
};
ItemSizes item_sizes(const AnalysisInput& input, const AnalysisSettings& settings, int group_size);

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
  /// "not_encoded" | "encoded_not_used" | "encoded_used" | "encoded" (no
  /// permutation null) | "untested" (no encodability test); see README.
  std::string verdict;
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

  std::int64_t encodability_permutations = 0;
  std::int64_t encodability_fits = 0;
  std::int64_t bootstrap = 0;
  core::Matrix boot_cells;             ///< bootstrap x cells (signed cos)

  RunState state;                      ///< the randomised phases, as a chunk reports them

  int groups = 1;                      ///< the layout the run used
  int group_size = 1;
  std::string layout_reason;

  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, double>> timings;  ///< phase -> seconds
};

/// Called on world rank 0 while a phase ("encodability", "permutations",
/// "bootstrap") runs: work items done (estimated over all groups) of total.
using ProgressFn = std::function<void(const std::string& phase, std::int64_t done, std::int64_t total)>;

/// Collective over the layout's world: every rank passes the block of rows
/// its group position holds (par::block_of(N, group size, group rank)) and
/// identical labels and settings; every rank returns the same result (the
/// observed heads and statistics are those of world rank 0's group).
AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const Layout& layout, const ProgressFn& progress,
                            const RunControl& control = {});

/// One group of every rank of `comm`.
AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const par::Communicator& comm, const ProgressFn& progress);

/// Cells of the result in wsc.csv order (t, i, j), flattened.
std::vector<double> flatten_cells(const std::vector<TaskResult>& metadata);

}  // namespace wsc::engine

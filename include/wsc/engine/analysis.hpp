#pragma once
// The whole WSC analysis of one model over the ranks of a Layout, as a short
// sequence of phases (src/engine/analysis.cpp):
//   observe      PCA, the observed heads with their CV folds, the WSC matrices
//   encodability the CV score of each metadata probe under permuted labels
//   permutations the permutation null of every WSC cell
//   bootstrap    resampled rows, refitted heads, percentile intervals
//   finalise     p-values, FWER, BH, intervals, verdicts (pure; finalise.hpp)
// The randomised phases run in rounds of work items keyed by index, so a run
// can be saved, resumed, split into chunks and merged. Talks to MPI only
// through par::Communicator (via Layout).
#include "wsc/core/embedding_rows.hpp"
#include "wsc/core/exchangeability.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/engine/result.hpp"
#include "wsc/engine/run_state.hpp"
#include "wsc/engine/settings.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::engine {

struct AnalysisInput {
  core::EmbeddingRows x;             ///< this rank's rows (count x d), float or double as stored
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

  /// The exchangeability structure the permutation scheme needs.
  std::vector<std::int64_t> permutation_strata;  ///< scheme Within: one per row, < 0 stays put
  std::vector<std::int64_t> permutation_blocks;  ///< scheme Blocks: block id per row
  core::ExchangeTree permutation_tree;           ///< scheme Tree: the validated block tree
};

/// Permutation `index` of the rows under the scheme of `permutation`, drawn
/// from (permutation.seed, index) alone.
std::vector<std::int64_t> permutation_for(const AnalysisInput& input, const PermutationSettings& permutation,
                                          std::uint64_t index);

/// What summary.json should say about a restricted scheme: blocks alone in
/// their size (scheme Blocks: they never move), and fewer distinct
/// permutations than permutation.count (schemes Blocks and Tree: draws repeat).
std::vector<std::string> exchangeability_warnings(const AnalysisInput& input, const PermutationSettings& permutation);

/// The index ranges of the randomised phases a run covers.
struct PhaseRanges {
  IndexRange permutations, encodability, bootstrap;
};

/// A whole run: [0, count) of each phase.
PhaseRanges whole_run(const AnalysisSettings& settings);

/// Saving and stopping a long run, and running a part of it. All optional.
struct RunControl {
  /// Run only these ranges (one chunk of a split run); unset: whole_run().
  std::optional<PhaseRanges> ranges;
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

/// permutation.stop = "decisions": permutations between two looks
/// (permutation.look, or the smallest multiple of the batch >= 100); 0 for
/// "fixed". Chunks of such a run are cut at multiples of it.
std::int64_t look_step(const AnalysisSettings& settings, const ItemSizes& items);

/// Called on world rank 0 while a phase runs, first when it begins (done =
/// what a resumed run has done already, usually 0), then as work is done;
/// the last call of a phase has done == total. Phases, in order:
///   "pca"          rows of the mean and covariance pass (world rank 0's
///                  share of its block, scaled to N: ranks go at one pace)
///   "fits"         observed heads: each fitted task's head and its CV fold
///                  heads (primary when fitted, every metadata task)
///   "encodability", "permutations", "bootstrap"
///                  indices done (estimated over all groups) of the range
/// The engine only calls it; printing is the caller's.
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

}  // namespace wsc::engine

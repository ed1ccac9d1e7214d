#pragma once
// The resumable part of an analysis: how far each randomised phase has got
// (a prefix of its index range) and everything accumulated so far, combined
// over all ranks. A checkpoint stores it; a chunk of a split run reports it;
// merging chunks adds them up. Plain data: no MPI, no files.
#include <cstdint>
#include <string>
#include <vector>

namespace wsc::engine {

/// A half-open range [begin, end) of indices of one randomised phase.
struct IndexRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const IndexRange& o) const { return begin == o.begin && end == o.end; }
};

struct RunState {
  /// Format of this struct as stored (checkpoints refuse other versions).
  /// 2: fingerprint and payload checksum are XXH3 (1 had FNV-1a).
  /// 3: the k-sensitivity counts and the look segments.
  static constexpr std::uint32_t kFormatVersion = 3;

  /// Hash of everything that decides the result (config as run, inputs);
  /// a state is only ever used with the same fingerprint.
  std::uint64_t fingerprint = 0;
  std::string description;  ///< human-readable: model, config file (for messages)

  /// The index ranges this state covers (a whole run: [0, count) each).
  IndexRange permutations, encodability, bootstrap;
  /// Indices done in each, from the range's begin (a prefix).
  std::int64_t permutations_done = 0;
  std::int64_t encodability_done = 0;
  std::int64_t bootstrap_done = 0;

  /// Observed |cos| per cell (the statistic the counts compare against).
  std::vector<double> observed_abs;
  /// Per cell: #{b done : |cos_b| >= |cos|} and #{b done : max_b >= |cos|}.
  std::vector<std::int64_t> exceed_cell, exceed_max;
  /// Per permutation of the range: max |cos| over cells (0 where not done).
  std::vector<double> null_max;
  /// Permutations of the range x cells, row-major (empty when not kept).
  std::vector<double> null_cells;
  std::int64_t cells = 0;
  bool keep_cells = false;

  /// k-sensitivity ([pca] sensitivity; all empty without it): per listed k
  /// (k-major, K x cells) the observed |cos| and the same two counts, and per
  /// permutation of the range the max |cos| over cells at each k (range x K).
  std::int64_t sensitivity_ks = 0;
  std::vector<double> sensitivity_observed_abs;
  std::vector<std::int64_t> sensitivity_exceed_cell, sensitivity_exceed_max;
  std::vector<double> sensitivity_null_max;

  /// permutation.stop = "decisions": permutations between two looks (looks
  /// at multiples of it from index 0; 0 for "fixed"), and the counts of each
  /// look segment of the range, segment-major: segment s of the range holds
  /// [s * cells, (s + 1) * cells) of the first two and [s * K * cells, ...)
  /// of the k-sensitivity ones. Any prefix of whole segments is a sum of them.
  std::int64_t look = 0;
  std::vector<std::int64_t> segment_exceed_cell, segment_exceed_max;
  std::vector<std::int64_t> segment_sensitivity_exceed_cell, segment_sensitivity_exceed_max;

  std::int64_t permutation_fits = 0;
  std::int64_t permutation_unconverged = 0;
  std::int64_t permutation_max_iterations = 0;
  double permutation_max_grad = 0.0;

  /// Per metadata task, per encodability permutation of the range: the
  /// cross-validated score (0 where not done).
  std::vector<std::vector<double>> score_null;
  std::int64_t encodability_fits = 0;

  /// Resamples of the range x cells, row-major (signed cos; 0 where not done).
  std::vector<double> boot_cells;
};

/// What is inconsistent in a state read from a file (sizes against its
/// ranges and cells, counts against the permutations done, |cos| in [0, 1],
/// scores in [0, 1] or NaN); empty when nothing is. Every reader of a saved state
/// checks it before using any size or index from the state.
std::string state_problem(const RunState& state);

}  // namespace wsc::engine

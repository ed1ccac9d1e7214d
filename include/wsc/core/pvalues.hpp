#pragma once
// Permutation p-values for WSC cells, family-wise (max-statistic) and
// false-discovery (Benjamini-Hochberg) control.
#include "wsc/core/types.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace wsc::core {

/// Accumulates, over permutations, the counts each p-value needs, so the null
/// costs O(cells) memory whatever the number of permutations.
class NullAccumulator {
 public:
  /// observed: |cos| of every cell (the statistic), in a fixed cell order.
  explicit NullAccumulator(std::vector<double> observed_abs);

  /// One permutation's |cos| for every cell (same order).
  void add(const std::vector<double>& permuted_abs);

  /// Merges counts of another accumulator over disjoint permutations.
  void merge(const NullAccumulator& other);

  std::int64_t permutations() const { return permutations_; }
  const std::vector<double>& observed() const { return observed_; }
  const std::vector<std::int64_t>& exceed_cell() const { return exceed_cell_; }
  const std::vector<std::int64_t>& exceed_max() const { return exceed_max_; }

  /// (1 + #{b : |cos_b| >= |cos|}) / (m + 1); NaN when m = 0.
  std::vector<double> p_perm() const;
  /// (1 + #{b : max over cells |cos_b| >= |cos|}) / (m + 1); NaN when m = 0.
  std::vector<double> p_fwer() const;

  /// Rebuild from stored counts (checkpoints, merging).
  static NullAccumulator from_counts(std::vector<double> observed, std::vector<std::int64_t> cell,
                                     std::vector<std::int64_t> max, std::int64_t permutations);

 private:
  std::vector<double> observed_;
  std::vector<std::int64_t> exceed_cell_;
  std::vector<std::int64_t> exceed_max_;
  std::int64_t permutations_ = 0;
};

/// A two-sided confidence interval [lo, hi].
struct PInterval {
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
};

/// Clopper-Pearson interval, at error `error` (0.01: 99%), for the exact
/// permutation p-value (the chance that a random permutation reaches the
/// observed statistic) when `exceed` of `m` permutations reached it: the
/// Monte Carlo error of a permutation p. NaN when m = 0. Throws
/// std::invalid_argument unless 0 <= exceed <= m and 0 < error < 1.
PInterval p_interval(std::int64_t exceed, std::int64_t m, double error);

/// The Monte Carlo level of every interval wsc reports (99%).
inline constexpr double kPIntervalError = 0.01;

/// Benjamini-Hochberg q-values (monotone, capped at 1); NaN p gives NaN q and
/// is left out of the count.
std::vector<double> bh_qvalues(const std::vector<double>& p);

}  // namespace wsc::core

#pragma once
// Sequential permutation tests: permutations run in a fixed order and the
// counts are looked at every L permutations; the test stops at the first look
// where every decision asked for is settled. A decision is settled when the
// Clopper-Pearson interval of its exact permutation p (core::p_interval) lies
// on one side of alpha. Look j (1-based) spends error risk / (j (j + 1)),
// which sums to `risk` over all looks, so the chance that a cell's settled
// decision differs from the one its exact p would give is at most `risk`
// (a union bound over looks; for q_fdr the bound holds for the whole family,
// the error of a look being shared by the cells). Plain functions of the
// counts: no MPI.
#include <cstdint>
#include <vector>

namespace wsc::core {

/// What must settle, at which level, with which bound on the resampling risk.
struct StopRule {
  double alpha = 0.05;
  double risk = 1e-3;
  bool p_fwer = true;  ///< each cell's p_fwer <= alpha
  bool q_fdr = false;  ///< each cell's Benjamini-Hochberg decision at alpha
  bool p_perm = false; ///< each cell's p_perm <= alpha
};

/// The error spent at look `look` (1-based): risk / (look (look + 1)).
double look_error(double risk, std::int64_t look);

/// Per cell, whether its decisions are settled after m permutations at look
/// `look` (exceed_cell, exceed_max: the counts of p_perm and p_fwer, as
/// NullAccumulator keeps them). A cell whose observed value is NaN has no
/// decision and counts as settled.
std::vector<bool> settled_cells(const std::vector<double>& observed, const std::vector<std::int64_t>& exceed_cell,
                                const std::vector<std::int64_t>& exceed_max, std::int64_t m, std::int64_t look,
                                const StopRule& rule);

}  // namespace wsc::core

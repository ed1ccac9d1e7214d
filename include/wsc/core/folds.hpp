#pragma once
// Cross-validation fold assignment over all rows (every rank computes the
// same assignment from the global labels).
#include <cstdint>
#include <vector>

namespace wsc::core {

/// Stratified k-fold: each class's rows are shuffled with (seed) and dealt
/// round-robin to folds, so class counts per fold differ by at most one.
/// Rows with a negative label get fold -1. Throws std::invalid_argument when
/// folds < 2 or folds exceeds the labelled rows.
std::vector<int> stratified_folds(const std::vector<int>& labels, int folds, std::uint64_t seed);

/// Stratified group k-fold: whole groups go to one fold; groups are visited
/// in a seeded order from largest to smallest and each is put in the fold
/// that keeps the per-class distribution closest to the overall one
/// (scikit-learn's StratifiedGroupKFold heuristic). Throws when there are
/// fewer groups than folds.
std::vector<int> stratified_group_folds(const std::vector<int>& labels,
                                        const std::vector<std::int64_t>& groups, int folds,
                                        std::uint64_t seed);

}  // namespace wsc::core

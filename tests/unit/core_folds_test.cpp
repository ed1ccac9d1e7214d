// Cross-validation folds: stratification, grouping, determinism, errors.
#include "wsc/core/folds.hpp"

#include "wsc/core/permutation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace wsc::core {
namespace {

/// Labels with classes of sizes 17, 9 and 5 (class ids 0, 2, 5), interleaved,
/// and unlabelled rows sprinkled in.
std::vector<int> uneven_labels() {
  std::vector<int> labels;
  int a = 17, b = 9, c = 5;
  for (int i = 0; a + b + c > 0; ++i) {
    if (i % 7 == 3) labels.push_back(-1);
    if (a > 0) { labels.push_back(0); --a; }
    if (b > 0 && i % 2 == 0) { labels.push_back(2); --b; }
    if (c > 0 && i % 3 == 1) { labels.push_back(5); --c; }
  }
  return labels;
}

TEST(StratifiedFolds, PerClassAndOverallBalance) {
  const std::vector<int> labels = uneven_labels();
  for (int k : {2, 3, 4, 5}) {
    const std::vector<int> fold = stratified_folds(labels, k, 77);
    ASSERT_EQ(fold.size(), labels.size());
    std::map<int, std::vector<int>> per_class;
    std::vector<int> overall(static_cast<std::size_t>(k), 0);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0) {
        EXPECT_EQ(fold[i], -1);
        continue;
      }
      ASSERT_GE(fold[i], 0);
      ASSERT_LT(fold[i], k);
      per_class[labels[i]].resize(static_cast<std::size_t>(k), 0);
      ++per_class[labels[i]][static_cast<std::size_t>(fold[i])];
      ++overall[static_cast<std::size_t>(fold[i])];
    }
    for (const auto& [label, counts] : per_class) {
      const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
      EXPECT_LE(*hi - *lo, 1) << "class " << label << ", " << k << " folds";
    }
    const auto [lo, hi] = std::minmax_element(overall.begin(), overall.end());
    EXPECT_LE(*hi - *lo, 1) << k << " folds";
  }
}

TEST(StratifiedFolds, FollowsTheDocumentedShuffleAndDeal) {
  // Per class (ascending label): its rows in ascending order, Fisher-Yates
  // with keyed_uniform(seed, 1000003 + label, i), dealt round-robin with the
  // fold offset carried over from the previous class.
  const std::vector<int> labels = {1, 0, 1, -1, 0, 1, 1, 0, 3, 3};
  const std::uint64_t seed = 5;
  const int k = 3;
  std::vector<int> expected(labels.size(), -1);
  int next = 0;
  for (int label : {0, 1, 3}) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == label) rows.push_back(i);
    for (std::size_t i = rows.size() - 1; i >= 1; --i) {
      std::swap(rows[i], rows[keyed_uniform(seed, 1000003 + static_cast<std::uint64_t>(label), i, i + 1)]);
    }
    for (std::size_t row : rows) {
      expected[row] = next;
      next = (next + 1) % k;
    }
  }
  EXPECT_EQ(stratified_folds(labels, k, seed), expected);
}

TEST(StratifiedFolds, DeterministicFromSeed) {
  const std::vector<int> labels = uneven_labels();
  EXPECT_EQ(stratified_folds(labels, 4, 1), stratified_folds(labels, 4, 1));
  EXPECT_NE(stratified_folds(labels, 4, 1), stratified_folds(labels, 4, 2));
}

TEST(StratifiedFolds, Errors) {
  EXPECT_THROW(stratified_folds({0, 1, 0, 1}, 1, 0), std::invalid_argument);
  EXPECT_THROW(stratified_folds({0, 1, -1, -1}, 3, 0), std::invalid_argument);
  EXPECT_NO_THROW(stratified_folds({0, 1, 1, -1}, 3, 0));
}

TEST(StratifiedGroupFolds, GroupsAreNeverSplit) {
  // 40 groups of sizes 1..6 with mixed labels; a few unlabelled rows.
  std::vector<int> labels;
  std::vector<std::int64_t> groups;
  for (std::int64_t g = 0; g < 40; ++g) {
    const int size = 1 + static_cast<int>(g % 6);
    for (int r = 0; r < size; ++r) {
      groups.push_back(1000 - 7 * g);  // ids need not be small or ordered
      labels.push_back((r == 2 && g % 5 == 0) ? -1 : static_cast<int>((g + r) % 3));
    }
  }
  const int k = 5;
  const std::vector<int> fold = stratified_group_folds(labels, groups, k, 3);
  ASSERT_EQ(fold.size(), labels.size());
  std::map<std::int64_t, std::set<int>> folds_of_group;
  std::vector<int> size(static_cast<std::size_t>(k), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      EXPECT_EQ(fold[i], -1);
      continue;
    }
    ASSERT_GE(fold[i], 0);
    ASSERT_LT(fold[i], k);
    folds_of_group[groups[i]].insert(fold[i]);
    ++size[static_cast<std::size_t>(fold[i])];
  }
  for (const auto& [g, f] : folds_of_group) EXPECT_EQ(f.size(), 1u) << "group " << g;
  // The greedy placement keeps folds populated and roughly even.
  for (int s : size) EXPECT_GT(s, 0);
  const auto [lo, hi] = std::minmax_element(size.begin(), size.end());
  EXPECT_LE(*hi - *lo, 6);  // at most one largest group apart

  EXPECT_EQ(fold, stratified_group_folds(labels, groups, k, 3));
}

TEST(StratifiedGroupFolds, BalancesClassesAcrossFolds) {
  // 30 single-class groups of 2 rows: 10 per class. With 5 folds every fold
  // should get 2 groups of each class (the shares then have zero spread).
  std::vector<int> labels;
  std::vector<std::int64_t> groups;
  for (std::int64_t g = 0; g < 30; ++g) {
    for (int r = 0; r < 2; ++r) {
      groups.push_back(g);
      labels.push_back(static_cast<int>(g % 3));
    }
  }
  const std::vector<int> fold = stratified_group_folds(labels, groups, 5, 11);
  std::vector<std::vector<int>> counts(5, std::vector<int>(3, 0));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    ++counts[static_cast<std::size_t>(fold[i])][static_cast<std::size_t>(labels[i])];
  }
  for (const auto& c : counts) EXPECT_EQ(c, (std::vector<int>{4, 4, 4}));
}

TEST(StratifiedGroupFolds, LargestGroupsArePlacedFirst) {
  // One group of 5 and five of 1, two folds. Largest first: the 5 opens fold
  // 0 and the singletons fill fold 1 -> 5 / 5. Smallest first would spread
  // the singletons 3 / 2 and then have to put the 5 somewhere -> 3 / 7.
  const std::vector<int> labels(10, 0);
  const std::vector<std::int64_t> groups = {7, 7, 7, 7, 7, 1, 2, 3, 4, 5};
  for (std::uint64_t seed : {0u, 1u, 2u}) {
    const std::vector<int> fold = stratified_group_folds(labels, groups, 2, seed);
    EXPECT_EQ(std::count(fold.begin(), fold.end(), 0), 5);
    EXPECT_EQ(std::count(fold.begin(), fold.end(), 1), 5);
    EXPECT_EQ(fold[0], 0);
  }
}

TEST(StratifiedGroupFolds, Errors) {
  const std::vector<int> labels = {0, 1, 0, 1, -1};
  const std::vector<std::int64_t> groups = {1, 1, 2, 2, 3};  // group 3 is unlabelled
  EXPECT_THROW(stratified_group_folds(labels, groups, 3, 0), std::invalid_argument);
  EXPECT_NO_THROW(stratified_group_folds(labels, groups, 2, 0));
  EXPECT_THROW(stratified_group_folds(labels, {1, 2}, 2, 0), std::invalid_argument);
  EXPECT_THROW(stratified_group_folds(labels, groups, 1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace wsc::core

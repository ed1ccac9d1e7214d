#include "wsc/core/folds.hpp"

#include "wsc/core/permutation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>

namespace wsc::core {

namespace {

// keyed_uniform streams: one per class for stratified folds, one for the
// group order; far apart so they never coincide for sensible class counts.
constexpr std::uint64_t kClassStreamBase = 1000003;
constexpr std::uint64_t kGroupStream = 2000003;

void check_folds(int folds, std::size_t labelled) {
  if (folds < 2) throw std::invalid_argument("folds: need at least 2 folds, got " + std::to_string(folds));
  if (static_cast<std::size_t>(folds) > labelled) {
    throw std::invalid_argument("folds: " + std::to_string(folds) + " folds but only " +
                                std::to_string(labelled) + " labelled rows");
  }
}

/// Fisher-Yates driven by keyed_uniform(seed, stream, i): a function of the
/// seed and stream only.
template <typename T>
void keyed_shuffle(std::vector<T>& items, std::uint64_t seed, std::uint64_t stream) {
  for (std::size_t i = items.size(); i-- > 1;) {
    const auto j = static_cast<std::size_t>(keyed_uniform(seed, stream, i, i + 1));
    std::swap(items[i], items[j]);
  }
}

/// Population standard deviation (numpy.std's default).
double population_sd(const std::vector<double>& v) {
  double mean = 0.0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0.0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size()));
}

/// numpy.isclose with its default tolerances.
bool is_close(double a, double b) { return std::abs(a - b) <= 1e-8 + 1e-5 * std::abs(b); }

}  // namespace

std::vector<int> stratified_folds(const std::vector<int>& labels, int folds, std::uint64_t seed) {
  // Row indices per class, ascending (std::map keeps the classes in order).
  std::map<int, std::vector<std::size_t>> rows_of_class;
  std::size_t labelled = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    rows_of_class[labels[i]].push_back(i);
    ++labelled;
  }
  check_folds(folds, labelled);

  std::vector<int> fold(labels.size(), -1);
  // The round-robin continues where the previous class stopped, so the fold
  // sizes stay within one of each other overall, not just per class.
  std::size_t next = 0;
  const auto k = static_cast<std::size_t>(folds);
  for (auto& [label, rows] : rows_of_class) {
    keyed_shuffle(rows, seed, kClassStreamBase + static_cast<std::uint64_t>(label));
    for (std::size_t row : rows) {
      fold[row] = static_cast<int>(next);
      next = (next + 1) % k;
    }
  }
  return fold;
}

std::vector<int> stratified_group_folds(const std::vector<int>& labels,
                                        const std::vector<std::int64_t>& groups, int folds,
                                        std::uint64_t seed) {
  if (groups.size() != labels.size()) {
    throw std::invalid_argument("group folds: " + std::to_string(groups.size()) + " groups for " +
                                std::to_string(labels.size()) + " rows");
  }
  if (folds < 2) throw std::invalid_argument("folds: need at least 2 folds, got " + std::to_string(folds));

  // Classes and groups among the labelled rows, in ascending order.
  std::map<int, std::size_t> class_index;
  std::map<std::int64_t, std::size_t> group_index;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    class_index.emplace(labels[i], 0);
    group_index.emplace(groups[i], 0);
  }
  if (group_index.size() < static_cast<std::size_t>(folds)) {
    throw std::invalid_argument("group folds: " + std::to_string(group_index.size()) +
                                " groups with labelled rows, fewer than " +
                                std::to_string(folds) + " folds");
  }
  std::size_t next = 0;
  for (auto& entry : class_index) entry.second = next++;
  next = 0;
  for (auto& entry : group_index) entry.second = next++;
  const std::size_t n_classes = class_index.size();
  const std::size_t n_groups = group_index.size();
  const auto k = static_cast<std::size_t>(folds);

  // Class counts per group and overall.
  std::vector<std::vector<double>> group_counts(n_groups, std::vector<double>(n_classes, 0.0));
  std::vector<double> group_size(n_groups, 0.0);
  std::vector<double> class_total(n_classes, 0.0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    const std::size_t g = group_index[groups[i]];
    const std::size_t c = class_index[labels[i]];
    group_counts[g][c] += 1.0;
    group_size[g] += 1.0;
    class_total[c] += 1.0;
  }

  // Seeded order, then largest groups first (stable, so equal sizes keep the
  // seeded order): big groups are placed while there is still room to balance.
  std::vector<std::size_t> order(n_groups);
  for (std::size_t g = 0; g < n_groups; ++g) order[g] = g;
  keyed_shuffle(order, seed, kGroupStream);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return group_size[a] > group_size[b]; });

  // Greedy placement (scikit-learn's StratifiedGroupKFold._find_best_fold):
  // the fold that minimises the mean over classes of the spread across folds
  // of each class's share; near-ties go to the fold with fewer rows.
  std::vector<std::vector<double>> fold_counts(k, std::vector<double>(n_classes, 0.0));
  std::vector<double> fold_size(k, 0.0);
  std::vector<int> fold_of_group(n_groups, -1);
  std::vector<double> share(k);
  for (std::size_t g : order) {
    std::size_t best = 0;
    double best_eval = std::numeric_limits<double>::infinity();
    double best_size = std::numeric_limits<double>::infinity();
    for (std::size_t f = 0; f < k; ++f) {
      double eval = 0.0;
      for (std::size_t c = 0; c < n_classes; ++c) {
        for (std::size_t h = 0; h < k; ++h) {
          const double count = fold_counts[h][c] + (h == f ? group_counts[g][c] : 0.0);
          share[h] = count / class_total[c];
        }
        eval += population_sd(share);
      }
      eval /= static_cast<double>(n_classes);
      if (eval < best_eval || (is_close(eval, best_eval) && fold_size[f] < best_size)) {
        best = f;
        best_eval = eval;
        best_size = fold_size[f];
      }
    }
    fold_of_group[g] = static_cast<int>(best);
    for (std::size_t c = 0; c < n_classes; ++c) fold_counts[best][c] += group_counts[g][c];
    fold_size[best] += group_size[g];
  }

  std::vector<int> fold(labels.size(), -1);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 0) fold[i] = fold_of_group[group_index[groups[i]]];
  }
  return fold;
}

}  // namespace wsc::core

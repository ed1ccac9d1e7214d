#include "wsc/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>

namespace wsc::core {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_same_length(std::size_t a, std::size_t b, const char* what) {
  if (a != b) {
    throw std::invalid_argument(std::string(what) + ": inputs differ in length (" +
                                std::to_string(a) + " vs " + std::to_string(b) + ")");
  }
}

}  // namespace

double accuracy(const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  check_same_length(y_true.size(), y_pred.size(), "accuracy");
  if (y_true.empty()) return kNaN;
  std::size_t equal = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) equal += y_true[i] == y_pred[i] ? 1 : 0;
  return static_cast<double>(equal) / static_cast<double>(y_true.size());
}

double f1_macro(const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  check_same_length(y_true.size(), y_pred.size(), "f1_macro");
  if (y_true.empty()) return kNaN;
  std::set<int> labels(y_true.begin(), y_true.end());
  labels.insert(y_pred.begin(), y_pred.end());
  double sum = 0.0;
  for (int label : labels) {
    long long tp = 0, fp = 0, fn = 0;
    for (std::size_t i = 0; i < y_true.size(); ++i) {
      const bool t = y_true[i] == label;
      const bool p = y_pred[i] == label;
      tp += t && p ? 1 : 0;
      fp += !t && p ? 1 : 0;
      fn += t && !p ? 1 : 0;
    }
    // F1 = 2PR / (P + R) = 2 tp / (2 tp + fp + fn); 0 when tp = 0 (sklearn's
    // zero_division result, since every label here occurs somewhere).
    const long long denominator = 2 * tp + fp + fn;
    if (denominator > 0) sum += 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
  }
  return sum / static_cast<double>(labels.size());
}

double auroc_binary(const std::vector<int>& positive, const std::vector<double>& score) {
  check_same_length(positive.size(), score.size(), "auroc_binary");
  const std::size_t n = score.size();
  // NaN has no rank (and would break the sort's ordering).
  if (std::any_of(score.begin(), score.end(), [](double v) { return std::isnan(v); })) return kNaN;
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });

  // Mann-Whitney: AUROC = (rank sum of positives - P(P+1)/2) / (P N), with
  // tied scores sharing their mid-rank (so a tie counts one half).
  double positive_rank_sum = 0.0;
  double positives = 0.0;
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;
    while (j + 1 < n && score[order[j + 1]] == score[order[i]]) ++j;
    const double mid_rank = 0.5 * static_cast<double>(i + j) + 1.0;  // ranks are 1-based
    for (std::size_t k = i; k <= j; ++k) {
      if (positive[order[k]] != 0) {
        positive_rank_sum += mid_rank;
        positives += 1.0;
      }
    }
    i = j + 1;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0.0 || negatives == 0.0) return kNaN;
  return (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
}

double auroc_macro_ovr(const std::vector<int>& y_true, const Matrix& proba) {
  if (static_cast<Index>(y_true.size()) != proba.rows()) {
    throw std::invalid_argument("auroc_macro_ovr: labels and probability rows differ in number");
  }
  const Index classes = proba.cols();
  // Rows with a negative label are not evaluated; a label >= C is an error.
  std::vector<std::size_t> rows;
  std::vector<long long> count(static_cast<std::size_t>(classes), 0);
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] < 0) continue;
    if (y_true[i] >= classes) {
      throw std::invalid_argument("auroc_macro_ovr: label " + std::to_string(y_true[i]) +
                                  " outside the " + std::to_string(classes) + " columns");
    }
    rows.push_back(i);
    ++count[static_cast<std::size_t>(y_true[i])];
  }
  const auto present =
      std::count_if(count.begin(), count.end(), [](long long c) { return c > 0; });
  if (present < 2) return kNaN;

  auto one_vs_rest = [&](int c) {
    std::vector<int> positive(rows.size());
    std::vector<double> score(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      positive[k] = y_true[rows[k]] == c ? 1 : 0;
      score[k] = proba(static_cast<Index>(rows[k]), c);
    }
    return auroc_binary(positive, score);
  };
  if (classes == 2) return one_vs_rest(1);

  double sum = 0.0;
  int used = 0;
  for (int c = 0; c < static_cast<int>(classes); ++c) {
    // With >= 2 classes present, a present class has positives and negatives.
    if (count[static_cast<std::size_t>(c)] == 0) continue;
    sum += one_vs_rest(c);
    ++used;
  }
  return sum / used;
}

std::vector<int> argmax_rows(const Matrix& proba) {
  std::vector<int> out(static_cast<std::size_t>(proba.rows()), -1);
  for (Index i = 0; i < proba.rows(); ++i) {
    Index best = 0;
    for (Index j = 1; j < proba.cols(); ++j) {
      if (proba(i, j) > proba(i, best)) best = j;  // strict: first maximum wins ties
    }
    if (proba.cols() > 0) out[static_cast<std::size_t>(i)] = static_cast<int>(best);
  }
  return out;
}

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd result;
  if (values.empty()) {
    result.mean = kNaN;
    result.sd = kNaN;
    return result;
  }
  const double n = static_cast<double>(values.size());
  result.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  if (values.size() == 1) return result;
  double ss = 0.0;
  for (double v : values) ss += (v - result.mean) * (v - result.mean);
  result.sd = std::sqrt(ss / (n - 1.0));
  return result;
}

double quantile_of_sorted(const std::vector<double>& sorted, double q, Lerp lerp) {
  const std::size_t n = sorted.size();
  const double h = static_cast<double>(n - 1) * q;
  const double lo_f = std::floor(h);
  const auto lo = static_cast<std::size_t>(lo_f);
  if (lo >= n - 1) return sorted[n - 1];
  // The build has no floating-point contraction (-ffp-contract=off), so each
  // product is rounded before the sum, as in numpy.
  const double t = h - lo_f;
  const double a = sorted[lo];
  const double b = sorted[lo + 1];
  const double diff = b - a;
  if (lerp == Lerp::numpy && t >= 0.5) return b - diff * (1.0 - t);
  return a + diff * t;
}

double percentile(std::vector<double> values, double q) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  return quantile_of_sorted(values, q, Lerp::from_lower);
}

}  // namespace wsc::core

#include "wsc/core/pvalues.hpp"

#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace wsc::core {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Equal cell by cell, a NaN cell matching a NaN cell.
bool same_observed(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

std::vector<double> p_from_counts(const std::vector<double>& observed,
                                  const std::vector<std::int64_t>& counts, std::int64_t m) {
  std::vector<double> p(observed.size(), kNaN);
  if (m == 0) return p;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (std::isnan(observed[i])) continue;
    // The +1s count the observed labelling as one of the permutations, so a
    // p-value is never 0 (Phipson & Smyth 2010).
    p[i] = static_cast<double>(1 + counts[i]) / static_cast<double>(m + 1);
  }
  return p;
}

}  // namespace

NullAccumulator::NullAccumulator(std::vector<double> observed_abs)
    : observed_(std::move(observed_abs)),
      exceed_cell_(observed_.size(), 0),
      exceed_max_(observed_.size(), 0) {}

void NullAccumulator::add(const std::vector<double>& permuted_abs) {
  if (permuted_abs.size() != observed_.size()) {
    throw std::invalid_argument("NullAccumulator::add: " + std::to_string(permuted_abs.size()) +
                                " cells, expected " + std::to_string(observed_.size()));
  }
  // Max statistic over the cells of this permutation; NaN cells carry no
  // evidence and are ignored.
  double max = -std::numeric_limits<double>::infinity();
  for (double v : permuted_abs) {
    if (!std::isnan(v)) max = std::max(max, v);
  }
  for (std::size_t i = 0; i < observed_.size(); ++i) {
    if (std::isnan(observed_[i])) continue;
    if (permuted_abs[i] >= observed_[i]) ++exceed_cell_[i];  // false for NaN
    if (max >= observed_[i]) ++exceed_max_[i];
  }
  ++permutations_;
}

void NullAccumulator::merge(const NullAccumulator& other) {
  if (!same_observed(observed_, other.observed_)) {
    throw std::invalid_argument("NullAccumulator::merge: different observed statistics");
  }
  for (std::size_t i = 0; i < observed_.size(); ++i) {
    exceed_cell_[i] += other.exceed_cell_[i];
    exceed_max_[i] += other.exceed_max_[i];
  }
  permutations_ += other.permutations_;
}

std::vector<double> NullAccumulator::p_perm() const {
  return p_from_counts(observed_, exceed_cell_, permutations_);
}

std::vector<double> NullAccumulator::p_fwer() const {
  return p_from_counts(observed_, exceed_max_, permutations_);
}

NullAccumulator NullAccumulator::from_counts(std::vector<double> observed,
                                             std::vector<std::int64_t> cell,
                                             std::vector<std::int64_t> max,
                                             std::int64_t permutations) {
  if (cell.size() != observed.size() || max.size() != observed.size()) {
    throw std::invalid_argument("NullAccumulator::from_counts: count vectors differ in length");
  }
  if (permutations < 0) throw std::invalid_argument("NullAccumulator::from_counts: negative m");
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (cell[i] < 0 || max[i] < 0 || cell[i] > permutations || max[i] > permutations) {
      throw std::invalid_argument("NullAccumulator::from_counts: count outside [0, m]");
    }
  }
  NullAccumulator acc(std::move(observed));
  acc.exceed_cell_ = std::move(cell);
  acc.exceed_max_ = std::move(max);
  acc.permutations_ = permutations;
  return acc;
}

std::vector<double> bh_qvalues(const std::vector<double>& p) {
  std::vector<double> q(p.size(), kNaN);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  const double n = static_cast<double>(order.size());
  // Step-up: q_(k) = min over j >= k of p_(j) n / j, capped at 1.
  double running = 1.0;
  for (std::size_t k = order.size(); k-- > 0;) {
    const std::size_t i = order[k];
    running = std::min(running, p[i] * n / static_cast<double>(k + 1));
    q[i] = running;
  }
  return q;
}

PInterval p_interval(std::int64_t exceed, std::int64_t m, double error) {
  if (!(error > 0.0 && error < 1.0)) throw std::invalid_argument("p_interval: error must be in (0, 1)");
  if (m == 0) return {};
  if (exceed < 0 || exceed > m || m < 0) {
    throw std::invalid_argument("p_interval: " + std::to_string(exceed) + " of " + std::to_string(m));
  }
  const double e = static_cast<double>(exceed);
  const double n = static_cast<double>(m);
  PInterval out;
  // Beta quantiles of the binomial's exact (Clopper-Pearson) limits.
  out.lo = exceed == 0 ? 0.0 : boost::math::ibeta_inv(e, n - e + 1.0, error / 2.0);
  out.hi = exceed == m ? 1.0 : boost::math::ibeta_inv(e + 1.0, n - e, 1.0 - error / 2.0);
  return out;
}

}  // namespace wsc::core

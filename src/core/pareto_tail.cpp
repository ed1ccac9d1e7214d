#include "wsc/core/pareto_tail.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace wsc::core {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Below this |xi| the exponential limit is used (relative error ~ |xi| y / sigma).
constexpr double kExponentialShape = 1e-12;

void check_scale(double scale) {
  if (!(scale > 0.0) || !std::isfinite(scale)) throw std::invalid_argument("GPD: scale must be positive and finite");
}

/// ln(1 - F(y)) for y > 0 inside the support; -inf beyond the end point.
double log_survival(double y, double shape, double scale) {
  if (std::fabs(shape) < kExponentialShape) return -y / scale;
  const double t = shape * y / scale;
  if (t <= -1.0) return -kInf;  // xi < 0: at or beyond the end point -sigma / xi
  return -std::log1p(t) / shape;
}

// Choulakian and Stephens (2001), Table 2: upper-tail critical values of A^2
// for the GPD with both parameters estimated, by k = -xi (rows) and level
// (columns).
constexpr std::array<double, 10> kTableK = {0.9, 0.5, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, -0.4, -0.5};
constexpr std::array<double, 8> kTableLevel = {0.5, 0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001};
constexpr std::array<std::array<double, 8>, 10> kTableA2 = {{
    {0.339, 0.471, 0.641, 0.771, 0.905, 1.086, 1.226, 1.559},
    {0.356, 0.499, 0.685, 0.830, 0.978, 1.180, 1.336, 1.707},
    {0.376, 0.534, 0.741, 0.903, 1.069, 1.296, 1.471, 1.893},
    {0.386, 0.550, 0.766, 0.935, 1.110, 1.348, 1.532, 1.966},
    {0.397, 0.569, 0.796, 0.974, 1.158, 1.409, 1.603, 2.064},
    {0.410, 0.591, 0.831, 1.020, 1.215, 1.481, 1.687, 2.176},
    {0.426, 0.617, 0.873, 1.074, 1.283, 1.567, 1.788, 2.314},
    {0.445, 0.649, 0.924, 1.140, 1.365, 1.672, 1.909, 2.475},
    {0.468, 0.688, 0.985, 1.221, 1.465, 1.799, 2.058, 2.674},
    {0.496, 0.735, 1.061, 1.321, 1.590, 1.958, 2.243, 2.922},
}};

}  // namespace

double gpd_survival(double y, double shape, double scale) {
  check_scale(scale);
  if (std::isnan(y)) return y;
  if (y <= 0.0) return 1.0;
  return std::exp(log_survival(y, shape, scale));
}

double gpd_cdf(double y, double shape, double scale) {
  check_scale(scale);
  if (std::isnan(y)) return y;
  if (y <= 0.0) return 0.0;
  return -std::expm1(log_survival(y, shape, scale));
}

double gpd_quantile(double p, double shape, double scale) {
  check_scale(scale);
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument("gpd_quantile: p must be in [0, 1]");
  if (p == 1.0) return shape < 0.0 ? -scale / shape : kInf;
  const double l = std::log1p(-p);  // ln(1 - p) = ln S(y)
  if (std::fabs(shape) < kExponentialShape) return -scale * l;
  return scale * std::expm1(-shape * l) / shape;
}

GpdParameters gpd_fit_moments(const std::vector<double>& exceedances) {
  const std::size_t n = exceedances.size();
  if (n < 2) throw std::invalid_argument("gpd_fit_moments: needs at least 2 exceedances");
  double mean = 0.0;
  for (double y : exceedances) mean += y;
  mean /= static_cast<double>(n);
  double ss = 0.0;
  for (double y : exceedances) ss += (y - mean) * (y - mean);
  const double var = ss / static_cast<double>(n - 1);
  if (!(var > 0.0)) throw std::invalid_argument("gpd_fit_moments: the exceedances have no spread");
  const double r = mean * mean / var;
  return {0.5 * (1.0 - r), 0.5 * mean * (1.0 + r)};
}

double anderson_darling_gpd(const std::vector<double>& exceedances, const GpdParameters& gpd) {
  check_scale(gpd.scale);
  const std::size_t n = exceedances.size();
  if (n == 0) throw std::invalid_argument("anderson_darling_gpd: no values");
  std::vector<double> y(exceedances);
  std::sort(y.begin(), y.end());
  std::vector<double> log_f(n), log_s(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!(y[i] > 0.0)) return kInf;  // F = 0
    log_s[i] = log_survival(y[i], gpd.shape, gpd.scale);
    if (log_s[i] == -kInf) return kInf;  // F = 1
    log_f[i] = std::log(-std::expm1(log_s[i]));
  }
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(2 * i + 1) * (log_f[i] + log_s[n - 1 - i]);
  }
  const double nd = static_cast<double>(n);
  return -nd - sum / nd;
}

double anderson_darling_gpd_p(double a2, double shape) {
  if (std::isnan(a2) || std::isnan(shape)) return std::nan("");
  if (a2 == kInf) return 0.0;
  // The row of critical values at k = -xi, linear between the table's rows.
  const double k = std::clamp(-shape, kTableK.back(), kTableK.front());
  std::size_t r = 0;
  while (r + 2 < kTableK.size() && k < kTableK[r + 1]) ++r;
  const double w = (kTableK[r] - k) / (kTableK[r] - kTableK[r + 1]);
  std::array<double, 8> crit{};
  for (std::size_t c = 0; c < crit.size(); ++c) crit[c] = (1.0 - w) * kTableA2[r][c] + w * kTableA2[r + 1][c];
  // The level at a2, linear between critical values and past the ends.
  std::size_t c = 0;
  while (c + 2 < crit.size() && a2 > crit[c + 1]) ++c;
  const double t = (a2 - crit[c]) / (crit[c + 1] - crit[c]);
  const double p = kTableLevel[c] + t * (kTableLevel[c + 1] - kTableLevel[c]);
  return std::clamp(p, 0.0, 1.0);
}

ParetoTailFit fit_pareto_tail(const std::vector<double>& null, const ParetoOptions& options) {
  ParetoTailFit fit;
  fit.null_size = static_cast<std::int64_t>(null.size());
  if (null.empty()) return fit;
  const double m = static_cast<double>(null.size());
  std::vector<double> v;
  v.reserve(null.size());
  for (double x : null) {
    if (!std::isnan(x)) v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  // Competitive ranks: ecdf[i] = #{v <= v[i]} / m, equal values sharing the largest.
  std::vector<double> ecdf(n);
  for (std::size_t i = n; i-- > 0;) {
    ecdf[i] = (i + 1 < n && v[i + 1] == v[i]) ? ecdf[i + 1] : static_cast<double>(i + 1) / m;
  }
  const int steps = static_cast<int>(std::floor((options.last_quantile - options.first_quantile) / options.quantile_step + 1e-9));
  std::vector<double> y;
  for (int s = 0; s <= steps; ++s) {
    const double q = options.first_quantile + options.quantile_step * static_cast<double>(s);
    const auto first = static_cast<std::size_t>(std::lower_bound(ecdf.begin(), ecdf.end(), q) - ecdf.begin());
    if (first == 0) continue;  // every value in the tail: no threshold below it
    const std::size_t count = n - first;
    if (count < 2 || static_cast<std::int64_t>(count) < options.min_exceedances) break;
    const double u = 0.5 * (v[first - 1] + v[first]);
    y.assign(v.begin() + static_cast<std::ptrdiff_t>(first), v.end());
    for (double& e : y) e -= u;
    GpdParameters gpd;
    try {
      gpd = gpd_fit_moments(y);
    } catch (const std::invalid_argument&) {
      continue;  // all tail values equal
    }
    const double p = anderson_darling_gpd_p(anderson_darling_gpd(y, gpd), gpd.shape);
    ++fit.thresholds_tried;
    fit.threshold = u;
    fit.quantile = q;
    fit.shape = gpd.shape;
    fit.scale = gpd.scale;
    fit.exceedances = static_cast<std::int64_t>(count);
    fit.gof_p = p;
    if (p > options.gof_alpha) {
      fit.accepted = true;
      break;
    }
  }
  return fit;
}

ParetoTailResult pareto_tail(const std::vector<double>& null, const std::vector<double>& observed,
                             const ParetoOptions& options) {
  ParetoTailResult result;
  result.fit = fit_pareto_tail(null, options);
  const std::int64_t m = static_cast<std::int64_t>(null.size());
  std::vector<double> v;
  v.reserve(null.size());
  for (double x : null) {
    if (!std::isnan(x)) v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  const ParetoTailFit& f = result.fit;
  result.values.reserve(observed.size());
  for (double x : observed) {
    TailPValue t;
    if (m == 0 || std::isnan(x)) {
      t.p = std::nan("");
      result.values.push_back(t);
      continue;
    }
    const auto at_least = static_cast<std::int64_t>(v.end() - std::lower_bound(v.begin(), v.end(), x));
    t.p = static_cast<double>(1 + at_least) / static_cast<double>(m + 1);
    if (f.accepted && x > f.threshold && t.p < options.p_threshold) {
      const double tail = static_cast<double>(f.exceedances) / static_cast<double>(m) *
                          gpd_survival(x - f.threshold, f.shape, f.scale);
      // Beyond the end point of a bounded fitted tail the fit says 0, which
      // no p-value is: the permutation p stands there (flagged beyond_end).
      if (tail > 0.0) {
        t.p = tail;
        t.approximate = true;
      } else {
        t.beyond_end = true;
      }
    }
    result.values.push_back(t);
  }
  return result;
}

}  // namespace wsc::core

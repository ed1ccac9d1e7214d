#pragma once
// A generalised Pareto (GPD) approximation of the upper tail of a permutation
// null, for p-values below the smallest one permutations can report,
// 1 / (m + 1) (Winkler et al. 2016, "Faster permutation inference in brain
// imaging", NeuroImage 141, after Knijnenburg et al. 2009; the method of FSL
// PALM's tail approximation).
//
// The GPD here is written with shape xi and scale sigma > 0:
//   F(y) = 1 - (1 + xi y / sigma)^(-1/xi)   (xi != 0),   1 - exp(-y / sigma)   (xi = 0),
// for y >= 0 (and y <= -sigma / xi when xi < 0). Hosking and Wallis (1987),
// Choulakian and Stephens (2001) and PALM write k = -xi.
#include <cstdint>
#include <vector>

namespace wsc::core {

/// F(y) of the GPD; 0 for y <= 0, 1 beyond the upper end point (xi < 0).
double gpd_cdf(double y, double shape, double scale);
/// 1 - F(y), computed without cancellation (accurate far into the tail).
double gpd_survival(double y, double shape, double scale);
/// The y with F(y) = p, p in [0, 1].
double gpd_quantile(double p, double shape, double scale);

struct GpdParameters {
  double shape = 0.0;  ///< xi
  double scale = 0.0;  ///< sigma
};

/// Method-of-moments estimates from exceedances (values above a threshold,
/// minus it): with mean y and variance s^2 (divisor n - 1),
/// xi = (1 - y^2 / s^2) / 2 and sigma = y (1 + y^2 / s^2) / 2 (Hosking and
/// Wallis 1987, section 3.2; PALM's estimator). Consistent for xi < 1/2.
/// Throws std::invalid_argument for fewer than 2 values or zero variance.
GpdParameters gpd_fit_moments(const std::vector<double>& exceedances);

/// The Anderson-Darling statistic A^2 of a sample against a GPD:
/// with u_(1) <= ... <= u_(n) the sorted F(y_i),
/// A^2 = -n - (1/n) sum_i (2i - 1) [ln u_(i) + ln(1 - u_(n+1-i))].
/// +inf when a value falls where F is 0 or 1.
double anderson_darling_gpd(const std::vector<double>& exceedances, const GpdParameters& gpd);

/// The p-value of A^2 for a GPD whose two parameters were estimated from
/// the same sample: Choulakian and Stephens (2001), Table 2 (critical values
/// at upper-tail levels 0.5 .. 0.001 for k = -xi from 0.9 to -0.5), linear
/// in k between rows (k clamped to the table's range) and linear in A^2
/// between levels (extrapolated linearly past them, clamped to [0, 1]).
double anderson_darling_gpd_p(double a2, double shape);

/// How the tail is fitted and when its p-value replaces the permutation one.
struct ParetoOptions {
  /// Thresholds tried: the tail is the null values whose empirical cdf
  /// (#{null <= v} / m) is at least q, for q = first_quantile,
  /// + quantile_step, ... up to last_quantile (PALM: 0.751 .. 0.971).
  double first_quantile = 0.751;
  double quantile_step = 0.01;
  double last_quantile = 0.971;
  /// A tail with fewer exceedances is not fitted (the search stops there).
  std::int64_t min_exceedances = 25;
  /// The fit is accepted at the first threshold whose Anderson-Darling
  /// p-value exceeds this.
  double gof_alpha = 0.05;
  /// Only permutation p-values below this are replaced (PALM's default 0.1).
  double p_threshold = 0.1;
};

/// The fitted tail of one null sample. When no threshold was accepted,
/// threshold .. gof_p describe the last one tried (all 0 when none was).
struct ParetoTailFit {
  bool accepted = false;         ///< a threshold passed the goodness-of-fit test
  double threshold = 0.0;        ///< u: midway between the last value below the tail and the first in it
  double quantile = 0.0;         ///< the q of that threshold
  double shape = 0.0;            ///< xi (PALM's k = -xi)
  double scale = 0.0;            ///< sigma
  std::int64_t exceedances = 0;  ///< null values in the tail (above u)
  double gof_p = 0.0;            ///< Anderson-Darling p-value of the fit
  std::int64_t null_size = 0;    ///< m, every value of the null (NaN included)
  int thresholds_tried = 0;      ///< thresholds fitted and tested
};

/// Searches the thresholds of `options` from the lowest up and fits the
/// GPD to the exceedances of each by gpd_fit_moments until the
/// Anderson-Darling test accepts (p > gof_alpha). Not accepted when no
/// threshold passes, when a tail has fewer than min_exceedances values
/// first, or when the null has no spread. NaN values of the null never
/// count as exceedances but count in m.
ParetoTailFit fit_pareto_tail(const std::vector<double>& null, const ParetoOptions& options = {});

struct TailPValue {
  double p = 0.0;            ///< the tail p where approximate, else the permutation p
  bool approximate = false;  ///< the GPD gave p
  /// Beyond the end point of the fitted (bounded) tail, where the fit gives
  /// 0: p is the permutation p, and the value lies beyond the fit's reach.
  bool beyond_end = false;
};

/// One null sample's fit and the p-values of observed statistics against it
/// (larger is more extreme).
struct ParetoTailResult {
  ParetoTailFit fit;
  std::vector<TailPValue> values;  ///< per observed value, in order
};

/// Per observed x: the permutation p = (1 + #{null >= x}) / (m + 1), and,
/// where the fit is accepted, x > u and that p < options.p_threshold, the
/// tail p = (exceedances / m) (1 - F(x - u)) instead (0 beyond the fitted
/// end point of a bounded tail). NaN for NaN x or m = 0.
ParetoTailResult pareto_tail(const std::vector<double>& null, const std::vector<double>& observed,
                             const ParetoOptions& options = {});

}  // namespace wsc::core

#pragma once
// Private to the core: the constants of the trust-region Newton method
// (LIBLINEAR's tron.cpp) and its starting point, shared by the single-head
// and batched solvers so both take the same steps.
#include "wsc/core/types.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace wsc::core::detail {

// Acceptance thresholds on actual / predicted reduction.
constexpr double kEta0 = 1e-4;
constexpr double kEta1 = 0.25;
constexpr double kEta2 = 0.75;
// Trust-region radius factors.
constexpr double kSigma1 = 0.25;
constexpr double kSigma2 = 0.5;
constexpr double kSigma3 = 4.0;
// Relative CG tolerance (LIBLINEAR's eps_cg), tightened near the optimum.
constexpr double kEpsCg = 0.1;
// Below this predicted reduction (relative to |f|) f(w) - f(w + s) is mostly
// cancellation noise; the reduction is then taken from gradients instead.
constexpr double kSmallReduction = 1e-6;

/// The biases of the intercept-only optimum (W = 0): log of the class
/// frequencies of the counted rows. An absent class (whose optimal bias is
/// -infinity) gets log(half the least present frequency). With imbalanced
/// classes this saves outer iterations over starting at zero; with balanced
/// ones it is the same point (up to the flat all-classes shift).
inline Vector intercept_start(const Vector& class_totals) {
  const double total = class_totals.sum();
  double least = std::numeric_limits<double>::infinity();
  for (Index k = 0; k < class_totals.size(); ++k)
    if (class_totals(k) > 0.0) least = std::min(least, class_totals(k) / total);
  Vector bias(class_totals.size());
  for (Index k = 0; k < class_totals.size(); ++k) {
    bias(k) = class_totals(k) > 0.0 ? std::log(class_totals(k) / total) : std::log(0.5 * least);
  }
  return bias;
}

}  // namespace wsc::core::detail

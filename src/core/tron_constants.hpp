#pragma once
// Private to the core: the constants of the trust-region Newton method
// (LIBLINEAR's tron.cpp), shared by the single-head and batched solvers so
// both take the same steps.

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

}  // namespace wsc::core::detail

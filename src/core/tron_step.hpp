#pragma once
// Private to the core: the trust-region Newton step of one head (the TRON
// method of LIBLINEAR's tron.cpp: Lin, Weng & Keerthi 2008; preconditioned CG
// of Hsia, Chiang & Lin 2018), shared by the single-head solver
// (trust_region_newton.cpp) and the batched one (batched_newton.cpp), which
// therefore take the same steps. The solvers own the passes over the rows
// (values, gradients, Hessian-vector products); this file owns every decision:
// the truncated CG with the Kronecker-factored preconditioner
// (kron_preconditioner.hpp), the step's model reduction, the radius update
// and the acceptance rule, and the stopping tests.
//
// One outer iteration of a head h, with the solver's passes in brackets:
//
//   begin_iteration(h);
//   while (cg_wants_product(h)) { [h.hd = H h.dir]; cg_step(h); }
//   if (propose_step(h)) {
//     [f_new, g_new, g_max_new at h.w_new; m_new there if accepted];
//     if (judge_step(h)) accept_step(h);
//   }
//
// repeated while wants_iteration(h). Every branch depends only on values,
// gradients and Hessian products that came out of a reduction, so all
// participants of a distributed fit take the same path and make the same
// collective calls.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"

#include "kron_preconditioner.hpp"

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

/// The state of one head. Parameters are in the solvers' centred
/// coordinates u = (W, b + W m), m the mean of the head's counted rows,
/// packed like SoftmaxObjective (C x d column-major W, then the C biases).
struct TronState {
  Vector w, g;          // current point and its gradient (in u)
  double f = 0.0;       // objective at w
  double g_max = 0.0;   // gradient max-norm in the original parameters
  double delta = 0.0;   // trust-region radius (in the M-norm)
  KronPreconditioner m;  // M at w

  Vector w_new, g_new;  // trial point and its evaluation
  double f_new = 0.0;
  double g_max_new = 0.0;
  KronPreconditioner m_new;  // M at w_new (needed only if accepted)

  // Truncated CG (Steihaug-Toint in the M-norm; ms = M s, md = M dir).
  Vector s, r, z, dir, hd, ms, md;
  double ztr = 0.0;
  double cg_tol = 0.0;
  int cg_iterations = 0;
  int max_cg = 0;
  bool cg_running = false;
  bool reached_boundary = false;
  double gs = 0.0;      // g^T s
  double prered = 0.0;  // model reduction of s

  FitReport report;
  bool stopped = false;        // left without convergence (step too small, no reduction)
  bool exact_hessian = false;  // double Hessian products (after a rejected step)
};

/// The biases of the intercept-only optimum (W = 0): log of the class
/// frequencies of the counted rows. An absent class (whose optimal bias is
/// -infinity) gets log(half the least present frequency). With imbalanced
/// classes this saves outer iterations over starting at zero; with balanced
/// ones it is the same point (up to the flat all-classes shift).
Vector intercept_start(const Vector& class_totals);

/// The initial radius, once w, g and m are set: the M-norm of the
/// preconditioned gradient M^{-1} g (it scales with the objective; for M = I
/// it is LIBLINEAR's |g|).
void start_radius(TronState& h);

/// Whether h takes another outer iteration: not stopped, gradient max-norm
/// above options.tol, fewer than options.max_iter iterations.
bool wants_iteration(const TronState& h, const SolverOptions& options);

/// Whether the Hessian products of h go through float GEMMs
/// (options.float_hessian, until a step of h is rejected).
bool uses_float_hessian(const TronState& h, const SolverOptions& options);

/// Counts the outer iteration and starts the CG on H s = -g (s = 0).
void begin_iteration(TronState& h);

/// Whether the CG of h needs another step; if so, counts it, and the caller
/// sets h.hd = H h.dir (at w) and calls cg_step(h).
bool cg_wants_product(TronState& h);

/// One preconditioned CG step inside ||s||_M <= delta, after hd = H dir.
/// Stops the CG at the boundary or without positive curvature along dir.
void cg_step(TronState& h);

/// After the CG: the trial point w_new = w + s, or false (and h stopped)
/// when s cannot move w in floating point or predicts no reduction.
bool propose_step(TronState& h);

/// After the trial point's evaluation (f_new, g_new, g_max_new): the radius
/// update and the acceptance rule. Returns whether the step is accepted; a
/// rejected step switches h to double Hessian products (the float ones may
/// have misled the CG).
bool judge_step(TronState& h);

/// Makes the trial point, with its evaluation and m_new, the current point.
void accept_step(TronState& h);

/// The final report: iterations so far, convergence, gradient, objective.
FitReport final_report(const TronState& h, const SolverOptions& options);

/// The head of centred parameters u (mean: the centre m of u), with the
/// canonical representative of the flat bias direction: biases summing to
/// zero (what scikit-learn's multinomial fit returns; probabilities, value
/// and gradient are unchanged by the shift).
ProbeHead head_from_centred(const Vector& u, const Vector& mean, Index classes);

}  // namespace wsc::core::detail

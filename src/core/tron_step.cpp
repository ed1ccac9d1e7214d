#include "tron_step.hpp"

#include "wsc/core/softmax_objective.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace wsc::core::detail {

Vector intercept_start(const Vector& class_totals) {
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

void start_radius(TronState& h) {
  h.m.solve(h.g, h.z);
  h.delta = std::sqrt(h.g.dot(h.z));
}

bool wants_iteration(const TronState& h, const SolverOptions& options) {
  return !h.stopped && !(h.g_max <= options.tol) && h.report.iterations < options.max_iter;
}

bool uses_float_hessian(const TronState& h, const SolverOptions& options) {
  return options.float_hessian && !h.exact_hessian;
}

void begin_iteration(TronState& h) {
  ++h.report.iterations;
  const Index p = h.g.size();
  h.s = Vector::Zero(p);
  h.ms = Vector::Zero(p);
  h.r = -h.g;
  h.m.solve(h.r, h.z);
  h.dir = h.z;
  h.md = h.r;
  h.ztr = h.z.dot(h.r);
  const double g_norm = std::sqrt(h.ztr);
  // Relative tolerance min(eps, sqrt(|g|)): a truncated Newton method with a
  // forcing term that vanishes at the optimum converges superlinearly.
  h.cg_tol = std::min(kEpsCg, std::sqrt(g_norm)) * g_norm;
  h.max_cg = static_cast<int>(std::max<Index>(p, 5));
  h.cg_iterations = 0;
  h.cg_running = true;
  h.reached_boundary = false;
}

bool cg_wants_product(TronState& h) {
  if (!h.cg_running) return false;
  if (h.cg_iterations >= h.max_cg || !(std::sqrt(h.ztr) > h.cg_tol)) {
    h.cg_running = false;
    return false;
  }
  ++h.cg_iterations;
  return true;
}

// Steihaug-Toint CG in the M-norm (LIBLINEAR's trpcg with a full M). M s and
// M dir are carried along (M dir = r + beta M dir_prev, as M z = r), so the
// M-norms cost dot products, not applications of M. Throughout,
// r = -g - H s (which gives the model reduction cheaply).
void cg_step(TronState& h) {
  const double dhd = h.dir.dot(h.hd);
  // No positive curvature along dir (only possible with l2 = 0): stop here.
  if (!(dhd > 0.0)) {
    h.cg_running = false;
    return;
  }
  double alpha = h.ztr / dhd;
  const double std_ = h.s.dot(h.md);
  const double sts = h.s.dot(h.ms);
  const double dtd = h.dir.dot(h.md);
  const double dsq = h.delta * h.delta;
  if (sts + alpha * (2.0 * std_ + alpha * dtd) > dsq) {
    // Go to the boundary along dir instead: the positive root tau of
    // ||s + tau dir||_M = delta, in the cancellation-free form.
    h.reached_boundary = true;
    const double rad = std::sqrt(std::max(0.0, std_ * std_ + dtd * (dsq - sts)));
    alpha = std_ >= 0.0 ? (dsq - sts) / (std_ + rad) : (rad - std_) / dtd;
    h.s += alpha * h.dir;
    h.ms += alpha * h.md;
    h.r -= alpha * h.hd;
    h.cg_running = false;
    return;
  }
  h.s += alpha * h.dir;
  h.ms += alpha * h.md;
  h.r -= alpha * h.hd;
  h.m.solve(h.r, h.z);
  const double ztr_new = h.z.dot(h.r);
  const double beta = ztr_new / h.ztr;
  h.dir = h.z + beta * h.dir;
  h.md = h.r + beta * h.md;
  h.ztr = ztr_new;
}

bool propose_step(TronState& h) {
  h.report.inner_iterations += h.cg_iterations;
  const double step_eps = std::numeric_limits<double>::epsilon();
  // A step that cannot move w in floating point ends the fit (not converged).
  if (!(h.s.lpNorm<Eigen::Infinity>() > step_eps * std::max(1.0, h.w.lpNorm<Eigen::Infinity>()))) {
    h.stopped = true;
    return false;
  }
  h.gs = h.g.dot(h.s);
  // Model reduction -(g^T s + s^T H s / 2), with H s = -g - r.
  h.prered = -0.5 * (h.gs - h.s.dot(h.r));
  if (!(h.prered > 0.0)) {
    h.stopped = true;
    return false;
  }
  h.w_new = h.w + h.s;
  return true;
}

bool judge_step(TronState& h) {
  double actred = h.f - h.f_new;
  if (h.prered <= kSmallReduction * std::abs(h.f)) {
    // Near the optimum f - f_new is lost in rounding; the trapezoid rule
    // -(g + g_new)^T s / 2 is accurate to O(|s|^3) and free of cancellation.
    actred = -0.5 * (h.g + h.g_new).dot(h.s);
  }
  const double s_norm = std::sqrt(h.s.dot(h.ms));
  if (h.report.iterations == 1) h.delta = std::min(h.delta, s_norm);

  // Step length predicted by interpolating f along s (LIBLINEAR).
  const double gs = h.gs;
  const double curvature = -actred - gs;  // f_new - f - g^T s
  const double alpha = curvature <= 0.0 ? kSigma3 : std::max(kSigma1, -0.5 * (gs / curvature));
  double& delta = h.delta;
  if (actred < kEta0 * h.prered) {
    delta = std::min(alpha * s_norm, kSigma2 * delta);
  } else if (actred < kEta1 * h.prered) {
    delta = std::max(kSigma1 * delta, std::min(alpha * s_norm, kSigma2 * delta));
  } else if (actred < kEta2 * h.prered) {
    delta = std::max(kSigma1 * delta, std::min(alpha * s_norm, kSigma3 * delta));
  } else if (h.reached_boundary) {
    delta = kSigma3 * delta;
  } else {
    delta = std::max(delta, std::min(alpha * s_norm, kSigma3 * delta));
  }
  const bool accepted = actred > kEta0 * h.prered;
  if (!accepted) h.exact_hessian = true;
  return accepted;
}

void accept_step(TronState& h) {
  h.w.swap(h.w_new);
  h.g.swap(h.g_new);
  h.f = h.f_new;
  h.g_max = h.g_max_new;
  std::swap(h.m, h.m_new);
}

FitReport final_report(const TronState& h, const SolverOptions& options) {
  FitReport report = h.report;
  report.converged = h.g_max <= options.tol;
  report.grad_max_norm = h.g_max;
  report.objective = h.f;
  return report;
}

ProbeHead head_from_centred(const Vector& u, const Vector& mean, Index classes) {
  const Index d = mean.size();
  Vector theta = u;
  theta.tail(classes).noalias() -= Eigen::Map<const Matrix>(u.data(), classes, d) * mean;
  ProbeHead head = SoftmaxObjective::unpack(theta, classes, d);
  head.bias.array() -= head.bias.mean();
  return head;
}

}  // namespace wsc::core::detail

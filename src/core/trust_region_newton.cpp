#include "wsc/core/trust_region_newton.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

// Follows LIBLINEAR's tron.cpp (Lin, Weng & Keerthi 2008; preconditioned CG
// of Hsia, Chiang & Lin 2018), with a Kronecker-factored preconditioner
// (kron_preconditioner.hpp) in place of LIBLINEAR's diagonal one: on
// correlated features (embeddings) it cuts the CG steps many-fold, and the
// CG works in its full M-norm. Every branch below depends only on values,
// gradients and Hessian products that came out of the objective's reduction,
// so all participants of a distributed fit take the same path and issue the
// same sequence of collective calls.

#include "kron_preconditioner.hpp"
#include "tron_constants.hpp"

namespace wsc::core {

namespace {

using namespace detail;  // the TRON constants (tron_constants.hpp), the preconditioner

/// The objective in centred coordinates u = (W, b + W m), m the mean of the
/// counted rows: logits = (x - m) W^T + b'. A linear change of variables
/// theta = T u with T(W, b') = (W, b' - W m), so the optimum is the same, but
/// the bias no longer competes with W along the mean direction: features
/// with a large common offset (typical of embeddings) would otherwise make
/// the Hessian badly conditioned and CG slow. Gradients map as T^T g and
/// Hessian products as T^T H T; both cost O(C d).
class CentredObjective {
 public:
  explicit CentredObjective(SoftmaxObjective& objective)
      : objective_(objective),
        mean_(objective.row_mean()),
        classes_(objective.classes()),
        dim_(objective.dim()) {}

  /// theta = T u.
  Vector to_theta(const Vector& u) const {
    Vector theta = u;
    theta.tail(classes_).noalias() -= weights(u) * mean_;
    return theta;
  }

  /// u = T^{-1} theta.
  Vector from_theta(const Vector& theta) const {
    Vector u = theta;
    u.tail(classes_).noalias() += weights(theta) * mean_;
    return u;
  }

  /// Value and gradient in u; `gradient_max_norm` gets the max-norm of the
  /// gradient in the original parameters (the stopping test of the contract).
  double value_and_gradient(const Vector& u, Vector& gradient, double& gradient_max_norm) {
    const double f = objective_.value_and_gradient(to_theta(u), theta_gradient_);
    gradient_max_norm = theta_gradient_.lpNorm<Eigen::Infinity>();
    gradient = transpose_map(theta_gradient_);
    return f;
  }

  /// use_float: SoftmaxObjective::hessian_vector_float.
  void hessian_vector(const Vector& v, Vector& hv, bool use_float) const {
    if (use_float) {
      objective_.hessian_vector_float(to_theta(v), theta_hv_);
    } else {
      objective_.hessian_vector(to_theta(v), theta_hv_);
    }
    hv = transpose_map(theta_hv_);
  }

  Matrix mean_curvature() const { return objective_.mean_curvature(); }
  Vector row_moments() const { return objective_.row_moments(); }
  double l2() const { return objective_.l2(); }
  Index dim() const { return dim_; }
  Index classes() const { return classes_; }

 private:
  Eigen::Map<const Matrix> weights(const Vector& v) const {
    return Eigen::Map<const Matrix>(v.data(), classes_, dim_);
  }

  /// T^T g: the W block loses g_b m^T, the bias block is unchanged.
  Vector transpose_map(const Vector& g) const {
    Vector out = g;
    Eigen::Map<Matrix>(out.data(), classes_, dim_).noalias() -=
        g.tail(classes_) * mean_.transpose();
    return out;
  }

  SoftmaxObjective& objective_;
  const Vector& mean_;
  Index classes_;
  Index dim_;
  Vector theta_gradient_;
  mutable Vector theta_hv_;
};

struct CgResult {
  int iterations = 0;
  bool reached_boundary = false;
};

/// Preconditioned CG on H s = -g inside ||s||_M <= delta: Steihaug-Toint CG
/// in the M-norm (LIBLINEAR's trpcg with a full M). M s and M d are carried
/// along (M d = r + beta M d_prev, as M z = r), so the M-norms cost dot
/// products, not applications of M. On return r = -g - H s (which gives the
/// model reduction cheaply) and ms = M s.
CgResult truncated_cg(const CentredObjective& objective, const Vector& g,
                      const KronPreconditioner& m, double delta, bool float_hessian, Vector& s,
                      Vector& r, Vector& ms) {
  const Index n = g.size();
  CgResult result;
  s = Vector::Zero(n);
  ms = Vector::Zero(n);
  r = -g;
  Vector z;
  m.solve(r, z);
  Vector d = z;
  Vector md = r;
  Vector hd(n);
  double ztr = z.dot(r);
  const double g_norm = std::sqrt(ztr);
  // Relative tolerance min(eps, sqrt(|g|)): a truncated Newton method with a
  // forcing term that vanishes at the optimum converges superlinearly.
  const double cg_tol = std::min(kEpsCg, std::sqrt(g_norm)) * g_norm;
  const int max_cg = static_cast<int>(std::max<Index>(n, 5));
  const double dsq = delta * delta;

  while (result.iterations < max_cg) {
    if (!(std::sqrt(ztr) > cg_tol)) break;
    ++result.iterations;
    objective.hessian_vector(d, hd, float_hessian);
    const double dhd = d.dot(hd);
    // No positive curvature along d (only possible with l2 = 0): stop here.
    if (!(dhd > 0.0)) break;
    double alpha = ztr / dhd;
    const double std_ = s.dot(md);
    const double sts = s.dot(ms);
    const double dtd = d.dot(md);
    if (sts + alpha * (2.0 * std_ + alpha * dtd) > dsq) {
      // Go to the boundary along d instead: the positive root tau of
      // ||s + tau d||_M = delta, in the cancellation-free form.
      result.reached_boundary = true;
      const double rad = std::sqrt(std::max(0.0, std_ * std_ + dtd * (dsq - sts)));
      alpha = std_ >= 0.0 ? (dsq - sts) / (std_ + rad) : (rad - std_) / dtd;
      s += alpha * d;
      ms += alpha * md;
      r -= alpha * hd;
      break;
    }
    s += alpha * d;
    ms += alpha * md;
    r -= alpha * hd;
    m.solve(r, z);
    const double ztr_new = z.dot(r);
    const double beta = ztr_new / ztr;
    d = z + beta * d;
    md = r + beta * md;
    ztr = ztr_new;
  }
  return result;
}

}  // namespace

FitReport fit_trust_region_newton(SoftmaxObjective& objective, ProbeHead& head,
                                  const SolverOptions& options) {
  if (!(options.tol >= 0.0)) throw std::invalid_argument("solver: tol must be >= 0");
  if (options.max_iter < 0) throw std::invalid_argument("solver: max_iter must be >= 0");
  if (head.classes() != objective.classes() || head.dim() != objective.dim()) {
    throw std::invalid_argument("solver: start head does not match the objective's shape");
  }

  CentredObjective centred(objective);
  FitReport report;
  Vector w = centred.from_theta(SoftmaxObjective::pack(head));
  Vector g;
  double g_max = 0.0;
  double f = centred.value_and_gradient(w, g, g_max);
  // The feature factor of the preconditioner, once (kron_preconditioner.hpp).
  const FeatureBasis basis = feature_basis(centred.row_moments().data(), centred.dim());
  KronPreconditioner m;
  m.reset(basis, centred.mean_curvature(), centred.l2());
  // Initial radius: the M-norm of the preconditioned gradient M^{-1} g (it
  // scales with the objective; for M = I it is LIBLINEAR's |g|).
  Vector s, r, ms, w_new, g_new, g_restore;
  m.solve(g, s);
  double delta = std::sqrt(g.dot(s));

  double g_max_new = 0.0;
  // Float Hessian products until a step is rejected (options.float_hessian).
  bool float_hessian = options.float_hessian;
  const double step_eps = std::numeric_limits<double>::epsilon();
  while (!(g_max <= options.tol) && report.iterations < options.max_iter) {
    ++report.iterations;
    const CgResult cg = truncated_cg(centred, g, m, delta, float_hessian, s, r, ms);
    report.inner_iterations += cg.iterations;

    // A step that cannot move w in floating point ends the fit (not converged).
    if (!(s.lpNorm<Eigen::Infinity>() > step_eps * std::max(1.0, w.lpNorm<Eigen::Infinity>()))) {
      break;
    }
    const double gs = g.dot(s);
    // Model reduction -(g^T s + s^T H s / 2), with H s = -g - r.
    const double prered = -0.5 * (gs - s.dot(r));
    if (!(prered > 0.0)) break;

    w_new = w + s;
    const double f_new = centred.value_and_gradient(w_new, g_new, g_max_new);
    double actred = f - f_new;
    if (prered <= kSmallReduction * std::abs(f)) {
      // Near the optimum f - f_new is lost in rounding; the trapezoid rule
      // -(g + g_new)^T s / 2 is accurate to O(|s|^3) and free of cancellation.
      actred = -0.5 * (g + g_new).dot(s);
    }

    const double s_norm = std::sqrt(s.dot(ms));
    if (report.iterations == 1) delta = std::min(delta, s_norm);

    // Step length predicted by interpolating f along s (LIBLINEAR).
    const double curvature = -actred - gs;  // f_new - f - g^T s
    const double alpha =
        curvature <= 0.0 ? kSigma3 : std::max(kSigma1, -0.5 * (gs / curvature));
    if (actred < kEta0 * prered) {
      delta = std::min(alpha * s_norm, kSigma2 * delta);
    } else if (actred < kEta1 * prered) {
      delta = std::max(kSigma1 * delta, std::min(alpha * s_norm, kSigma2 * delta));
    } else if (actred < kEta2 * prered) {
      delta = std::max(kSigma1 * delta, std::min(alpha * s_norm, kSigma3 * delta));
    } else if (cg.reached_boundary) {
      delta = kSigma3 * delta;
    } else {
      delta = std::max(delta, std::min(alpha * s_norm, kSigma3 * delta));
    }

    if (actred > kEta0 * prered) {
      // Accept: the objective's cache is already at w_new.
      w.swap(w_new);
      g.swap(g_new);
      f = f_new;
      g_max = g_max_new;
      m.reset(basis, centred.mean_curvature(), centred.l2());
    } else {
      // The float products may have misled the CG: double ones from now on.
      float_hessian = false;
      // Reject: put the objective's cached point back at w for the next
      // Hessian products (deterministic, so f and g are unchanged).
      double ignored = 0.0;
      centred.value_and_gradient(w, g_restore, ignored);
    }
  }

  report.converged = g_max <= options.tol;
  report.grad_max_norm = g_max;
  report.objective = f;
  head = SoftmaxObjective::unpack(centred.to_theta(w), objective.classes(), objective.dim());
  // Canonical representative of the flat bias direction: biases summing to
  // zero (what scikit-learn's multinomial fit returns). Probabilities, value
  // and gradient are unchanged by the shift.
  head.bias.array() -= head.bias.mean();
  return report;
}

ProbeHead fit_probe(const RowMatrix& x, const Labels& y, int classes, double l2,
                    const SolverOptions& options, const SumReduce& reduce, FitReport* report) {
  SoftmaxObjective objective(x, y, classes, l2, reduce);
  ProbeHead head;
  head.weight = Matrix::Zero(classes, x.cols());
  head.bias = detail::intercept_start(objective.class_totals());
  const FitReport fit = fit_trust_region_newton(objective, head, options);
  if (report != nullptr) *report = fit;
  return head;
}

}  // namespace wsc::core

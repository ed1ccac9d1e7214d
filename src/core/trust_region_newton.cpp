#include "wsc/core/trust_region_newton.hpp"

#include <stdexcept>

// The TRON step of tron_step.hpp on one SoftmaxObjective: every pass over the
// rows is one of the objective's (collective) calls, and every decision is
// the shared step's, on values that came out of the objective's reduction.

#include "kron_preconditioner.hpp"
#include "tron_step.hpp"

namespace wsc::core {

namespace {

using namespace detail;  // the shared TRON step (tron_step.hpp), the preconditioner

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

}  // namespace

FitReport fit_trust_region_newton(SoftmaxObjective& objective, ProbeHead& head,
                                  const SolverOptions& options) {
  if (!(options.tol >= 0.0)) throw std::invalid_argument("solver: tol must be >= 0");
  if (options.max_iter < 0) throw std::invalid_argument("solver: max_iter must be >= 0");
  if (head.classes() != objective.classes() || head.dim() != objective.dim()) {
    throw std::invalid_argument("solver: start head does not match the objective's shape");
  }

  CentredObjective centred(objective);
  TronState h;
  h.w = centred.from_theta(SoftmaxObjective::pack(head));
  h.f = centred.value_and_gradient(h.w, h.g, h.g_max);
  // The feature factor of the preconditioner, once (kron_preconditioner.hpp).
  const FeatureBasis basis = feature_basis(centred.row_moments().data(), centred.dim());
  h.m.reset(basis, centred.mean_curvature(), centred.l2());
  start_radius(h);

  Vector g_restore;
  while (wants_iteration(h, options)) {
    begin_iteration(h);
    while (cg_wants_product(h)) {
      centred.hessian_vector(h.dir, h.hd, uses_float_hessian(h, options));
      cg_step(h);
    }
    if (!propose_step(h)) break;
    h.f_new = centred.value_and_gradient(h.w_new, h.g_new, h.g_max_new);
    if (judge_step(h)) {
      // The objective's cache is already at w_new.
      h.m_new.reset(basis, centred.mean_curvature(), centred.l2());
      accept_step(h);
    } else {
      // Put the objective's cached point back at w for the next Hessian
      // products (deterministic, so f and g are unchanged).
      double ignored = 0.0;
      centred.value_and_gradient(h.w, g_restore, ignored);
    }
  }
  head = head_from_centred(h.w, objective.row_mean(), objective.classes());
  return final_report(h, options);
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

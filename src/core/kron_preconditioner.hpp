#pragma once
// Private to the core: the Kronecker-factored preconditioner of the TRON step
// (tron_step.hpp). The solvers (trust_region_newton.cpp, batched_newton.cpp)
// make the feature factor once per fit and reset M at every accepted point.
//
// In the centred coordinates u = (W, b') of the solvers (features x - m, m the
// mean of the counted rows) the Hessian of the mean cross-entropy is
//
//   H_WW = (1/N) sum_i A_i (x) (x_i - m)(x_i - m)^T + l2 I,
//   H_bb = (1/N) sum_i A_i,   H_Wb = (1/N) sum_i A_i (x) (x_i - m),
//
// with A_i = diag(p_i) - p_i p_i^T (C x C). Replacing A_i by its mean A and
// the rows' outer products by their covariance S gives H_WW ~ A (x) S + l2 I
// and H_Wb ~ A (x) mean_i(x_i - m) = 0: block-diagonal, and each block is
// inverted through eigendecompositions, S = V diag(lambda) V^T once per fit
// and A = Q diag(a) Q^T per point. On W (C x d, W(k, j) of class k, feature
// j) the preconditioner acts as M(W) = A W S + l2 W, so
//
//   M^{-1}(R) = Q [ (Q^T R V) ./ (a_k lambda_j + l2) ] V^T.
//
// The bias block is H_bb = A itself. A is singular along the all-ones class
// vector (softmax is shift invariant; no gradient ever has a component
// there), so the bias block uses A + tau 11^T / C with tau = trace(A) / C,
// which has the same eigenvectors (A 1 = 0) and is invertible; the W block
// uses A's own eigenvalues (the Rayleigh quotients q_k^T A q_k), which gives
// the ones direction its exact curvature l2.
//
// S is the covariance of all rows of x, labelled or not, the same for every
// head of a batch: heads that skip rows have a slightly different
// covariance, which only makes the preconditioner a little less exact.
#include "wsc/core/row_invariants.hpp"
#include "wsc/core/types.hpp"

#include "wsc/core/eigen.hpp"

#include <algorithm>
#include <limits>

namespace wsc::core::detail {

/// The sums the feature covariance is made of, of the rows of x on this
/// participant, into out[0 .. d*d + d]: [x^T x (d x d, column-major) |
/// x^T 1 (d) | rows (1)]. Summed over participants by one reduce.
inline void row_moments(const RowMatrix& x, double* out) {
  const Index d = x.cols();
  Eigen::Map<Matrix> xx(out, d, d);
  xx.setZero();
  if (x.rows() > 0) {
    xx.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    xx.triangularView<Eigen::StrictlyUpper>() = xx.transpose();
  }
  Eigen::Map<Vector>(out + d * d, d) = x.colwise().sum().transpose();
  out[d * d + d] = static_cast<double>(x.rows());
}

inline Index row_moments_size(Index d) { return d * d + d + 1; }

/// The basis from reduced row_moments() sums.
inline FeatureBasis feature_basis(const double* moments, Index d) {
  const Eigen::Map<const Matrix> xx(moments, d, d);
  const Eigen::Map<const Vector> sum(moments + d * d, d);
  const double rows = moments[d * d + d];
  Matrix s = Matrix::Zero(d, d);
  if (rows > 0.0) {
    const Vector mean = sum / rows;
    s = xx / rows - mean * mean.transpose();
  }
  FeatureBasis basis;
  if (d == 0) return basis;
  const Eigen::SelfAdjointEigenSolver<Matrix> eigen(s);
  basis.vectors = eigen.eigenvectors();
  // Cancellation can leave tiny negatives where the true value is ~0.
  basis.values = eigen.eigenvalues().cwiseMax(0.0);
  return basis;
}

/// Adds the local sum of A_i = diag(p_i) - p_i p_i^T over the rows of the
/// n x C probabilities p (rows of skipped rows are zero and add nothing),
/// weighted row by row by the n values at `weights` if given, to `out`
/// (C x C, column-major).
template <typename Probabilities>
void add_curvature_sum(const Probabilities& p, const double* weights, double* out) {
  const Index c = p.cols();
  Eigen::Map<Matrix> a(out, c, c);
  if (weights == nullptr) {
    a.noalias() -= p.transpose() * p;
    a.diagonal() += p.colwise().sum().transpose();
  } else {
    const Eigen::Map<const Vector> w(weights, p.rows());
    a.noalias() -= p.transpose() * w.asDiagonal() * p;
    a.diagonal().noalias() += p.transpose() * w;
  }
}

/// M^{-1} of one head at one point: M = A (x) S + l2 I on W, A + tau 11^T / C
/// on the bias (see the top of this file).
class KronPreconditioner {
 public:
  /// `curvature`: the mean A over the counted rows (C x C, symmetric).
  void reset(const FeatureBasis& basis, const Matrix& curvature, double l2) {
    basis_ = &basis;
    const Index c = curvature.rows();
    const double tau = curvature.trace() / static_cast<double>(c);
    const Matrix a = 0.5 * (curvature + curvature.transpose());
    const Matrix shifted = a + Matrix::Constant(c, c, tau / static_cast<double>(c));
    const Eigen::SelfAdjointEigenSolver<Matrix> eigen(shifted);
    q_ = eigen.eigenvectors();
    // Eigenvalues of A itself along the common eigenvectors.
    const Vector a_values = (q_.transpose() * a * q_).diagonal().cwiseMax(0.0);
    inv_w_ = (a_values * basis.values.transpose()).array() + l2;
    inv_b_ = eigen.eigenvalues();
    // Floored like the diagonal preconditioner of LIBLINEAR: l2 = 0 with a
    // constant feature (lambda_j = 0) must not divide by zero.
    const double top = std::max(inv_w_.size() > 0 ? inv_w_.maxCoeff() : 0.0, inv_b_.maxCoeff());
    const double floor = std::max(1e-12 * top, std::numeric_limits<double>::min());
    inv_w_ = inv_w_.cwiseMax(floor).cwiseInverse();
    inv_b_ = inv_b_.cwiseMax(floor).cwiseInverse();
  }

  /// z = M^{-1} r (r, z packed as the solvers' parameters: C x d W, then C biases).
  void solve(const Vector& r, Vector& z) const {
    const Index c = q_.rows();
    const Index d = basis_->values.size();
    z.resize(r.size());
    const Eigen::Map<const Matrix> rw(r.data(), c, d);
    Eigen::Map<Matrix> zw(z.data(), c, d);
    work_.noalias() = q_.transpose() * rw;
    rotated_.noalias() = work_ * basis_->vectors;
    rotated_.array() *= inv_w_.array();
    work_.noalias() = rotated_ * basis_->vectors.transpose();
    zw.noalias() = q_ * work_;
    bias_.noalias() = q_.transpose() * r.tail(c);
    bias_.array() *= inv_b_.array();
    z.tail(c).noalias() = q_ * bias_;
  }

 private:
  const FeatureBasis* basis_ = nullptr;
  Matrix q_;       // C x C eigenvectors of A + tau 11^T / C
  Matrix inv_w_;   // C x d: 1 / (a_k lambda_j + l2)
  Vector inv_b_;   // C: 1 / eigenvalues of A + tau 11^T / C
  mutable Matrix work_, rotated_;
  mutable Vector bias_;
};

}  // namespace wsc::core::detail

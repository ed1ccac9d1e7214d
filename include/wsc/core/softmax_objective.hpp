#pragma once
// The probe objective: mean cross-entropy of a multinomial softmax head with
// intercept plus l2/2 |W|^2 (bias not penalised), over the rows of a task.
// Evaluated on a block of rows; the reduction sums partial results over all
// blocks, so the same code is the serial and the distributed objective.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/types.hpp"

namespace wsc::core {

/// Parameters are packed as a C x (d+1) matrix theta = [W | b], flattened
/// column-major into a vector of length C*(d+1).
class SoftmaxObjective {
 public:
  /// x: this participant's rows (n x d). y: n labels, negative = skip row.
  /// classes: C >= 2. The global number of counted rows is obtained through
  /// `reduce` at construction (collective).
  SoftmaxObjective(const RowMatrix& x, const Labels& y, int classes, double l2, SumReduce reduce);

  Index classes() const { return classes_; }
  Index dim() const { return x_.cols(); }
  Index parameters() const { return classes_ * (x_.cols() + 1); }
  /// The L2 penalty on W (the solver scales its preconditioner with it).
  double l2() const { return l2_; }
  /// Rows counted over all participants (labels >= 0).
  double total_rows() const { return total_rows_; }
  /// Counted rows per class over all participants (C).
  const Vector& class_totals() const { return class_totals_; }

  /// Objective value and gradient at theta; caches the probabilities so that
  /// a following hessian_vector() uses this point. Collective.
  double value_and_gradient(const Vector& theta, Vector& gradient);

  /// Hessian-vector product at the point of the last value_and_gradient().
  /// Collective.
  void hessian_vector(const Vector& v, Vector& hv) const;

  /// hessian_vector() with its two GEMMs in single precision, over a float
  /// copy of the rows centred on the mean of all rows (made on first use:
  /// n d floats), so a common offset of the features does not cost float
  /// digits. Relative accuracy about 1e-6: for the CG of the solver, whose
  /// steps are accepted on the double objective. Collective.
  void hessian_vector_float(const Vector& v, Vector& hv) const;

  /// Diagonal of the Hessian at the last point (for preconditioning). Collective.
  Vector hessian_diagonal() const;

  /// Mean of the counted rows over all participants (d), obtained in the
  /// constructor's reduction. The solver centres its parametrisation on it.
  const Vector& row_mean() const { return row_mean_; }

  /// Diagonal of the Hessian at the last point in the centred parametrisation
  /// (W, b + W row_mean()), i.e. with features x - row_mean(): the solver's
  /// preconditioner. Collective.
  Vector centred_hessian_diagonal() const;

  /// Sums of all rows of x, labelled or not, over all participants:
  /// [x^T x (d x d, column-major) | x^T 1 (d) | rows], d*d + d + 1 values (the
  /// solver's preconditioner uses their covariance). Collective.
  Vector row_moments() const;

  /// Mean softmax curvature at the last point, (1/N) sum_i (diag(p_i) -
  /// p_i p_i^T) over the counted rows (C x C): the Hessian of the bias block,
  /// and the class factor of the solver's Kronecker preconditioner. Collective.
  Matrix mean_curvature() const;

  static Vector pack(const ProbeHead& head);
  static ProbeHead unpack(const Vector& theta, Index classes, Index dim);

 private:
  const RowMatrix& x_;
  const Labels& y_;
  Index classes_;
  double l2_;
  SumReduce reduce_;
  double total_rows_ = 0.0;
  Vector class_totals_;  // C: counted rows per class
  Matrix prob_;  // n x C probabilities at the last point (zero rows for skipped)
  Vector mask_;  // n: 1 for counted rows, 0 for skipped
  Vector row_mean_;  // d: global mean of the counted rows
  Vector centre_;    // d: global mean of all rows (the centre of xf_)
  mutable Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xf_;
};

/// Class probabilities (n x C) of a head on rows x.
Matrix predict_proba(const ProbeHead& head, const Eigen::Ref<const RowMatrix>& x);

}  // namespace wsc::core

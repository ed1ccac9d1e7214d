#include "wsc/core/softmax_objective.hpp"

#include "kron_preconditioner.hpp"
#include "softmax_exp.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace wsc::core {

namespace {

using ConstMatrixMap = Eigen::Map<const Matrix>;
using MatrixMap = Eigen::Map<Matrix>;

/// Turns logits (n x C) into probabilities in place, row by row, with the
/// max-shift that keeps exp() in range. On return `shifted_label_logit` holds
/// z(i, y_i) - max_i and `log_norm` log(sum_c exp(z(i, c) - max_i)), so the
/// cross-entropy of row i is log_norm(i) - shifted_label_logit(i) without
/// ever forming log(p) of a tiny probability.
void softmax_rows(Matrix& z, const Labels* y, Vector* shifted_label_logit, Vector* log_norm) {
  const Index n = z.rows();
  if (n == 0) return;
  const Vector row_max = z.rowwise().maxCoeff();
  z.colwise() -= row_max;
  if (y != nullptr) {
    for (Index i = 0; i < n; ++i) {
      const int label = (*y)[static_cast<std::size_t>(i)];
      (*shifted_label_logit)(i) = label >= 0 ? z(i, label) : 0.0;
    }
  }
  // Shifted logits are <= 0; below -708 exp() flushes to 0 (softmax_exp.hpp).
  detail::softmax_exp(z.data(), z.size());
  const Vector norm = z.rowwise().sum();
  z.array().colwise() /= norm.array();
  if (log_norm != nullptr) *log_norm = norm.array().log().matrix();
}

/// out (C x d) = weight^T (x o x), over blocks of rows so that the squared
/// copy of x stays small whatever the number of rows.
void weighted_squares(const Matrix& weight, const RowMatrix& x, MatrixMap out) {
  constexpr Index kChunk = 2048;
  out.setZero();
  for (Index start = 0; start < x.rows(); start += kChunk) {
    const Index rows = std::min(kChunk, x.rows() - start);
    out.noalias() += weight.middleRows(start, rows).transpose() *
                     x.middleRows(start, rows).cwiseAbs2();
  }
}

}  // namespace

ProbeHead expand_binary_head(const Matrix& one_row_weight, const Vector& one_bias) {
  if (one_row_weight.rows() != 1) {
    throw std::invalid_argument("expand_binary_head: expected a one-row weight, got " +
                                std::to_string(one_row_weight.rows()) + " rows");
  }
  if (one_bias.size() > 1) {
    throw std::invalid_argument("expand_binary_head: expected at most one bias, got " +
                                std::to_string(one_bias.size()));
  }
  // Softmax over (-z/2, z/2) gives P(class 1) = sigmoid(z): the same model.
  ProbeHead head;
  head.weight.resize(2, one_row_weight.cols());
  head.weight.row(0) = -0.5 * one_row_weight.row(0);
  head.weight.row(1) = 0.5 * one_row_weight.row(0);
  head.bias = Vector::Zero(2);
  if (one_bias.size() == 1) {
    head.bias(0) = -0.5 * one_bias(0);
    head.bias(1) = 0.5 * one_bias(0);
  }
  return head;
}

SoftmaxObjective::SoftmaxObjective(const RowMatrix& x, const Labels& y, int classes, double l2,
                                   SumReduce reduce)
    : x_(x), y_(y), classes_(classes), l2_(l2), reduce_(std::move(reduce)) {
  // Arguments that are the same on every participant may throw before the
  // collective; anything that depends on the local block must go through the
  // reduction instead, or one participant would leave the others waiting.
  if (classes < 2) throw std::invalid_argument("SoftmaxObjective: need at least 2 classes");
  if (!std::isfinite(l2) || l2 < 0.0) {
    throw std::invalid_argument("SoftmaxObjective: l2 must be finite and >= 0");
  }
  if (!reduce_) throw std::invalid_argument("SoftmaxObjective: empty reduction");

  const Index n = x_.rows();
  const Index d = x_.cols();
  mask_ = Vector::Zero(n);
  // One buffer: [counted rows, bad rows (shape or label), sum of counted rows
  // (d), counted rows per class (C), sum of all rows (d), all rows].
  Vector local = Vector::Zero(2 + d + classes + d + 1);
  // As row_moments() (kron_preconditioner.hpp), which the batched solver
  // centres its float rows with: the same centre to the last bit.
  local.segment(2 + d + classes, d) = x_.colwise().sum().transpose();
  local(2 + 2 * d + classes) = static_cast<double>(n);
  if (static_cast<Index>(y_.size()) != n) {
    local(1) = 1.0;
  } else {
    for (Index i = 0; i < n; ++i) {
      const int label = y_[static_cast<std::size_t>(i)];
      if (label >= classes) {
        local(1) += 1.0;
      } else if (label >= 0) {
        mask_(i) = 1.0;
        local(0) += 1.0;
        local(2 + d + label) += 1.0;
      }
    }
    local.segment(2, d).noalias() = x_.transpose() * mask_;
  }
  reduce_(local.data(), static_cast<std::size_t>(local.size()));
  if (local(1) > 0.0) {
    throw std::invalid_argument(
        "SoftmaxObjective: labels do not match the rows or exceed the class count (" +
        std::to_string(static_cast<long long>(local(1))) + " bad on some participant)");
  }
  if (local(0) <= 0.0) throw std::invalid_argument("SoftmaxObjective: no labelled rows");
  total_rows_ = local(0);
  row_mean_ = local.segment(2, d) / total_rows_;
  class_totals_ = local.segment(2 + d, classes);
  const double all_rows = local(2 + 2 * d + classes);
  centre_ = Vector::Zero(d);
  if (all_rows > 0.0) centre_ = local.segment(2 + d + classes, d) / all_rows;
}

double SoftmaxObjective::value_and_gradient(const Vector& theta, Vector& gradient) {
  const Index c = classes_;
  const Index d = dim();
  const Index n = x_.rows();
  if (theta.size() != parameters()) {
    throw std::invalid_argument("SoftmaxObjective: parameter vector has the wrong length");
  }
  const ConstMatrixMap w(theta.data(), c, d);

  // Logits of all rows in one GEMM; skipped rows are computed and then
  // zeroed, which is cheaper than gathering the counted rows.
  prob_.noalias() = x_ * w.transpose();
  prob_.rowwise() += theta.tail(c).transpose();
  Vector label_logit(n);
  Vector log_norm(n);
  softmax_rows(prob_, &y_, &label_logit, &log_norm);

  // Residual G = P - onehot(y) on counted rows, zero on skipped ones.
  double loss = 0.0;
  Matrix residual = prob_;
  for (Index i = 0; i < n; ++i) {
    if (mask_(i) == 0.0) {
      prob_.row(i).setZero();
      residual.row(i).setZero();
      continue;
    }
    loss += log_norm(i) - label_logit(i);
    residual(i, y_[static_cast<std::size_t>(i)]) -= 1.0;
  }

  // One buffer [loss, vec(G^T X), colsum(G)], one reduction.
  const Index p = parameters();
  Vector buffer(1 + p);
  buffer(0) = loss;
  MatrixMap(buffer.data() + 1, c, d).noalias() = residual.transpose() * x_;
  buffer.segment(1 + c * d, c) = residual.colwise().sum().transpose();
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));

  gradient = buffer.tail(p) / total_rows_;
  gradient.head(c * d) += l2_ * theta.head(c * d);
  return buffer(0) / total_rows_ + 0.5 * l2_ * theta.head(c * d).squaredNorm();
}

void SoftmaxObjective::hessian_vector(const Vector& v, Vector& hv) const {
  const Index c = classes_;
  const Index d = dim();
  if (prob_.cols() != c) {
    throw std::logic_error("SoftmaxObjective: hessian_vector before value_and_gradient");
  }
  if (v.size() != parameters()) {
    throw std::invalid_argument("SoftmaxObjective: direction has the wrong length");
  }
  const ConstMatrixMap vw(v.data(), c, d);

  // U = X Vw^T + 1 vb^T; R = P o U - P o rowsum(P o U). Skipped rows have
  // P = 0, so their R rows vanish without a mask.
  Matrix r = x_ * vw.transpose();
  r.rowwise() += v.tail(c).transpose();
  r.array() *= prob_.array();
  const Vector row_sum = r.rowwise().sum();
  r.array() -= prob_.array().colwise() * row_sum.array();

  Vector buffer(parameters());
  MatrixMap(buffer.data(), c, d).noalias() = r.transpose() * x_;
  buffer.tail(c) = r.colwise().sum().transpose();
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));

  hv = buffer / total_rows_;
  hv.head(c * d) += l2_ * v.head(c * d);
}

void SoftmaxObjective::hessian_vector_float(const Vector& v, Vector& hv) const {
  const Index c = classes_;
  const Index d = dim();
  const Index n = x_.rows();
  if (prob_.cols() != c) {
    throw std::logic_error("SoftmaxObjective: hessian_vector before value_and_gradient");
  }
  if (v.size() != parameters()) {
    throw std::invalid_argument("SoftmaxObjective: direction has the wrong length");
  }
  if (xf_.rows() != n || xf_.cols() != d) {
    xf_ = (x_.rowwise() - centre_.transpose()).cast<float>();
  }
  const ConstMatrixMap vw(v.data(), c, d);

  // With Xc = X - 1 centre^T: U = Xc Vw^T + 1 (vb + Vw centre)^T, and
  // R^T X = R^T Xc + colsum(R) centre^T.
  const Eigen::MatrixXf vwf = vw.cast<float>();
  const Eigen::VectorXf vbf = (v.tail(c) + vw * centre_).cast<float>();
  Eigen::MatrixXf r(n, c);
  r.noalias() = xf_ * vwf.transpose();
  r.rowwise() += vbf.transpose();
  const Eigen::MatrixXf pf = prob_.cast<float>();
  r.array() *= pf.array();
  const Eigen::VectorXf row_sum = r.rowwise().sum();
  r.array() -= pf.array().colwise() * row_sum.array();

  Vector buffer(parameters());
  Eigen::MatrixXf rx(c, d);
  rx.noalias() = r.transpose() * xf_;
  buffer.tail(c) = r.cast<double>().colwise().sum().transpose();
  MatrixMap(buffer.data(), c, d) = rx.cast<double>() + buffer.tail(c) * centre_.transpose();
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));

  hv = buffer / total_rows_;
  hv.head(c * d) += l2_ * v.head(c * d);
}

Vector SoftmaxObjective::hessian_diagonal() const {
  const Index c = classes_;
  const Index d = dim();
  if (prob_.cols() != c) {
    throw std::logic_error("SoftmaxObjective: hessian_diagonal before value_and_gradient");
  }
  // d^2/dW(k,j)^2 = sum_i x_ij^2 p_ik (1 - p_ik); for the bias x_ij = 1.
  const Matrix weight = (prob_.array() * (1.0 - prob_.array())).matrix();
  Vector buffer(parameters());
  weighted_squares(weight, x_, MatrixMap(buffer.data(), c, d));
  buffer.tail(c) = weight.colwise().sum().transpose();
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));

  Vector diag = buffer / total_rows_;
  diag.head(c * d).array() += l2_;
  return diag;
}

Vector SoftmaxObjective::centred_hessian_diagonal() const {
  const Index c = classes_;
  const Index d = dim();
  if (prob_.cols() != c) {
    throw std::logic_error("SoftmaxObjective: hessian_diagonal before value_and_gradient");
  }
  // sum_i w_ik (x_ij - m_j)^2 = S2 - 2 m_j S1 + m_j^2 S0 with S2 = W^T x^2,
  // S1 = W^T x, S0 = colsum(W): the centred copy of x is never formed. The
  // sums are reduced first; the centring needs the global sums.
  const Matrix weight = (prob_.array() * (1.0 - prob_.array())).matrix();
  Vector buffer(2 * c * d + c);
  weighted_squares(weight, x_, MatrixMap(buffer.data(), c, d));
  MatrixMap(buffer.data() + c * d, c, d).noalias() = weight.transpose() * x_;
  buffer.tail(c) = weight.colwise().sum().transpose();
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));

  const ConstMatrixMap s2(buffer.data(), c, d);
  const ConstMatrixMap s1(buffer.data() + c * d, c, d);
  const auto s0 = buffer.tail(c);
  Vector diag(parameters());
  MatrixMap dw(diag.data(), c, d);
  dw = s2 - 2.0 * s1 * row_mean_.asDiagonal() + s0 * row_mean_.cwiseAbs2().transpose();
  // Cancellation can leave tiny negatives where the true value is ~0.
  dw = dw.cwiseMax(0.0) / total_rows_;
  dw.array() += l2_;
  diag.tail(c) = s0 / total_rows_;
  return diag;
}

Vector SoftmaxObjective::row_moments() const {
  Vector buffer(detail::row_moments_size(dim()));
  detail::row_moments(x_, buffer.data());
  reduce_(buffer.data(), static_cast<std::size_t>(buffer.size()));
  return buffer;
}

Matrix SoftmaxObjective::mean_curvature() const {
  const Index c = classes_;
  if (prob_.cols() != c) {
    throw std::logic_error("SoftmaxObjective: mean_curvature before value_and_gradient");
  }
  Matrix a = Matrix::Zero(c, c);
  detail::add_curvature_sum(prob_, nullptr, a.data());
  reduce_(a.data(), static_cast<std::size_t>(a.size()));
  return a / total_rows_;
}

Vector SoftmaxObjective::pack(const ProbeHead& head) {
  const Index c = head.classes();
  const Index d = head.dim();
  if (head.bias.size() != 0 && head.bias.size() != c) {
    throw std::invalid_argument("SoftmaxObjective::pack: bias length differs from the classes");
  }
  Vector theta(c * (d + 1));
  theta.head(c * d) = Eigen::Map<const Vector>(head.weight.data(), c * d);
  if (head.bias.size() == c) {
    theta.tail(c) = head.bias;
  } else {
    theta.tail(c).setZero();
  }
  return theta;
}

ProbeHead SoftmaxObjective::unpack(const Vector& theta, Index classes, Index dim) {
  if (classes < 0 || dim < 0 || theta.size() != classes * (dim + 1)) {
    throw std::invalid_argument("SoftmaxObjective::unpack: parameter vector has the wrong length");
  }
  ProbeHead head;
  head.weight = ConstMatrixMap(theta.data(), classes, dim);
  head.bias = theta.tail(classes);
  return head;
}

Matrix predict_proba(const ProbeHead& head, const Eigen::Ref<const RowMatrix>& x) {
  if (x.cols() != head.dim()) {
    throw std::invalid_argument("predict_proba: rows have " + std::to_string(x.cols()) +
                                " columns, the head " + std::to_string(head.dim()));
  }
  if (head.classes() < 1) throw std::invalid_argument("predict_proba: head has no classes");
  if (head.bias.size() != 0 && head.bias.size() != head.classes()) {
    throw std::invalid_argument("predict_proba: bias length differs from the classes");
  }
  Matrix z = x * head.weight.transpose();
  if (head.bias.size() != 0) z.rowwise() += head.bias.transpose();
  softmax_rows(z, nullptr, nullptr, nullptr);
  return z;
}

}  // namespace wsc::core

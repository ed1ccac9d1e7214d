#include "wsc/core/batched_newton.hpp"

#include "wsc/core/softmax_objective.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

// The TRON step of tron_step.hpp, run for many heads in lock-step. Every
// decision per head (CG stop, boundary, step acceptance, radius update) is
// the shared step's, on values that came out of the reduction; which heads
// take part in a batched pass is decided from those values too, so every
// participant of a distributed fit makes the same reduce calls.
//
// A fit has three parts: the set-up (argument checks, one reduce of the
// heads' row sums, class counts and the feature covariance, the
// intercept-only starts), the rounds (one batched evaluation, batched CG
// whose every step is one batched Hessian-vector product of the heads whose
// CG is still running, one batched evaluation of the trial points, the
// acceptance), and the finish (heads in the original parameters, reports).
//
// Differences from the single-head solver in *how* (not what) is computed:
// - The preconditioner of the next iteration (the class curvature A of
//   kron_preconditioner.hpp at the trial point) is summed in the same pass and
//   reduce as the trial point's value and gradient, and used only if the step
//   is accepted; the single-head solver computes it with its own reduce after
//   accepting. The feature covariance S goes with the setup reduce.
// - A rejected step does not re-evaluate the current point to restore the
//   probabilities: the batch keeps them (the single-head objective caches
//   only its last point). The next CG then uses the same Hessian.
// - With float Hessian products (SolverOptions::float_hessian) the batched
//   GEMMs (B*C columns) round differently from the single head's (C
//   columns), about 1e-7 relative, so the CG steps differ at that level and
//   the results agree to the optimum's uncertainty (tol / l2), not to double
//   rounding; with double products they agree to double rounding.

#include "kron_preconditioner.hpp"
#include "softmax_exp.hpp"
#include "tron_step.hpp"

namespace wsc::core {

namespace {

using namespace detail;  // the shared TRON step (tron_step.hpp) and the preconditioner

using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using MatrixF = Eigen::MatrixXf;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::VectorXf;
using MatrixFMap = Eigen::Map<MatrixF>;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// One head of the batch: the shared TRON state (centred coordinates
/// u = (W, b + W mean)) and the head's rows.
struct Head : TronState {
  std::size_t id = 0;
  const Labels* labels = nullptr;
  const Vector* weights = nullptr;  // row weights, nullptr = all 1
  double total_rows = 0.0;          // total weight of the counted rows
  Vector mean;  // d: (weighted) mean of this head's counted rows
};

/// The batched passes over the rows. Column block t (C columns) of the n x
/// B*C matrices belongs to the t-th head of the pass.
class BatchKernels {
 public:
  /// options.float_hessian: keep a float copy of x centred on `centre` (the
  /// mean of all rows) for single-precision Hessian products.
  BatchKernels(const RowMatrix& x, Index classes, double l2, Index batch, const SumReduce& reduce,
               const FeatureBasis& basis, BatchedFitStats& stats, const SolverOptions& options,
               const Vector& centre)
      : x_(x),
        basis_(basis),
        classes_(classes),
        l2_(l2),
        reduce_(reduce),
        stats_(stats),
        current_(x.rows(), batch * classes),
        trial_(x.rows(), batch * classes),
        work_(x.rows(), batch * classes),
        stack_(batch * classes * x.cols()),
        bias_stack_(batch * classes),
        row_max_(x.rows()),
        row_sum_(x.rows()),
        label_logit_(x.rows()),
        centre_(centre),
        options_(options) {
    if (options.float_hessian) {
      xf_ = (x.rowwise() - centre.transpose()).cast<float>();
      uf_.resize(x.rows(), batch * classes);
      stackf_.resize(batch * classes * x.cols());
      bias_stackf_.resize(batch * classes);
      row_sumf_.resize(x.rows());
    }
  }

  /// Value, gradient and next preconditioner of each head at its w_new, into
  /// f_new, g_new, g_max_new, m_new; probabilities into block t of trial_
  /// (unweighted: row weights enter the sums only).
  /// One reduce.
  void evaluate(const std::vector<Head*>& heads) {
    const auto start = Clock::now();
    const Index n = x_.rows();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index k = static_cast<Index>(heads.size());
    const Index kc = k * c;
    MatrixMap z(trial_.data(), n, kc);
    MatrixMap work(work_.data(), n, kc);
    MatrixMap ws(stack_.data(), kc, d);
    auto bs = bias_stack_.head(kc);

    // theta = T u: W unchanged, b = b' - W mean.
    for (Index t = 0; t < k; ++t) {
      const Head& h = *heads[static_cast<std::size_t>(t)];
      const ConstMatrixMap w(h.w_new.data(), c, d);
      ws.middleRows(t * c, c) = w;
      bs.segment(t * c, c) = h.w_new.tail(c) - w * h.mean;
    }

    // Buffer: [G^T X (kc x d) | colsum G (kc) | loss (k) | A sums (k x C x C)],
    // G the (weighted) residuals, A the class curvature of the preconditioner.
    const Index size = k * (1 + c * d + c + c * c);
    if (buffer_.size() < size) buffer_.resize(size);
    double* const base = buffer_.data();
    double* const curvature = base + kc * (d + 1) + k;
    std::fill(curvature, curvature + k * c * c, 0.0);

    z.noalias() = x_ * ws.transpose();
    z.rowwise() += bs.transpose();
    for (Index t = 0; t < k; ++t) {
      base[kc * (d + 1) + t] = residual_block(*heads[static_cast<std::size_t>(t)], t, kc,
                                              curvature + t * c * c);
    }
    MatrixMap(base, kc, d).noalias() = work.transpose() * x_;
    Eigen::Map<Vector>(base + kc * d, kc) = work.colwise().sum().transpose();
    stats_.evaluation_flops += 4.0 * static_cast<double>(n) * static_cast<double>(d) *
                               static_cast<double>(kc);
    stats_.evaluation_seconds += seconds_since(start);

    call_reduce(size);

    const auto post = Clock::now();
    for (Index t = 0; t < k; ++t) take_evaluation(*heads[static_cast<std::size_t>(t)], t, k);
    stats_.evaluation_seconds += seconds_since(post);
    ++stats_.evaluations;
  }

  /// hd = H dir (centred coordinates) of each head at its current point,
  /// whose probabilities are block slots[t] of current_. Heads with
  /// uses_float_hessian() go through float GEMMs, the others through double
  /// ones. One reduce.
  void hessian_vector(const std::vector<Head*>& heads, const std::vector<Index>& slots) {
    const auto start = Clock::now();
    const Index n = x_.rows();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index k = static_cast<Index>(heads.size());
    const Index kc = k * c;
    const Index size = kc * (d + 1);
    if (buffer_.size() < size) buffer_.resize(size);
    MatrixMap hx(buffer_.data(), kc, d);
    Eigen::Map<Vector> h_bias(buffer_.data() + kc * d, kc);

    group_float_.clear();
    group_double_.clear();
    for (Index t = 0; t < k; ++t) {
      // Decided from the options and reduced values only: the same on every
      // participant (also on one without rows).
      const bool use_float = uses_float_hessian(*heads[static_cast<std::size_t>(t)], options_);
      (use_float ? group_float_ : group_double_).push_back(t);
    }
    if (!group_float_.empty()) float_products(heads, slots, group_float_, hx, h_bias);
    if (!group_double_.empty()) double_products(heads, slots, group_double_, hx, h_bias);
    stats_.hessian_flops += 4.0 * static_cast<double>(n) * static_cast<double>(d) *
                            static_cast<double>(kc);
    stats_.hessian_seconds += seconds_since(start);

    call_reduce(size);

    const auto post = Clock::now();
    for (Index t = 0; t < k; ++t) {
      Head& h = *heads[static_cast<std::size_t>(t)];
      const double rows = h.total_rows;
      h.hd.resize(c * (d + 1));
      MatrixMap hw(h.hd.data(), c, d);
      hw = hx.middleRows(t * c, c) / rows + l2_ * ConstMatrixMap(h.dir.data(), c, d);
      h.hd.tail(c) = h_bias.segment(t * c, c) / rows;
      hw.noalias() -= h.hd.tail(c) * h.mean.transpose();
    }
    stats_.hessian_seconds += seconds_since(post);
    ++stats_.hessian_products;
  }

  /// Makes block `from` of trial_ the current probabilities of slot `to`.
  void accept_block(Index from, Index to) {
    const Index len = x_.rows() * classes_;
    if (len > 0) std::memcpy(current_.data() + to * len, trial_.data() + from * len,
                             static_cast<std::size_t>(len) * sizeof(double));
  }
  /// Swaps all of trial_ and current_ (block t of the trial becomes slot t).
  void swap_all() { current_.swap(trial_); }
  /// Moves the current block of slot `from` to slot `to` (to < from).
  void move_block(Index from, Index to) {
    const Index len = x_.rows() * classes_;
    if (len > 0) std::memmove(current_.data() + to * len, current_.data() + from * len,
                              static_cast<std::size_t>(len) * sizeof(double));
  }

 private:
  /// R = P o U - P o rowsum(P o U), times the row weights when given: the
  /// softmax Jacobian applied to one head's n x C block U in place, in U's
  /// precision (P, the probabilities, are double; `row_sum` is scratch).
  template <typename UBlock, typename PBlock, typename RowSum>
  static void apply_softmax_jacobian(UBlock ub, const PBlock& pb, RowSum& row_sum, const Vector* weights) {
    using S = typename UBlock::Scalar;
    const Index c = ub.cols();
    for (Index j = 0; j < c; ++j) ub.col(j).array() *= pb.col(j).array().template cast<S>();
    row_sum = ub.col(0);
    for (Index j = 1; j < c; ++j) row_sum += ub.col(j);
    for (Index j = 0; j < c; ++j) ub.col(j).array() -= pb.col(j).array().template cast<S>() * row_sum.array();
    if (weights != nullptr) ub.array().colwise() *= weights->array().template cast<S>();
  }

  /// The theta-space sums [R^T X | colsum R] of the heads `group` (indices
  /// into heads) in double, into their rows of hx and h_bias:
  /// U = X Vw^T + 1 vb^T, R = P o U - P o rowsum(P o U) per head (times the
  /// row weights).
  void double_products(const std::vector<Head*>& heads, const std::vector<Index>& slots,
                       const std::vector<Index>& group, MatrixMap& hx,
                       Eigen::Map<Vector>& h_bias) {
    const Index n = x_.rows();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index gc = static_cast<Index>(group.size()) * c;
    MatrixMap u(work_.data(), n, gc);
    MatrixMap vs(stack_.data(), gc, d);
    auto vb = bias_stack_.head(gc);
    for (std::size_t g = 0; g < group.size(); ++g) {
      const Head& h = *heads[static_cast<std::size_t>(group[g])];
      const ConstMatrixMap v(h.dir.data(), c, d);
      const Index at = static_cast<Index>(g) * c;
      vs.middleRows(at, c) = v;
      vb.segment(at, c) = h.dir.tail(c) - v * h.mean;
    }
    u.noalias() = x_ * vs.transpose();
    u.rowwise() += vb.transpose();
    for (std::size_t g = 0; g < group.size(); ++g) {
      const std::size_t t = static_cast<std::size_t>(group[g]);
      apply_softmax_jacobian(u.middleCols(static_cast<Index>(g) * c, c), current_.middleCols(slots[t] * c, c),
                             row_sum_, heads[t]->weights);
    }
    MatrixMap hg(stack_.data(), gc, d);  // the directions are no longer needed
    hg.noalias() = u.transpose() * x_;
    for (std::size_t g = 0; g < group.size(); ++g) {
      const Index at = static_cast<Index>(g) * c;
      const Index to = group[g] * c;
      hx.middleRows(to, c) = hg.middleRows(at, c);
      h_bias.segment(to, c) = u.middleCols(at, c).colwise().sum().transpose();
    }
  }

  /// As double_products with the two GEMMs in float over the rows centred on
  /// centre_ (xf_): U = Xc Vw^T + 1 (vb + Vw centre)^T, which keeps a large
  /// common offset of the features out of the float products, and
  /// R^T X = R^T Xc + colsum(R) centre^T. R is formed in float; its column
  /// sums and the result are widened to double before the reduce.
  void float_products(const std::vector<Head*>& heads, const std::vector<Index>& slots,
                      const std::vector<Index>& group, MatrixMap& hx,
                      Eigen::Map<Vector>& h_bias) {
    const Index n = x_.rows();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index gc = static_cast<Index>(group.size()) * c;
    MatrixFMap u(uf_.data(), n, gc);
    MatrixFMap vs(stackf_.data(), gc, d);
    auto vb = bias_stackf_.head(gc);
    for (std::size_t g = 0; g < group.size(); ++g) {
      const Head& h = *heads[static_cast<std::size_t>(group[g])];
      const ConstMatrixMap v(h.dir.data(), c, d);
      const Index at = static_cast<Index>(g) * c;
      vs.middleRows(at, c) = v.cast<float>();
      vb.segment(at, c) = (h.dir.tail(c) - v * (h.mean - centre_)).cast<float>();
    }
    u.noalias() = xf_ * vs.transpose();
    u.rowwise() += vb.transpose();
    for (std::size_t g = 0; g < group.size(); ++g) {
      const std::size_t t = static_cast<std::size_t>(group[g]);
      apply_softmax_jacobian(u.middleCols(static_cast<Index>(g) * c, c), current_.middleCols(slots[t] * c, c),
                             row_sumf_, heads[t]->weights);
    }
    MatrixFMap hg(stackf_.data(), gc, d);  // the directions are no longer needed
    hg.noalias() = u.transpose() * xf_;
    for (std::size_t g = 0; g < group.size(); ++g) {
      const Index at = static_cast<Index>(g) * c;
      const Index to = group[g] * c;
      h_bias.segment(to, c) = u.middleCols(at, c).cast<double>().colwise().sum().transpose();
      hx.middleRows(to, c) = hg.middleRows(at, c).cast<double>() +
                             h_bias.segment(to, c) * centre_.transpose();
    }
  }

  /// Head h's block t of the logits in trial_ becomes its probabilities,
  /// block t of work_ its (weighted) residuals P - onehot(y); adds its class
  /// curvature sum to `curvature`. Returns its summed loss.
  double residual_block(const Head& h, Index t, Index kc, double* curvature) {
    const Index n = x_.rows();
    const Index c = classes_;
    const Labels& y = *h.labels;
    MatrixMap z(trial_.data(), n, kc);
    MatrixMap work(work_.data(), n, kc);
    auto pb = z.middleCols(t * c, c);
    const double loss = softmax_block(pb, y, h.weights);
    // Residual P - onehot(y) (P is already zero on skipped rows).
    auto res = work.middleCols(t * c, c);
    res = pb;
    for (Index i = 0; i < n; ++i) {
      const int label = y[static_cast<std::size_t>(i)];
      if (label >= 0) res(i, label) -= 1.0;
    }
    if (h.weights != nullptr) res.array().colwise() *= h.weights->array();
    add_curvature_sum(pb, h.weights, curvature);
    return loss;
  }

  /// Head h's value, gradient (in u) and next preconditioner from its part
  /// t of the reduced evaluate() buffer of k heads.
  void take_evaluation(Head& h, Index t, Index k) {
    const Index d = x_.cols();
    const Index c = classes_;
    const Index kc = k * c;
    const double* const base = buffer_.data();
    const double rows = h.total_rows;
    const ConstMatrixMap w(h.w_new.data(), c, d);
    // Gradient in theta, then T^T for u (W block loses g_b mean^T).
    h.g_new.resize(c * (d + 1));
    MatrixMap gw(h.g_new.data(), c, d);
    gw = ConstMatrixMap(base, kc, d).middleRows(t * c, c) / rows + l2_ * w;
    h.g_new.tail(c) = Eigen::Map<const Vector>(base + kc * d + t * c, c) / rows;
    h.g_max_new = h.g_new.lpNorm<Eigen::Infinity>();
    h.f_new = base[kc * (d + 1) + t] / rows + 0.5 * l2_ * w.squaredNorm();
    gw.noalias() -= h.g_new.tail(c) * h.mean.transpose();
    const double* const curvature = base + kc * (d + 1) + k + t * c * c;
    h.m_new.reset(basis_, ConstMatrixMap(curvature, c, c) / rows, l2_);
  }

  /// Softmax of one head's n x C logits in place (SoftmaxObjective's
  /// softmax_rows, column by column), zero on skipped rows; returns the sum of
  /// the cross-entropies of the counted rows, weighted by `weights` if given.
  template <typename Block>
  double softmax_block(Block zb, const Labels& y, const Vector* weights) {
    const Index n = zb.rows();
    const Index c = zb.cols();
    if (n == 0) return 0.0;
    row_max_ = zb.col(0);
    for (Index j = 1; j < c; ++j) row_max_ = row_max_.cwiseMax(zb.col(j));
    for (Index j = 0; j < c; ++j) zb.col(j) -= row_max_;
    for (Index i = 0; i < n; ++i) {
      const int label = y[static_cast<std::size_t>(i)];
      label_logit_(i) = label >= 0 ? zb(i, label) : 0.0;
    }
    // As softmax_rows: below -708 flush to 0 (softmax_exp.hpp). The block's
    // C columns are contiguous (full columns of a column-major matrix).
    softmax_exp(zb.data(), n * c);
    row_sum_ = zb.col(0);
    for (Index j = 1; j < c; ++j) row_sum_ += zb.col(j);
    // Skipped rows get weight 0 (their P rows become 0, their loss is not
    // counted); counted rows 1 / norm.
    for (Index i = 0; i < n; ++i) {
      if (y[static_cast<std::size_t>(i)] < 0) {
        row_max_(i) = 0.0;  // reused: per-row scale
        row_sum_(i) = 1.0;  // log(1) = 0 below
      } else {
        row_max_(i) = 1.0 / row_sum_(i);
      }
    }
    for (Index j = 0; j < c; ++j) zb.col(j).array() *= row_max_.array();
    if (weights != nullptr) {
      return ((row_sum_.array().log() - label_logit_.array()) * weights->array()).sum();
    }
    return (row_sum_.array().log() - label_logit_.array()).sum();
  }

  void call_reduce(Index size) {
    reduce_(buffer_.data(), static_cast<std::size_t>(size));
    ++stats_.reduce_calls;
    stats_.reduced_doubles += static_cast<std::size_t>(size);
  }

  const RowMatrix& x_;
  const FeatureBasis& basis_;  // the feature factor of the preconditioner
  Index classes_;
  double l2_;
  const SumReduce& reduce_;
  BatchedFitStats& stats_;
  Matrix current_;  // n x B*C probabilities at the current points (by slot)
  Matrix trial_;    // n x B*C logits, then probabilities, of a pass
  Matrix work_;     // n x B*C residuals / Hessian weights / U
  Vector stack_;    // B*C x d stacked weights or directions
  Vector bias_stack_;
  Vector buffer_;   // the reduce buffer
  Vector row_max_, row_sum_, label_logit_;
  Vector centre_;        // d: the centre of xf_
  SolverOptions options_;  // float products (uses_float_hessian())
  RowMatrixF xf_;        // n x d: x - 1 centre^T in float
  MatrixF uf_;           // n x B*C: U and R of the float products
  VectorF stackf_;       // B*C x d directions, then R^T Xc, in float
  VectorF bias_stackf_;
  VectorF row_sumf_;
  std::vector<Index> group_float_, group_double_;
};

// ---- Set-up -----------------------------------------------------------------

/// The arguments that are the same on every participant, checked before any
/// collective call (everything local goes through the set-up reduce).
void check_arguments(int classes, double l2, const SumReduce& reduce,
                     const SolverOptions& options) {
  if (classes < 2) throw std::invalid_argument("fit_probes_batched: need at least 2 classes");
  if (!std::isfinite(l2) || l2 < 0.0) {
    throw std::invalid_argument("fit_probes_batched: l2 must be finite and >= 0");
  }
  if (!reduce) throw std::invalid_argument("fit_probes_batched: empty reduction");
  if (!(options.tol >= 0.0)) throw std::invalid_argument("fit_probes_batched: tol must be >= 0");
  if (options.max_iter < 0) {
    throw std::invalid_argument("fit_probes_batched: max_iter must be >= 0");
  }
}

/// The one reduce of the set-up: [counted weight (B) | bad labels (B) | bad
/// weights (B) | weighted sums of counted rows (d x B) | weighted class
/// counts (C x B) | row moments of all rows (d*d + d + 1,
/// kron_preconditioner.hpp)].
struct SetupSums {
  SetupSums(Index heads, Index d, Index c)
      : batch(heads),
        sums_at(3 * heads),
        counts_at(sums_at + d * heads),
        moments_at(counts_at + c * heads),
        values(Vector::Zero(moments_at + row_moments_size(d))) {}
  Index batch, sums_at, counts_at, moments_at;
  Vector values;
};

/// Head b's row weights (nullptr: all 1); `bad` when they are missing, of
/// the wrong length, negative or not finite.
const Vector* head_weights(const std::vector<Vector>* row_weights, std::size_t heads,
                           std::size_t b, Index rows, bool& bad) {
  bad = false;
  if (row_weights == nullptr) return nullptr;
  if (row_weights->size() != heads) {
    bad = true;
    return nullptr;
  }
  const Vector& w = (*row_weights)[b];
  bad = w.size() != rows || !(w.array() >= 0.0).all() || !w.allFinite();
  return bad ? nullptr : &w;
}

/// This participant's part of the set-up sums.
SetupSums local_setup(const RowMatrix& x, const std::vector<Labels>& labels, int classes,
                      const std::vector<Vector>* row_weights) {
  const Index n = x.rows();
  const Index batch = static_cast<Index>(labels.size());
  SetupSums setup(batch, x.cols(), classes);
  Vector& sums = setup.values;
  Matrix mask = Matrix::Zero(n, batch);
  for (Index b = 0; b < batch; ++b) {
    const Labels& y = labels[static_cast<std::size_t>(b)];
    bool bad_weights = false;
    const Vector* w =
        head_weights(row_weights, labels.size(), static_cast<std::size_t>(b), n, bad_weights);
    if (bad_weights) {
      sums(2 * batch + b) = 1.0;
      continue;
    }
    if (static_cast<Index>(y.size()) != n) {
      sums(batch + b) = 1.0;
      continue;
    }
    for (Index i = 0; i < n; ++i) {
      const int label = y[static_cast<std::size_t>(i)];
      if (label >= classes) {
        sums(batch + b) += 1.0;
      } else if (label >= 0) {
        const double weight = w != nullptr ? (*w)(i) : 1.0;
        mask(i, b) = weight;
        sums(b) += weight;
        sums(setup.counts_at + b * classes + label) += weight;
      }
    }
  }
  MatrixMap(sums.data() + setup.sums_at, x.cols(), batch).noalias() = x.transpose() * mask;
  row_moments(x, sums.data() + setup.moments_at);
  return setup;
}

/// Throws, on every participant alike, for what the reduced set-up sums
/// show wrong on any participant.
void check_setup(const SetupSums& setup) {
  const Vector& sums = setup.values;
  const Index batch = setup.batch;
  for (Index b = 0; b < batch; ++b) {
    if (sums(2 * batch + b) > 0.0) {
      throw std::invalid_argument(
          "fit_probes_batched: row weights of head " + std::to_string(b) +
          " missing, of the wrong length, negative or not finite on some participant");
    }
    if (sums(batch + b) > 0.0) {
      throw std::invalid_argument(
          "fit_probes_batched: labels of head " + std::to_string(b) +
          " do not match the rows or exceed the class count (" +
          std::to_string(static_cast<long long>(sums(batch + b))) + " bad on some participant)");
    }
    if (!(sums(b) > 0.0)) {
      throw std::invalid_argument("fit_probes_batched: head " + std::to_string(b) +
                                  " has no labelled rows of positive weight");
    }
  }
}

/// The heads at their intercept-only starts (as fit_probe; T^{-1} keeps b
/// when W = 0), from the reduced set-up sums.
std::vector<Head> make_heads(const SetupSums& setup, const std::vector<Labels>& labels,
                             const std::vector<Vector>* row_weights, Index classes, Index d) {
  std::vector<Head> heads(labels.size());
  for (std::size_t b = 0; b < heads.size(); ++b) {
    Head& h = heads[b];
    const Index at = static_cast<Index>(b);
    h.id = b;
    h.labels = &labels[b];
    if (row_weights != nullptr) h.weights = &(*row_weights)[b];
    h.total_rows = setup.values(at);
    h.mean = setup.values.segment(setup.sums_at + at * d, d) / h.total_rows;
    h.w = Vector::Zero(classes * (d + 1));
    h.w.tail(classes) = intercept_start(setup.values.segment(setup.counts_at + at * classes, classes));
    h.w_new = h.w;
  }
  return heads;
}

/// Centre of the float copy of x: the mean of all rows (all heads share it).
Vector float_centre(const SetupSums& setup, Index d) {
  Vector centre = Vector::Zero(d);
  const double all_rows = setup.values(setup.moments_at + d * d + d);
  if (all_rows > 0.0) centre = setup.values.segment(setup.moments_at + d * d, d) / all_rows;
  return centre;
}

// ---- The lock-step rounds -----------------------------------------------------

/// The iteration of a batch: all heads evaluated at their starts, then
/// rounds until every head has converged, stopped or used its iterations.
/// The active heads are kept in slot order: slot t owns block t of the
/// kernels' current probabilities.
class LockStep {
 public:
  LockStep(BatchKernels& kernels, const SolverOptions& options, BatchedFitStats& stats)
      : kernels_(kernels), options_(options), stats_(stats) {}

  void run(std::vector<Head>& heads) {
    active_.clear();
    for (Head& h : heads) active_.push_back(&h);
    start();
    while (drop_finished()) {
      ++stats_.rounds;
      cg();
      propose();
      if (!trial_.empty()) judge();
    }
  }

 private:
  /// The first evaluation (at w_new = w, the starts) and the initial radii.
  void start() {
    kernels_.evaluate(active_);
    kernels_.swap_all();
    for (Head* h : active_) {
      accept_step(*h);
      start_radius(*h);
    }
  }

  /// Heads that converged, hit the iteration limit or stopped leave the
  /// batch; the others keep their order, and their probabilities move down.
  /// Returns whether any head is left.
  bool drop_finished() {
    kept_.clear();
    for (std::size_t t = 0; t < active_.size(); ++t) {
      Head* h = active_[t];
      if (!wants_iteration(*h, options_)) continue;
      if (kept_.size() != t) {
        kernels_.move_block(static_cast<Index>(t), static_cast<Index>(kept_.size()));
      }
      kept_.push_back(h);
    }
    active_.swap(kept_);
    return !active_.empty();
  }

  /// Batched CG: each pass is one Hessian product of the heads whose CG is
  /// still running.
  void cg() {
    for (Head* h : active_) begin_iteration(*h);
    for (;;) {
      running_.clear();
      slots_.clear();
      for (std::size_t t = 0; t < active_.size(); ++t) {
        if (!cg_wants_product(*active_[t])) continue;
        running_.push_back(active_[t]);
        slots_.push_back(static_cast<Index>(t));
      }
      if (running_.empty()) return;
      kernels_.hessian_vector(running_, slots_);
      for (Head* h : running_) cg_step(*h);
    }
  }

  /// The heads whose steps are worth evaluating (the others stop).
  void propose() {
    trial_.clear();
    for (Head* h : active_)
      if (propose_step(*h)) trial_.push_back(h);
  }

  /// Evaluates the trial points and accepts or rejects each step. Accepted
  /// heads take their trial probabilities: when every active head made a
  /// trial (block t = slot t) and all were accepted, by swapping the
  /// matrices, otherwise block by block.
  void judge() {
    kernels_.evaluate(trial_);
    accepted_.assign(trial_.size(), 0);
    std::size_t n_accepted = 0;
    for (std::size_t t = 0; t < trial_.size(); ++t) {
      if (!judge_step(*trial_[t])) continue;
      accept_step(*trial_[t]);
      accepted_[t] = 1;
      ++n_accepted;
    }
    if (n_accepted == active_.size()) {
      kernels_.swap_all();
    } else if (n_accepted > 0) {
      std::size_t slot = 0;
      for (std::size_t t = 0; t < trial_.size(); ++t) {
        while (active_[slot] != trial_[t]) ++slot;
        if (accepted_[t]) kernels_.accept_block(static_cast<Index>(t), static_cast<Index>(slot));
      }
    }
  }

  BatchKernels& kernels_;
  const SolverOptions& options_;
  BatchedFitStats& stats_;
  std::vector<Head*> active_, kept_, running_, trial_;
  std::vector<Index> slots_;
  std::vector<char> accepted_;
};

}  // namespace

int suggested_batch_heads(Index rows, int classes, std::size_t budget_bytes) {
  // Three double matrices and the float one of the Hessian products.
  const double per_head = (3.0 * sizeof(double) + sizeof(float)) *
                          static_cast<double>(std::max<Index>(rows, 1)) *
                          static_cast<double>(std::max(classes, 1));
  const double heads = std::floor(static_cast<double>(budget_bytes) / per_head);
  return static_cast<int>(std::clamp(heads, 1.0, 1e6));
}

std::vector<ProbeHead> fit_probes_batched(const RowMatrix& x, const std::vector<Labels>& labels,
                                          int classes, double l2, const SolverOptions& options,
                                          const SumReduce& reduce, std::vector<FitReport>* reports,
                                          BatchedFitStats* stats,
                                          const std::vector<Vector>* row_weights) {
  check_arguments(classes, l2, reduce, options);
  BatchedFitStats local_stats;
  BatchedFitStats& st = stats != nullptr ? *stats : local_stats;
  st = BatchedFitStats{};
  if (reports != nullptr) reports->assign(labels.size(), FitReport{});
  if (labels.empty()) return {};

  // Set-up: one reduce, then the heads at their starts.
  const Index d = x.cols();
  SetupSums setup = local_setup(x, labels, classes, row_weights);
  reduce(setup.values.data(), static_cast<std::size_t>(setup.values.size()));
  ++st.reduce_calls;
  st.reduced_doubles += static_cast<std::size_t>(setup.values.size());
  check_setup(setup);
  const FeatureBasis basis = feature_basis(setup.values.data() + setup.moments_at, d);
  std::vector<Head> heads = make_heads(setup, labels, row_weights, classes, d);

  BatchKernels kernels(x, classes, l2, static_cast<Index>(heads.size()), reduce, basis, st,
                       options, float_centre(setup, d));
  LockStep(kernels, options, st).run(heads);

  // Finish: the heads in the original parameters, the reports.
  std::vector<ProbeHead> result;
  result.reserve(heads.size());
  for (const Head& h : heads) {
    result.push_back(head_from_centred(h.w, h.mean, classes));
    if (reports != nullptr) (*reports)[h.id] = final_report(h, options);
  }
  return result;
}

}  // namespace wsc::core

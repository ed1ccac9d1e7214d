#include "wsc/core/batched_newton.hpp"

#include "wsc/core/softmax_objective.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

// The TRON of trust_region_newton.cpp, run for many heads in lock-step. Per
// head every decision (CG stop, boundary, step acceptance, radius update) is
// the same arithmetic as there, on values that came out of the reduction;
// which heads take part in a batched pass is decided from those values too,
// so every participant of a distributed fit makes the same reduce calls.
//
// Two differences in *how* (not what) is computed:
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
#include "tron_constants.hpp"

namespace wsc::core {

namespace {

using namespace detail;  // the TRON constants and the preconditioner, as in the single-head solver

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

/// State of one head. Parameters are in the centred coordinates
/// u = (W, b + W mean) of trust_region_newton.cpp, packed like
/// SoftmaxObjective (C x d column-major W, then the C biases).
struct Head {
  std::size_t id = 0;
  const Labels* labels = nullptr;
  const Vector* weights = nullptr;  // row weights, nullptr = all 1
  double total_rows = 0.0;          // total weight of the counted rows
  Vector mean;  // d: (weighted) mean of this head's counted rows

  Vector w, g;  // point, gradient (u)
  KronPreconditioner m;
  double f = 0.0;
  double g_max = 0.0;  // gradient max-norm in the original parameters
  double delta = 0.0;

  Vector w_new, g_new;  // trial point and its evaluation
  KronPreconditioner m_new;
  double f_new = 0.0;
  double g_max_new = 0.0;

  // Truncated CG (Steihaug-Toint in the M-norm; ms = M s, md = M dir).
  Vector s, r, z, dir, hd, ms, md;
  double ztr = 0.0;
  double cg_tol = 0.0;
  int cg_iterations = 0;
  int max_cg = 0;
  bool cg_running = false;
  bool reached_boundary = false;
  double gs = 0.0;
  double prered = 0.0;

  FitReport report;
  bool stopped = false;  // left without convergence (step too small, no reduction)
  bool exact_hessian = false;  // double Hessian products (after a rejected step)
};

/// The batched passes over the rows. Column block t (C columns) of the n x
/// B*C matrices belongs to the t-th head of the pass.
class BatchKernels {
 public:
  /// float_hessian: keep a float copy of x centred on `centre` (the mean of
  /// all rows) for single-precision Hessian products.
  BatchKernels(const RowMatrix& x, Index classes, double l2, Index batch, const SumReduce& reduce,
               const FeatureBasis& basis, BatchedFitStats& stats, bool float_hessian,
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
        float_hessian_(float_hessian) {
    if (float_hessian) {
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
    MatrixMap gx(base, kc, d);
    Eigen::Map<Vector> g_bias(base + kc * d, kc);
    Eigen::Map<Vector> loss(base + kc * (d + 1), k);
    double* const curvature = base + kc * (d + 1) + k;
    std::fill(curvature, curvature + k * c * c, 0.0);

    z.noalias() = x_ * ws.transpose();
    z.rowwise() += bs.transpose();
    for (Index t = 0; t < k; ++t) {
      const Head& h = *heads[static_cast<std::size_t>(t)];
      const Labels& y = *h.labels;
      auto pb = z.middleCols(t * c, c);
      loss(t) = softmax_block(pb, y, h.weights);
      // Residual P - onehot(y) (P is already zero on skipped rows).
      auto res = work.middleCols(t * c, c);
      res = pb;
      for (Index i = 0; i < n; ++i) {
        const int label = y[static_cast<std::size_t>(i)];
        if (label >= 0) res(i, label) -= 1.0;
      }
      if (h.weights != nullptr) res.array().colwise() *= h.weights->array();
      add_curvature_sum(pb, h.weights, curvature + t * c * c);
    }
    gx.noalias() = work.transpose() * x_;
    g_bias = work.colwise().sum().transpose();
    stats_.evaluation_flops += 4.0 * static_cast<double>(n) * static_cast<double>(d) *
                               static_cast<double>(kc);
    stats_.evaluation_seconds += seconds_since(start);

    call_reduce(size);

    const auto post = Clock::now();
    for (Index t = 0; t < k; ++t) {
      Head& h = *heads[static_cast<std::size_t>(t)];
      const double rows = h.total_rows;
      const ConstMatrixMap w(h.w_new.data(), c, d);
      // Gradient in theta, then T^T for u (W block loses g_b mean^T).
      h.g_new.resize(c * (d + 1));
      MatrixMap gw(h.g_new.data(), c, d);
      gw = gx.middleRows(t * c, c) / rows + l2_ * w;
      h.g_new.tail(c) = g_bias.segment(t * c, c) / rows;
      h.g_max_new = h.g_new.lpNorm<Eigen::Infinity>();
      h.f_new = loss(t) / rows + 0.5 * l2_ * w.squaredNorm();
      gw.noalias() -= h.g_new.tail(c) * h.mean.transpose();
      h.m_new.reset(basis_, ConstMatrixMap(curvature + t * c * c, c, c) / rows, l2_);
    }
    stats_.evaluation_seconds += seconds_since(post);
    ++stats_.evaluations;
  }

  /// hd = H dir (centred coordinates) of each head at its current point,
  /// whose probabilities are block slots[t] of current_. Heads without
  /// exact_hessian go through float GEMMs (if float_hessian was given), the
  /// others through double ones. One reduce.
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
      const bool use_float = float_hessian_ && !heads[static_cast<std::size_t>(t)]->exact_hessian;
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
  bool float_hessian_;   // float products for heads without exact_hessian
  RowMatrixF xf_;        // n x d: x - 1 centre^T in float
  MatrixF uf_;           // n x B*C: U and R of the float products
  VectorF stackf_;       // B*C x d directions, then R^T Xc, in float
  VectorF bias_stackf_;
  VectorF row_sumf_;
  std::vector<Index> group_float_, group_double_;
};

/// The CG state of trust_region_newton.cpp's truncated_cg at its start.
void start_cg(Head& h) {
  const Index p = h.g.size();
  h.s = Vector::Zero(p);
  h.ms = Vector::Zero(p);
  h.r = -h.g;
  h.m.solve(h.r, h.z);
  h.dir = h.z;
  h.md = h.r;
  h.ztr = h.z.dot(h.r);
  const double g_norm = std::sqrt(h.ztr);
  h.cg_tol = std::min(kEpsCg, std::sqrt(g_norm)) * g_norm;
  h.max_cg = static_cast<int>(std::max<Index>(p, 5));
  h.cg_iterations = 0;
  h.cg_running = true;
  h.reached_boundary = false;
}

/// One CG step after hd = H dir (the loop body of truncated_cg).
void cg_step(Head& h) {
  const double dhd = h.dir.dot(h.hd);
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

/// The radius update and acceptance of fit_trust_region_newton after the
/// trial point was evaluated. Returns whether the step is accepted.
bool update_radius(Head& h) {
  double actred = h.f - h.f_new;
  if (h.prered <= kSmallReduction * std::abs(h.f)) actred = -0.5 * (h.g + h.g_new).dot(h.s);
  const double s_norm = std::sqrt(h.s.dot(h.ms));
  if (h.report.iterations == 1) h.delta = std::min(h.delta, s_norm);
  const double gs = h.gs;
  const double curvature = -actred - gs;
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
  return actred > kEta0 * h.prered;
}

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
  // Arguments that are the same on every participant are checked before any
  // collective call; everything local goes through the first reduction.
  if (classes < 2) throw std::invalid_argument("fit_probes_batched: need at least 2 classes");
  if (!std::isfinite(l2) || l2 < 0.0) {
    throw std::invalid_argument("fit_probes_batched: l2 must be finite and >= 0");
  }
  if (!reduce) throw std::invalid_argument("fit_probes_batched: empty reduction");
  if (!(options.tol >= 0.0)) throw std::invalid_argument("fit_probes_batched: tol must be >= 0");
  if (options.max_iter < 0) {
    throw std::invalid_argument("fit_probes_batched: max_iter must be >= 0");
  }
  BatchedFitStats local_stats;
  BatchedFitStats& st = stats != nullptr ? *stats : local_stats;
  st = BatchedFitStats{};
  if (reports != nullptr) reports->assign(labels.size(), FitReport{});
  if (labels.empty()) return {};

  const Index n = x.rows();
  const Index d = x.cols();
  const Index c = classes;
  const Index batch = static_cast<Index>(labels.size());

  // One reduce: [counted weight (B) | bad labels (B) | bad weights (B) |
  // weighted sums of counted rows (d x B) | weighted class counts (C x B) |
  // row moments of all rows (d*d + d + 1, kron_preconditioner.hpp)].
  const Index sums_at = 3 * batch;
  const Index counts_at = sums_at + d * batch;
  const Index moments_at = counts_at + c * batch;
  Vector setup = Vector::Zero(moments_at + row_moments_size(d));
  {
    const bool weights_match =
        row_weights == nullptr || row_weights->size() == labels.size();
    Matrix mask = Matrix::Zero(n, batch);
    for (Index b = 0; b < batch; ++b) {
      const Labels& y = labels[static_cast<std::size_t>(b)];
      const Vector* w = nullptr;
      if (row_weights != nullptr) {
        if (!weights_match || (*row_weights)[static_cast<std::size_t>(b)].size() != n ||
            !((*row_weights)[static_cast<std::size_t>(b)].array() >= 0.0).all() ||
            !(*row_weights)[static_cast<std::size_t>(b)].allFinite()) {
          setup(2 * batch + b) = 1.0;
          continue;
        }
        w = &(*row_weights)[static_cast<std::size_t>(b)];
      }
      if (static_cast<Index>(y.size()) != n) {
        setup(batch + b) = 1.0;
        continue;
      }
      for (Index i = 0; i < n; ++i) {
        const int label = y[static_cast<std::size_t>(i)];
        if (label >= classes) {
          setup(batch + b) += 1.0;
        } else if (label >= 0) {
          const double weight = w != nullptr ? (*w)(i) : 1.0;
          mask(i, b) = weight;
          setup(b) += weight;
          setup(counts_at + b * c + label) += weight;
        }
      }
    }
    MatrixMap(setup.data() + sums_at, d, batch).noalias() = x.transpose() * mask;
    row_moments(x, setup.data() + moments_at);
  }
  reduce(setup.data(), static_cast<std::size_t>(setup.size()));
  ++st.reduce_calls;
  st.reduced_doubles += static_cast<std::size_t>(setup.size());
  for (Index b = 0; b < batch; ++b) {
    if (setup(2 * batch + b) > 0.0) {
      throw std::invalid_argument(
          "fit_probes_batched: row weights of head " + std::to_string(b) +
          " missing, of the wrong length, negative or not finite on some participant");
    }
    if (setup(batch + b) > 0.0) {
      throw std::invalid_argument(
          "fit_probes_batched: labels of head " + std::to_string(b) +
          " do not match the rows or exceed the class count (" +
          std::to_string(static_cast<long long>(setup(batch + b))) + " bad on some participant)");
    }
    if (!(setup(b) > 0.0)) {
      throw std::invalid_argument("fit_probes_batched: head " + std::to_string(b) +
                                  " has no labelled rows of positive weight");
    }
  }
  const FeatureBasis basis = feature_basis(setup.data() + moments_at, d);

  std::vector<Head> heads(static_cast<std::size_t>(batch));
  const Index p = c * (d + 1);
  for (Index b = 0; b < batch; ++b) {
    Head& h = heads[static_cast<std::size_t>(b)];
    h.id = static_cast<std::size_t>(b);
    h.labels = &labels[static_cast<std::size_t>(b)];
    if (row_weights != nullptr) h.weights = &(*row_weights)[static_cast<std::size_t>(b)];
    h.total_rows = setup(b);
    h.mean = setup.segment(sums_at + b * d, d) / h.total_rows;
    // The intercept-only optimum (as fit_probe); T^{-1} keeps b when W = 0.
    h.w = Vector::Zero(p);
    h.w.tail(c) = intercept_start(setup.segment(counts_at + b * c, c));
    h.w_new = h.w;
  }

  // Centre of the float copy of x: the mean of all rows (all heads share it).
  Vector centre = Vector::Zero(d);
  const double all_rows = setup(moments_at + d * d + d);
  if (all_rows > 0.0) centre = setup.segment(moments_at + d * d, d) / all_rows;
  BatchKernels kernels(x, c, l2, batch, reduce, basis, st, options.float_hessian, centre);
  // Active heads in slot order: slot t owns block t of the current probabilities.
  std::vector<Head*> active;
  for (Head& h : heads) active.push_back(&h);

  kernels.evaluate(active);
  kernels.swap_all();
  for (Head* h : active) {
    h->f = h->f_new;
    h->g.swap(h->g_new);
    h->g_max = h->g_max_new;
    std::swap(h->m, h->m_new);
    // Initial radius: the M-norm of M^{-1} g.
    h->m.solve(h->g, h->z);
    h->delta = std::sqrt(h->g.dot(h->z));
  }

  const double step_eps = std::numeric_limits<double>::epsilon();
  std::vector<Head*> running, trial, kept;
  std::vector<Index> slots;
  std::vector<char> accepted;
  for (;;) {
    // Heads that converged, hit the iteration limit or stopped leave the
    // batch; the others keep their order, and their probabilities move down.
    kept.clear();
    for (std::size_t t = 0; t < active.size(); ++t) {
      Head* h = active[t];
      if (h->stopped || h->g_max <= options.tol || h->report.iterations >= options.max_iter) {
        continue;
      }
      if (kept.size() != t) {
        kernels.move_block(static_cast<Index>(t), static_cast<Index>(kept.size()));
      }
      kept.push_back(h);
    }
    active.swap(kept);
    if (active.empty()) break;
    ++st.rounds;

    for (Head* h : active) {
      ++h->report.iterations;
      start_cg(*h);
    }
    // Batched CG: each pass is one Hessian product of the heads still running.
    for (;;) {
      running.clear();
      slots.clear();
      for (std::size_t t = 0; t < active.size(); ++t) {
        Head* h = active[t];
        if (!h->cg_running) continue;
        if (h->cg_iterations >= h->max_cg || !(std::sqrt(h->ztr) > h->cg_tol)) {
          h->cg_running = false;
          continue;
        }
        ++h->cg_iterations;
        running.push_back(h);
        slots.push_back(static_cast<Index>(t));
      }
      if (running.empty()) break;
      kernels.hessian_vector(running, slots);
      for (Head* h : running) cg_step(*h);
    }

    trial.clear();
    for (Head* h : active) {
      h->report.inner_iterations += h->cg_iterations;
      // A step that cannot move w in floating point ends the fit (not converged).
      if (!(h->s.lpNorm<Eigen::Infinity>() >
            step_eps * std::max(1.0, h->w.lpNorm<Eigen::Infinity>()))) {
        h->stopped = true;
        continue;
      }
      h->gs = h->g.dot(h->s);
      // Model reduction -(g^T s + s^T H s / 2), with H s = -g - r.
      h->prered = -0.5 * (h->gs - h->s.dot(h->r));
      if (!(h->prered > 0.0)) {
        h->stopped = true;
        continue;
      }
      h->w_new = h->w + h->s;
      trial.push_back(h);
    }
    if (trial.empty()) continue;
    kernels.evaluate(trial);

    accepted.assign(trial.size(), 0);
    std::size_t n_accepted = 0;
    for (std::size_t t = 0; t < trial.size(); ++t) {
      Head& h = *trial[t];
      if (!update_radius(h)) {
        // The float products may have misled the CG: double ones from now on.
        h.exact_hessian = true;
      } else {
        accepted[t] = 1;
        ++n_accepted;
        h.w.swap(h.w_new);
        h.g.swap(h.g_new);
        h.f = h.f_new;
        h.g_max = h.g_max_new;
        std::swap(h.m, h.m_new);
      }
    }
    // Accepted heads take their trial probabilities: when every active head
    // made a trial (block t = slot t) and all were accepted, by swapping the
    // matrices, otherwise block by block.
    if (n_accepted == active.size()) {
      kernels.swap_all();
    } else if (n_accepted > 0) {
      std::size_t slot = 0;
      for (std::size_t t = 0; t < trial.size(); ++t) {
        while (active[slot] != trial[t]) ++slot;
        if (accepted[t]) kernels.accept_block(static_cast<Index>(t), static_cast<Index>(slot));
      }
    }
  }

  std::vector<ProbeHead> result(static_cast<std::size_t>(batch));
  for (Head& h : heads) {
    Vector theta = h.w;
    theta.tail(c).noalias() -= ConstMatrixMap(h.w.data(), c, d) * h.mean;
    ProbeHead& head = result[h.id];
    head = SoftmaxObjective::unpack(theta, c, d);
    // Canonical representative of the flat bias direction (as fit_probe).
    head.bias.array() -= head.bias.mean();
    h.report.converged = h.g_max <= options.tol;
    h.report.grad_max_norm = h.g_max;
    h.report.objective = h.f;
    if (reports != nullptr) (*reports)[h.id] = h.report;
  }
  return result;
}

}  // namespace wsc::core

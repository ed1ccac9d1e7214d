#include "wsc/core/batched_newton.hpp"

#include "wsc/core/softmax_objective.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
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

/// The batched passes over the rows, tile by tile: every pass recomputes
/// what it needs of a head's rows (logits, probabilities) from the head's
/// parameters, so no matrix of n rows per head is kept and the batch does not
/// shrink as n grows. Column block t (C columns) of a tile's work matrices
/// belongs to the t-th head of the pass.
class BatchKernels {
 public:
  BatchKernels(RowsView x, Index classes, double l2, const SumReduce& reduce, const RowInvariants& invariants,
               BatchedFitStats& stats, const SolverOptions& options)
      : x_(x),
        basis_(invariants.basis),
        centre_(invariants.centre),
        classes_(classes),
        l2_(l2),
        reduce_(reduce),
        stats_(stats),
        options_(options),
        tile_(options.tile_rows > 0 ? options.tile_rows : tile_rows(x.cols())) {
    stats_.tile_rows = tile_;
  }

  /// Value, gradient and next preconditioner of each head at its w_new, into
  /// f_new, g_new, g_max_new, m_new. One pass over the rows in double, one
  /// reduce.
  void evaluate(const std::vector<Head*>& heads) {
    const auto start = Clock::now();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index k = static_cast<Index>(heads.size());
    const Index kc = k * c;
    // theta = T u: W unchanged, b = b' - W mean.
    stack_.resize(kc, d);
    bias_stack_.resize(kc);
    for (Index t = 0; t < k; ++t) {
      const Head& h = *heads[static_cast<std::size_t>(t)];
      const ConstMatrixMap w(h.w_new.data(), c, d);
      stack_.middleRows(t * c, c) = w;
      bias_stack_.segment(t * c, c) = h.w_new.tail(c) - w * h.mean;
    }
    // Buffer: [G^T X (kc x d) | colsum G (kc) | loss (k) | A sums (k x C x C)],
    // G the (weighted) residuals, A the class curvature of the preconditioner.
    const Index size = k * (1 + c * d + c + c * c);
    buffer_.setZero(size);
    double* const base = buffer_.data();
    MatrixMap gx(base, kc, d);
    Eigen::Map<Vector> g_bias(base + kc * d, kc);
    double* const loss = base + kc * (d + 1);
    double* const curvature = loss + k;

    for_each_tile(x_.rows(), tile_, [&](Index begin, Index n) {
      const auto xt = x_.doubles(begin, n, tile_d_);
      z_.resize(n, kc);
      z_.noalias() = xt * stack_.transpose();
      z_.rowwise() += bias_stack_.transpose();
      for (Index t = 0; t < k; ++t) {
        const Head& h = *heads[static_cast<std::size_t>(t)];
        auto pb = z_.middleCols(t * c, c);
        const double* w = h.weights != nullptr ? h.weights->data() + begin : nullptr;
        loss[t] += softmax_tile(pb, h.labels->data() + begin, w);
        add_curvature_sum(pb, w, curvature + t * c * c);
        to_residuals(pb, h.labels->data() + begin, w);
      }
      gx.noalias() += z_.transpose() * xt;
      g_bias += z_.colwise().sum().transpose();
    });
    stats_.evaluation_flops += 4.0 * static_cast<double>(x_.rows()) * static_cast<double>(d) *
                               static_cast<double>(kc);
    stats_.evaluation_seconds += seconds_since(start);

    call_reduce(size);

    const auto post = Clock::now();
    for (Index t = 0; t < k; ++t) take_evaluation(*heads[static_cast<std::size_t>(t)], t, k);
    stats_.evaluation_seconds += seconds_since(post);
    ++stats_.evaluations;
  }

  /// hd = H dir (centred coordinates) of each head at its current point w.
  /// Heads with uses_float_hessian() go through float GEMMs, the others
  /// through double ones. One reduce.
  void hessian_vector(const std::vector<Head*>& heads) {
    const auto start = Clock::now();
    const Index d = x_.cols();
    const Index c = classes_;
    const Index k = static_cast<Index>(heads.size());
    const Index kc = k * c;
    const Index size = kc * (d + 1);
    buffer_.setZero(size);
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
    const double flops = 6.0 * static_cast<double>(x_.rows()) * static_cast<double>(d) * static_cast<double>(c);
    if (!group_float_.empty()) {
      products<float>(heads, group_float_, hx, h_bias);
      stats_.hessian_float_flops += flops * static_cast<double>(group_float_.size());
    }
    if (!group_double_.empty()) {
      products<double>(heads, group_double_, hx, h_bias);
      stats_.hessian_flops += flops * static_cast<double>(group_double_.size());
    }
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

 private:
  template <typename S>
  struct Work;  // the tile matrices of the products in precision S

  /// The theta-space sums [R^T X | colsum R] of the heads `group` (indices
  /// into heads) into their rows of hx and h_bias, with GEMMs in precision
  /// S (float: over the rows centred on centre_, which keeps a large common
  /// offset of the features out of the float products). Per tile, one GEMM
  /// of 2 g C columns gives the logits at each head's current point w (from
  /// which its probabilities P) and U = X Vw^T + 1 vb^T for its direction;
  /// R = P o U - P o rowsum(P o U) (times the row weights) goes into R^T X.
  /// Each tile's sums are added in double.
  template <typename S>
  void products(const std::vector<Head*>& heads, const std::vector<Index>& group, MatrixMap& hx,
                Eigen::Map<Vector>& h_bias) {
    using MatS = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    using VecS = Eigen::Matrix<S, Eigen::Dynamic, 1>;
    constexpr bool kFloat = std::is_same<S, float>::value;
    const Index d = x_.cols();
    const Index c = classes_;
    const Index g = static_cast<Index>(group.size());
    const Index gc = g * c;
    // Rows [0, gc): W of each head; rows [gc, 2 gc): its direction V.
    Matrix stack(2 * gc, d);
    Vector bias(2 * gc);
    const Vector offset = kFloat ? centre_ : Vector::Zero(d);
    for (Index j = 0; j < g; ++j) {
      const Head& h = *heads[static_cast<std::size_t>(group[static_cast<std::size_t>(j)])];
      const ConstMatrixMap w(h.w.data(), c, d);
      const ConstMatrixMap v(h.dir.data(), c, d);
      stack.middleRows(j * c, c) = w;
      stack.middleRows(gc + j * c, c) = v;
      bias.segment(j * c, c) = h.w.tail(c) - w * (h.mean - offset);
      bias.segment(gc + j * c, c) = h.dir.tail(c) - v * (h.mean - offset);
    }
    const MatS stack_s = stack.template cast<S>();
    const VecS bias_s = bias.template cast<S>();
    MatS zu;
    MatS hg;
    Matrix hg_sum = Matrix::Zero(gc, d);
    Vector colsum = Vector::Zero(gc);
    for_each_tile(x_.rows(), tile_, [&](Index begin, Index n) {
      const auto xt = tile_of<S>(begin, n);
      zu.resize(n, 2 * gc);
      zu.noalias() = xt * stack_s.transpose();
      zu.rowwise() += bias_s.transpose();
      for (Index j = 0; j < g; ++j) {
        const Head& h = *heads[static_cast<std::size_t>(group[static_cast<std::size_t>(j)])];
        const double* w = h.weights != nullptr ? h.weights->data() + begin : nullptr;
        // Probabilities in double (the softmax of the evaluations).
        p_ = zu.middleCols(j * c, c).template cast<double>();
        softmax_tile(p_.leftCols(c), h.labels->data() + begin, nullptr);
        apply_softmax_jacobian(zu.middleCols(gc + j * c, c), p_, w);
      }
      const auto r = zu.rightCols(gc);
      hg.resize(gc, d);
      hg.noalias() = r.transpose() * xt;
      hg_sum += hg.template cast<double>();
      colsum += r.colwise().sum().transpose().template cast<double>();
    });
    for (Index j = 0; j < g; ++j) {
      const Index at = j * c;
      const Index to = group[static_cast<std::size_t>(j)] * c;
      h_bias.segment(to, c) = colsum.segment(at, c);
      // R^T X = R^T Xc + colsum(R) centre^T for the float products.
      hx.middleRows(to, c) = hg_sum.middleRows(at, c);
      if (kFloat) hx.middleRows(to, c) += colsum.segment(at, c) * centre_.transpose();
    }
  }

  /// Rows [begin, begin + n) for GEMMs in precision S: double rows as
  /// stored (or widened), float rows centred on centre_.
  template <typename S>
  auto tile_of(Index begin, Index n) {
    if constexpr (std::is_same<S, float>::value) {
      x_.centred_floats(begin, n, centre_, tile_f_);
      return Eigen::Map<const RowMatrixF>(tile_f_.data(), n, x_.cols());
    } else {
      return x_.doubles(begin, n, tile_d_);
    }
  }

  /// U o P - P o rowsum(U o P), times the row weights when given: the
  /// softmax Jacobian applied to one head's n x C block U in place, in U's
  /// precision (P, the probabilities, are double).
  template <typename UBlock>
  void apply_softmax_jacobian(UBlock ub, const Matrix& pb, const double* weights) {
    using S = typename UBlock::Scalar;
    const Index n = ub.rows();
    const Index c = ub.cols();
    for (Index j = 0; j < c; ++j) ub.col(j).array() *= pb.col(j).array().template cast<S>();
    row_sum_ = ub.col(0).template cast<double>();
    for (Index j = 1; j < c; ++j) row_sum_ += ub.col(j).template cast<double>();
    for (Index j = 0; j < c; ++j) {
      ub.col(j).array() -= (pb.col(j).array() * row_sum_.array()).template cast<S>();
    }
    if (weights != nullptr) {
      ub.array().colwise() *= Eigen::Map<const Vector>(weights, n).array().template cast<S>();
    }
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
  /// softmax_rows, column by column), zero on skipped rows (label < 0);
  /// returns the sum of the cross-entropies of the counted rows, weighted by
  /// `weights` if given.
  template <typename Block>
  double softmax_tile(Block zb, const int* y, const double* weights) {
    const Index n = zb.rows();
    const Index c = zb.cols();
    if (n == 0) return 0.0;
    row_max_ = zb.col(0);
    for (Index j = 1; j < c; ++j) row_max_ = row_max_.cwiseMax(zb.col(j));
    for (Index j = 0; j < c; ++j) zb.col(j) -= row_max_;
    label_logit_.resize(n);
    for (Index i = 0; i < n; ++i) label_logit_(i) = y[i] >= 0 ? zb(i, y[i]) : 0.0;
    // As softmax_rows: below -708 flush to 0 (softmax_exp.hpp). The block's
    // C columns are contiguous (full columns of a column-major matrix).
    softmax_exp(zb.data(), n * c);
    row_sum_ = zb.col(0);
    for (Index j = 1; j < c; ++j) row_sum_ += zb.col(j);
    // Skipped rows get weight 0 (their P rows become 0, their loss is not
    // counted); counted rows 1 / norm.
    for (Index i = 0; i < n; ++i) {
      if (y[i] < 0) {
        row_max_(i) = 0.0;  // reused: per-row scale
        row_sum_(i) = 1.0;  // log(1) = 0 below
      } else {
        row_max_(i) = 1.0 / row_sum_(i);
      }
    }
    for (Index j = 0; j < c; ++j) zb.col(j).array() *= row_max_.array();
    if (weights != nullptr) {
      return ((row_sum_.array().log() - label_logit_.array()) * Eigen::Map<const Vector>(weights, n).array()).sum();
    }
    return (row_sum_.array().log() - label_logit_.array()).sum();
  }

  /// Probabilities P of one head's block become its (weighted) residuals
  /// P - onehot(y) (P is already zero on skipped rows).
  template <typename Block>
  static void to_residuals(Block pb, const int* y, const double* weights) {
    const Index n = pb.rows();
    for (Index i = 0; i < n; ++i) {
      if (y[i] >= 0) pb(i, y[i]) -= 1.0;
    }
    if (weights != nullptr) pb.array().colwise() *= Eigen::Map<const Vector>(weights, n).array();
  }

  void call_reduce(Index size) {
    const auto start = Clock::now();
    reduce_(buffer_.data(), static_cast<std::size_t>(size));
    stats_.reduce_seconds += seconds_since(start);
    ++stats_.reduce_calls;
    stats_.reduced_doubles += static_cast<std::size_t>(size);
  }

  RowsView x_;
  const FeatureBasis& basis_;  // the feature factor of the preconditioner
  const Vector& centre_;       // the centre of the float products
  Index classes_;
  double l2_;
  const SumReduce& reduce_;
  BatchedFitStats& stats_;
  SolverOptions options_;  // float products (uses_float_hessian())
  Index tile_;             // rows per tile
  Matrix stack_;           // B*C x d stacked weights
  Vector bias_stack_;
  Vector buffer_;  // the reduce buffer
  // Tile scratch (a tile of rows in double / centred float, logits,
  // probabilities, per-row vectors).
  RowMatrix tile_d_;
  RowMatrixF tile_f_;
  Matrix z_, p_;
  Vector row_max_, row_sum_, label_logit_;
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
/// counts (C x B)].
struct SetupSums {
  SetupSums(Index heads, Index d, Index c)
      : batch(heads), sums_at(3 * heads), counts_at(sums_at + d * heads), values(Vector::Zero(counts_at + c * heads)) {}
  Index batch, sums_at, counts_at;
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

/// This participant's part of the set-up sums. The weighted row sums go
/// over tiles of rows (a tile's weights of every head, one GEMM).
SetupSums local_setup(RowsView x, const std::vector<Labels>& labels, int classes,
                      const std::vector<Vector>* row_weights, Index tile) {
  const Index n = x.rows();
  const Index batch = static_cast<Index>(labels.size());
  SetupSums setup(batch, x.cols(), classes);
  Vector& sums = setup.values;
  std::vector<const Vector*> weights(labels.size(), nullptr);
  std::vector<char> usable(labels.size(), 0);
  for (Index b = 0; b < batch; ++b) {
    const auto ub = static_cast<std::size_t>(b);
    bool bad_weights = false;
    weights[ub] = head_weights(row_weights, labels.size(), ub, n, bad_weights);
    if (bad_weights) {
      sums(2 * batch + b) = 1.0;
    } else if (static_cast<Index>(labels[ub].size()) != n) {
      sums(batch + b) = 1.0;
    } else {
      usable[ub] = 1;
    }
  }
  MatrixMap row_sums(sums.data() + setup.sums_at, x.cols(), batch);
  RowMatrix scratch;
  Matrix mask;
  for_each_tile(n, tile, [&](Index begin, Index count) {
    mask.setZero(count, batch);
    for (Index b = 0; b < batch; ++b) {
      const auto ub = static_cast<std::size_t>(b);
      if (!usable[ub]) continue;
      const int* y = labels[ub].data() + begin;
      for (Index i = 0; i < count; ++i) {
        const int label = y[i];
        if (label >= classes) {
          sums(batch + b) += 1.0;
        } else if (label >= 0) {
          const double weight = weights[ub] != nullptr ? (*weights[ub])(begin + i) : 1.0;
          mask(i, b) = weight;
          sums(b) += weight;
          sums(setup.counts_at + b * classes + label) += weight;
        }
      }
    }
    row_sums.noalias() += x.doubles(begin, count, scratch).transpose() * mask;
  });
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

// ---- The lock-step rounds -----------------------------------------------------

/// The iteration of a batch: all heads evaluated at their starts, then
/// rounds until every head has converged, stopped or used its iterations.
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
    for (Head* h : active_) {
      accept_step(*h);
      start_radius(*h);
    }
  }

  /// Heads that converged, hit the iteration limit or stopped leave the
  /// batch; the others keep their order. Returns whether any head is left.
  bool drop_finished() {
    kept_.clear();
    for (Head* h : active_)
      if (wants_iteration(*h, options_)) kept_.push_back(h);
    active_.swap(kept_);
    return !active_.empty();
  }

  /// Batched CG: each pass is one Hessian product of the heads whose CG is
  /// still running.
  void cg() {
    for (Head* h : active_) begin_iteration(*h);
    for (;;) {
      running_.clear();
      for (Head* h : active_)
        if (cg_wants_product(*h)) running_.push_back(h);
      if (running_.empty()) return;
      kernels_.hessian_vector(running_);
      for (Head* h : running_) cg_step(*h);
    }
  }

  /// The heads whose steps are worth evaluating (the others stop).
  void propose() {
    trial_.clear();
    for (Head* h : active_)
      if (propose_step(*h)) trial_.push_back(h);
  }

  /// Evaluates the trial points and accepts or rejects each step.
  void judge() {
    kernels_.evaluate(trial_);
    for (Head* h : trial_)
      if (judge_step(*h)) accept_step(*h);
  }

  BatchKernels& kernels_;
  const SolverOptions& options_;
  BatchedFitStats& stats_;
  std::vector<Head*> active_, kept_, running_, trial_;
};

}  // namespace

namespace {

template <typename S>
double timed_gemm_pair(Index rows, Index dim, Index columns, double seconds) {
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using RowMat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMat x = RowMat::Random(rows, dim);
  const Mat stack = Mat::Random(columns, dim);
  Mat z(rows, columns);
  Mat g(columns, dim);
  const double flops = 4.0 * static_cast<double>(rows) * static_cast<double>(dim) * static_cast<double>(columns);
  // One warm-up pair (first-touch pages, caches), then the fastest of the
  // pairs timed within `seconds` (at least three): the rate the kernels can
  // reach, so a pass's fraction of it is at most about 1.
  z.noalias() = x * stack.transpose();
  g.noalias() = z.transpose() * x;
  double best = std::numeric_limits<double>::infinity();
  const auto start = Clock::now();
  for (int pairs = 0; pairs < 3 || seconds_since(start) < seconds; ++pairs) {
    const auto t = Clock::now();
    z.noalias() = x * stack.transpose();
    g.noalias() = z.transpose() * x;
    best = std::min(best, seconds_since(t));
  }
  return best > 0.0 && g.allFinite() ? flops / best : 0.0;
}

}  // namespace

double gemm_pair_rate(Index rows, Index dim, Index columns, bool single, double seconds) {
  if (rows < 1 || dim < 1 || columns < 1) return 0.0;
  return single ? timed_gemm_pair<float>(rows, dim, columns, seconds)
                : timed_gemm_pair<double>(rows, dim, columns, seconds);
}

int suggested_batch_heads(Index dim, int classes, std::size_t budget_bytes) {
  // Per head: C x d parameters, directions and sums of the CG and the passes
  // (about six doubles per entry), the same whatever the row count.
  const double per_head = 6.0 * sizeof(double) * static_cast<double>(std::max<Index>(dim, 1)) *
                          static_cast<double>(std::max(classes, 1));
  const double heads = std::floor(static_cast<double>(budget_bytes) / per_head);
  return static_cast<int>(std::clamp(heads, 1.0, 1e6));
}

std::vector<ProbeHead> fit_probes_batched(RowsView x, const std::vector<Labels>& labels, int classes, double l2,
                                          const SolverOptions& options, const SumReduce& reduce,
                                          std::vector<FitReport>* reports, BatchedFitStats* stats,
                                          const std::vector<Vector>* row_weights, const RowInvariants* invariants) {
  check_arguments(classes, l2, reduce, options);
  BatchedFitStats local_stats;
  BatchedFitStats& st = stats != nullptr ? *stats : local_stats;
  st = BatchedFitStats{};
  if (reports != nullptr) reports->assign(labels.size(), FitReport{});
  if (labels.empty()) return {};
  st.heads = static_cast<std::int64_t>(labels.size());

  // Set-up: the rows' invariants (unless given), one reduce, the heads at
  // their starts.
  const Index d = x.cols();
  // The set-up's reduces, timed into st.reduce_seconds (the passes' own go through BatchKernels).
  const SumReduce timed = [&](double* data, std::size_t count) {
    const auto start = Clock::now();
    reduce(data, count);
    st.reduce_seconds += seconds_since(start);
  };
  RowInvariants own;
  if (invariants == nullptr) {
    own = row_invariants(x, timed);
    st.reduce_calls += 2;
    st.reduced_doubles += static_cast<std::size_t>(d * d + d + 1);
    invariants = &own;
  } else if (invariants->centre.size() != d || invariants->basis.values.size() != d ||
             invariants->basis.vectors.rows() != d || invariants->basis.vectors.cols() != d) {
    throw std::invalid_argument("fit_probes_batched: row invariants of another dimension");
  }
  const Index tile = options.tile_rows > 0 ? options.tile_rows : tile_rows(d);
  SetupSums setup = local_setup(x, labels, classes, row_weights, tile);
  timed(setup.values.data(), static_cast<std::size_t>(setup.values.size()));
  ++st.reduce_calls;
  st.reduced_doubles += static_cast<std::size_t>(setup.values.size());
  check_setup(setup);
  std::vector<Head> heads = make_heads(setup, labels, row_weights, classes, d);

  BatchKernels kernels(x, classes, l2, reduce, *invariants, st, options);
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

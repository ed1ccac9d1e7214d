// The batched TRON: every head equals fit_probe on its label vector, heads
// that need many iterations do not disturb the others, the iteration limit,
// argument errors agreed by every participant, and the collective contract
// over row blocks on threads (same calls, same buffer sizes everywhere).
#include "test_support.hpp"
#include "wsc/core/batched_newton.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace wsc::core {
namespace {

using wsc_test::Blocks;
using wsc_test::Problem;
using wsc_test::run_parties;
using wsc_test::ThreadAllreduce;

/// Gaussian classes of norm-`separation` means in d dimensions, a common
/// offset (embedding-like, exercises the centred coordinates) and features of
/// different scales. Every 7th row is unlabelled.
Problem make_problem(Index n, Index d, int classes, double separation, std::uint32_t seed) {
  wsc_test::GaussianClasses spec;
  spec.n = n;
  spec.d = d;
  spec.classes = classes;
  spec.seed = seed;
  spec.separation = separation;
  spec.offset = 3.0;
  spec.scales = wsc_test::GaussianClasses::Scales::cycle5;
  spec.unlabelled_every = 7;
  spec.unlabelled_at = 3;
  return wsc_test::make_problem(spec);
}

/// `heads` label vectors: head 0 the original labels, the others the counted
/// labels permuted among the counted rows; every third head also skips some
/// extra rows of its own (heads may differ in their row sets).
std::vector<Labels> permuted_labels(const Labels& y, std::size_t heads, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> counted;
  for (std::size_t i = 0; i < y.size(); ++i)
    if (y[i] >= 0) counted.push_back(i);
  std::vector<Labels> out;
  out.push_back(y);
  for (std::size_t b = 1; b < heads; ++b) {
    std::vector<int> values;
    for (std::size_t i : counted) values.push_back(y[i]);
    std::shuffle(values.begin(), values.end(), rng);
    Labels lab = y;
    for (std::size_t k = 0; k < counted.size(); ++k) lab[counted[k]] = values[k];
    if (b % 3 == 0) {
      for (std::size_t i = b; i < lab.size(); i += 11) lab[i] = -1;
    }
    out.push_back(std::move(lab));
  }
  return out;
}

double param_norm(const ProbeHead& h) {
  return std::sqrt(h.weight.squaredNorm() + h.bias.squaredNorm());
}

double gradient_max_norm(const RowMatrix& x, const Labels& y, int classes, double l2,
                         const ProbeHead& head) {
  SoftmaxObjective obj(x, y, classes, l2, identity_reduce());
  Vector g;
  obj.value_and_gradient(SoftmaxObjective::pack(head), g);
  return g.lpNorm<Eigen::Infinity>();
}

/// |theta - theta'| <= rel |theta'| in W and in b.
void expect_close(const ProbeHead& got, const ProbeHead& want, double rel, const std::string& what) {
  ASSERT_EQ(got.weight.rows(), want.weight.rows()) << what;
  ASSERT_EQ(got.weight.cols(), want.weight.cols()) << what;
  ASSERT_EQ(got.bias.size(), want.bias.size()) << what;
  EXPECT_LE((got.weight - want.weight).norm(), rel * param_norm(want)) << what;
  EXPECT_LE((got.bias - want.bias).norm(), rel * param_norm(want)) << what;
}

/// Two converged fits of one problem: the optimum is unique (l2 > 0), and a
/// point with gradient g is within |g|_2 / mu of it, mu the least curvature
/// (>= l2 on W; the unpenalised bias has data curvature far above the l2
/// values used here). So they must agree to `rel` relative, or, where the
/// gradients actually reached are too large for that, to that bound: fit_probe
/// itself stops at grad <= tol, and tol / l2 can exceed 1e-7 |theta| on a
/// nearly separable head. The reached gradients are usually far below tol.
void expect_same_optimum(const ProbeHead& got, const ProbeHead& want, const RowMatrix& x,
                         const Labels& y, int classes, double l2, double rel,
                         const std::string& what) {
  SoftmaxObjective obj(x, y, classes, l2, identity_reduce());
  Vector g_got, g_want;
  obj.value_and_gradient(SoftmaxObjective::pack(got), g_got);
  obj.value_and_gradient(SoftmaxObjective::pack(want), g_want);
  const double uncertainty = (g_got.norm() + g_want.norm()) / l2;
  const double allowed = std::max(rel * param_norm(want), uncertainty);
  const double dw = (got.weight - want.weight).norm();
  EXPECT_LE(dw, allowed) << what << ": relative " << dw / param_norm(want) << ", gradient bound "
                         << uncertainty / param_norm(want);
  EXPECT_LE((got.bias - want.bias).norm(), allowed) << what;
}

struct BatchCase {
  Index n;
  Index d;
  int classes;
  double l2;
  std::size_t heads;
  double separation;
};

class BatchedEqualsSingle : public ::testing::TestWithParam<BatchCase> {};

TEST_P(BatchedEqualsSingle, EveryHeadEqualsFitProbe) {
  const BatchCase k = GetParam();
  const auto seed = static_cast<std::uint32_t>(k.n * 7 + k.d * 3 + k.classes + k.heads);
  const Problem p = make_problem(k.n, k.d, k.classes, k.separation, seed);
  const std::vector<Labels> labels = permuted_labels(p.y, k.heads, seed + 1);
  SolverOptions options;
  options.tol = 1e-10;

  std::vector<FitReport> reports;
  BatchedFitStats stats;
  const std::vector<ProbeHead> batched =
      fit_probes_batched(p.x, labels, k.classes, k.l2, options, identity_reduce(), &reports, &stats);
  ASSERT_EQ(batched.size(), k.heads);
  ASSERT_EQ(reports.size(), k.heads);

  int max_iterations = 0;
  std::size_t same_counts = 0;
  for (std::size_t b = 0; b < k.heads; ++b) {
    const std::string what = "head " + std::to_string(b);
    FitReport single_report;
    const ProbeHead single =
        fit_probe(p.x, labels[b], k.classes, k.l2, options, identity_reduce(), &single_report);
    ASSERT_TRUE(single_report.converged) << what;
    EXPECT_TRUE(reports[b].converged) << what;
    EXPECT_LE(reports[b].grad_max_norm, options.tol) << what;
    EXPECT_GT(reports[b].iterations, 0) << what;
    // Same method, so the same path up to rounding: the same outer count and
    // about the same CG count (long CG runs are sensitive to rounding), except
    // where a rounding-level difference flips a decision (nearly separable
    // heads with small l2: hence "most heads", not all).
    EXPECT_LE(std::abs(reports[b].iterations - single_report.iterations), 2) << what;
    if (reports[b].iterations == single_report.iterations &&
        std::abs(reports[b].inner_iterations - single_report.inner_iterations) <=
            std::max(2, single_report.inner_iterations / 10)) {
      ++same_counts;
    }
    EXPECT_NEAR(reports[b].objective, single_report.objective,
                1e-12 * std::max(1.0, std::abs(single_report.objective)))
        << what;
    expect_same_optimum(batched[b], single, p.x, labels[b], k.classes, k.l2, 1e-7, what);
    // Optimal on its own terms (fresh objective, original parameters).
    EXPECT_LE(gradient_max_norm(p.x, labels[b], k.classes, k.l2, batched[b]), 2 * options.tol)
        << what;
    EXPECT_NEAR(batched[b].bias.sum(), 0.0, 1e-12 * std::max(1.0, batched[b].bias.norm()));
    max_iterations = std::max(max_iterations, reports[b].iterations);
  }
  EXPECT_GE(same_counts, 3 * k.heads / 4) << "outer/CG iteration counts differ from fit_probe";
  // Lock-step: as many rounds as the slowest head needs; two reduces for the
  // rows' invariants (mean, covariance: none are passed in), one for the
  // setup, one per evaluation, one per Hessian product.
  EXPECT_EQ(stats.rounds, max_iterations);
  EXPECT_EQ(stats.reduce_calls, 3 + stats.evaluations + stats.hessian_products);
  EXPECT_EQ(stats.heads, static_cast<std::int64_t>(k.heads));
  EXPECT_LE(stats.evaluations, 1 + stats.rounds);
}

INSTANTIATE_TEST_SUITE_P(
    Problems, BatchedEqualsSingle,
    ::testing::Values(BatchCase{500, 5, 2, 1e-2, 1, 1.5}, BatchCase{700, 12, 3, 1e-4, 1, 3.0},
                      BatchCase{800, 16, 3, 1e-3, 7, 2.0}, BatchCase{3000, 64, 5, 1e-4, 7, 3.0},
                      BatchCase{1000, 24, 2, 1e-2, 7, 4.0}, BatchCase{1500, 32, 3, 1e-4, 32, 2.0},
                      BatchCase{2000, 8, 2, 1e-3, 32, 1.0}, BatchCase{600, 64, 5, 1e-2, 32, 3.0},
                      BatchCase{1200, 40, 5, 1e-3, 32, 2.5}));

/// Embedding-like rows: strongly correlated features (singular values
/// j^-1.5 in a random basis, condition number of the covariance ~ d^3), a
/// large common offset and a class signal along a few leading directions.
Problem make_correlated_problem(Index n, Index d, int classes, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix g(d, d);
  for (Index i = 0; i < g.size(); ++i) g.data()[i] = normal(rng);
  const Matrix q = Eigen::HouseholderQR<Matrix>(g).householderQ();
  Matrix means = Matrix::Zero(classes, d);
  for (int c = 0; c < classes; ++c)
    for (Index j = 0; j < std::min<Index>(4, d); ++j) means(c, j) = 0.8 * normal(rng);
  Problem p;
  Matrix z(n, d);
  p.y.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % classes);
    for (Index j = 0; j < d; ++j) {
      z(i, j) = normal(rng) * std::pow(static_cast<double>(j + 1), -1.5) + means(label, j);
    }
    p.y[static_cast<std::size_t>(i)] = i % 9 == 4 ? -1 : label;
  }
  p.x = z * q.transpose();
  p.x.array() += 5.0;
  return p;
}

TEST(BatchedNewton, CorrelatedFeaturesEqualSingleFits) {
  // Ill-conditioned features, where the preconditioner's feature factor does
  // most of the work: every head (observed and permuted, some skipping rows
  // of their own) equals its single fit at the optimum.
  for (const int classes : {2, 5}) {
    const Index d = 40;
    const double l2 = 1e-4;
    const Problem p = make_correlated_problem(2500, d, classes, 121 + classes);
    const std::vector<Labels> labels = permuted_labels(p.y, 7, 122);
    SolverOptions options;
    options.tol = 1e-10;
    std::vector<FitReport> reports;
    const auto batched =
        fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &reports);
    for (std::size_t b = 0; b < labels.size(); ++b) {
      const std::string what = "C " + std::to_string(classes) + " head " + std::to_string(b);
      FitReport single_report;
      const ProbeHead single =
          fit_probe(p.x, labels[b], classes, l2, options, identity_reduce(), &single_report);
      ASSERT_TRUE(single_report.converged) << what;
      EXPECT_TRUE(reports[b].converged) << what;
      EXPECT_LE(std::abs(reports[b].iterations - single_report.iterations), 2) << what;
      EXPECT_NEAR(reports[b].objective, single_report.objective,
                  1e-12 * std::max(1.0, std::abs(single_report.objective)))
          << what;
      expect_same_optimum(batched[b], single, p.x, labels[b], classes, l2, 1e-7, what);
      EXPECT_LE(gradient_max_norm(p.x, labels[b], classes, l2, batched[b]), 2 * options.tol)
          << what;
    }
  }
}

TEST(BatchedNewton, SlowHeadConvergesAndLeavesOthersUnchanged) {
  const int classes = 3;
  const double l2 = 1e-4;
  const Problem p = make_problem(1500, 20, classes, 2.0, 11);
  std::vector<Labels> labels = permuted_labels(p.y, 10, 12);
  labels.erase(labels.begin());  // permuted heads only: all about equally easy
  // A linearly separable head (the label is a function of the features): with
  // l2 = 1e-4 it needs many more iterations than the permuted ones.
  Labels separable(p.y.size());
  for (Index i = 0; i < p.x.rows(); ++i) {
    const double score = p.x(i, 0) - p.x(i, 1) + 0.5 * p.x(i, 2);
    separable[static_cast<std::size_t>(i)] = score < -1.0 ? 0 : (score < 4.0 ? 1 : 2);
  }
  labels.insert(labels.begin() + 4, separable);
  SolverOptions options;
  options.tol = 1e-10;

  std::vector<FitReport> reports;
  BatchedFitStats stats;
  const auto batched =
      fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &reports, &stats);
  int others_max = 0;
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const std::string what = "head " + std::to_string(b);
    EXPECT_TRUE(reports[b].converged) << what;
    EXPECT_LE(reports[b].grad_max_norm, options.tol) << what;
    FitReport single_report;
    const ProbeHead single =
        fit_probe(p.x, labels[b], classes, l2, options, identity_reduce(), &single_report);
    ASSERT_TRUE(single_report.converged) << what;
    expect_same_optimum(batched[b], single, p.x, labels[b], classes, l2, 1e-7, what);
    if (b != 4) others_max = std::max(others_max, reports[b].iterations);
  }
  // The separable head really is the slow one, and the batch ran for it alone
  // at the end: the last Hessian products carried one head.
  EXPECT_GE(reports[4].iterations, 2 * others_max);
  EXPECT_EQ(stats.rounds, reports[4].iterations);

  // Batched alone or in company: the same head.
  std::vector<FitReport> alone_report;
  const auto alone = fit_probes_batched(p.x, {separable}, classes, l2, options, identity_reduce(),
                                        &alone_report);
  expect_same_optimum(alone[0], batched[4], p.x, separable, classes, l2, 1e-7, "separable alone");
  EXPECT_NEAR(alone_report[0].iterations, reports[4].iterations, 1);
}

TEST(BatchedNewton, BatchShrinksAsHeadsConverge) {
  // Record the reduce sizes: after the slow head is the only one left, every
  // Hessian product carries exactly one head (C (d + 1) doubles).
  const int classes = 2;
  const Index d = 6;
  const Problem p = make_problem(800, d, classes, 1.0, 21);
  std::vector<Labels> labels = permuted_labels(p.y, 6, 22);
  Labels separable(p.y.size());
  for (Index i = 0; i < p.x.rows(); ++i) separable[static_cast<std::size_t>(i)] = p.x(i, 0) > 3.0;
  labels.push_back(separable);
  std::vector<std::size_t> sizes;
  const SumReduce record = [&](double*, std::size_t count) { sizes.push_back(count); };
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> reports;
  fit_probes_batched(p.x, labels, classes, 1e-4, options, record, &reports);
  const std::size_t one_head_hv = static_cast<std::size_t>(classes * (d + 1));
  const std::size_t one_head_eval =
      static_cast<std::size_t>(1 + classes * d + classes + classes * classes);
  const std::size_t heads = labels.size();
  ASSERT_GE(sizes.size(), 5u);
  // The rows' invariants: their sum and count, then their covariance.
  EXPECT_EQ(sizes[0], static_cast<std::size_t>(d + 1));
  EXPECT_EQ(sizes[1], static_cast<std::size_t>(d * d));
  // Setup: per head the weight, bad labels, bad weights, the row sums and the
  // class counts.
  EXPECT_EQ(sizes[2], heads * static_cast<std::size_t>(3 + d + classes));
  EXPECT_EQ(sizes[3], heads * one_head_eval);                    // initial evaluation
  EXPECT_EQ(sizes[4], heads * one_head_hv);                      // first CG step: all heads
  EXPECT_TRUE(sizes.back() == one_head_eval || sizes.back() == one_head_hv);
  // A good part of the calls carry the slow head alone.
  const auto alone = std::count_if(sizes.begin(), sizes.end(), [&](std::size_t s) {
    return s == one_head_eval || s == one_head_hv;
  });
  EXPECT_GE(alone, static_cast<long>(sizes.size() / 4));
  for (const FitReport& r : reports) EXPECT_TRUE(r.converged);
}

TEST(BatchedNewton, ReduceSecondsCoverEveryReduceCall) {
  // A hook that sleeps 1 ms per call and times itself: reduce_seconds
  // encloses every call (the invariants', the setup's and the passes'), so it
  // is at least the hook's own total, and the kernels' times exclude it
  // (their sum with it stays within the wall time of the fit).
  const Problem p = make_problem(300, 4, 3, 1.0, 31);
  const std::vector<Labels> labels = permuted_labels(p.y, 4, 32);
  using Clock = std::chrono::steady_clock;
  int calls = 0;
  double inside = 0.0;
  const SumReduce slow = [&](double*, std::size_t) {
    const auto t = Clock::now();
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    inside += std::chrono::duration<double>(Clock::now() - t).count();
  };
  BatchedFitStats stats;
  std::vector<FitReport> reports;
  const auto start = Clock::now();
  fit_probes_batched(p.x, labels, 3, 1e-3, SolverOptions{}, slow, &reports, &stats);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(stats.reduce_calls, calls);
  ASSERT_GT(calls, 4);
  EXPECT_GE(stats.reduce_seconds, inside);
  EXPECT_GE(inside, 1e-3 * calls);
  EXPECT_LE(stats.evaluation_seconds + stats.hessian_seconds + stats.reduce_seconds, wall);
}

TEST(BatchedNewton, IterationLimitAndSameIterates) {
  // Stopped after k outer iterations the heads are not converged, and each is
  // the k-th iterate of fit_probe: the same CG steps, radii and acceptance
  // decisions, up to rounding.
  const int classes = 3;
  const double l2 = 1e-3;
  const Problem p = make_problem(600, 10, classes, 2.0, 31);
  auto labels = permuted_labels(p.y, 6, 32);
  Labels separable(p.y.size());  // a head with rejected steps and radius changes
  for (Index i = 0; i < p.x.rows(); ++i) {
    const double score = p.x(i, 0) - p.x(i, 1);
    separable[static_cast<std::size_t>(i)] = score < -1.0 ? 0 : (score < 2.0 ? 1 : 2);
  }
  labels.push_back(separable);
  SolverOptions options;
  options.tol = 1e-10;
  // Double Hessian products: the float ones of the default are rounded
  // differently by the batched GEMMs (B*C columns, other blocking) and by
  // fit_probe's (C columns), about 1e-7 relative, and the CG passes that on
  // to the intermediate iterates (1e-6..1e-5 relative here), so agreement
  // to 1e-8 iterate by iterate is a property of the double path. With float
  // products the converged heads agree (BatchedEqualsSingle and
  // FloatHessianReachesTheSameOptimum).
  options.float_hessian = false;
  for (const int max_iter : {1, 2, 3, 4, 6, 9}) {
    options.max_iter = max_iter;
    std::vector<FitReport> reports;
    const auto heads =
        fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &reports);
    ASSERT_EQ(reports.size(), labels.size());
    for (std::size_t b = 0; b < labels.size(); ++b) {
      const std::string what = "max_iter " + std::to_string(max_iter) + " head " + std::to_string(b);
      FitReport single_report;
      const ProbeHead single =
          fit_probe(p.x, labels[b], classes, l2, options, identity_reduce(), &single_report);
      EXPECT_EQ(reports[b].converged, single_report.converged) << what;
      EXPECT_EQ(reports[b].iterations, single_report.iterations) << what;
      EXPECT_EQ(reports[b].inner_iterations, single_report.inner_iterations) << what;
      if (max_iter <= 2) {
        EXPECT_FALSE(reports[b].converged) << what;
        EXPECT_EQ(reports[b].iterations, max_iter) << what;
        EXPECT_GT(reports[b].grad_max_norm, options.tol) << what;
      }
      // Close to the optimum rounding differences are no longer small
      // relative to the gradient (and grow on the separable head): compare
      // the iterates of the first few iterations only, while the gradient is
      // still far above rounding level.
      if (!single_report.converged && max_iter <= 6 && single_report.grad_max_norm > 1e-7) {
        expect_close(heads[b], single, 1e-8, what);
        EXPECT_NEAR(reports[b].grad_max_norm, single_report.grad_max_norm,
                    1e-6 * single_report.grad_max_norm)
            << what;
      }
    }
  }

  options.max_iter = 0;
  std::vector<FitReport> reports;
  const auto zero = fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &reports);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    EXPECT_FALSE(reports[b].converged);
    EXPECT_EQ(reports[b].iterations, 0);
    EXPECT_EQ(zero[b].weight, Matrix::Zero(classes, 10));
  }
}

TEST(BatchedNewton, FloatHessianReachesTheSameOptimum) {
  // Float and double Hessian products, batched and single: every fit meets
  // the tolerance in double, they agree to the optimum's uncertainty, and the
  // float CG needs about as many steps (a head with rejected steps switches
  // to double products).
  const int classes = 3;
  const double l2 = 1e-4;
  const Problem p = make_problem(600, 10, classes, 2.0, 41);
  auto labels = permuted_labels(p.y, 8, 42);
  Labels separable(p.y.size());
  for (Index i = 0; i < p.x.rows(); ++i) {
    const double score = p.x(i, 0) - p.x(i, 1);
    separable[static_cast<std::size_t>(i)] = score < -1.0 ? 0 : (score < 2.0 ? 1 : 2);
  }
  labels.push_back(separable);
  SolverOptions exact;
  exact.tol = 1e-10;
  exact.float_hessian = false;
  SolverOptions fast = exact;
  fast.float_hessian = true;
  std::vector<FitReport> exact_reports, fast_reports;
  const auto want =
      fit_probes_batched(p.x, labels, classes, l2, exact, identity_reduce(), &exact_reports);
  const auto got =
      fit_probes_batched(p.x, labels, classes, l2, fast, identity_reduce(), &fast_reports);
  int exact_cg = 0;
  int fast_cg = 0;
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const std::string what = "head " + std::to_string(b);
    ASSERT_TRUE(fast_reports[b].converged) << what;
    EXPECT_LE(fast_reports[b].grad_max_norm, fast.tol) << what;
    EXPECT_LE(gradient_max_norm(p.x, labels[b], classes, l2, got[b]), 2 * fast.tol) << what;
    expect_same_optimum(got[b], want[b], p.x, labels[b], classes, l2, 1e-7, what);
    FitReport single_report;
    const ProbeHead single =
        fit_probe(p.x, labels[b], classes, l2, fast, identity_reduce(), &single_report);
    EXPECT_TRUE(single_report.converged) << what;
    expect_same_optimum(got[b], single, p.x, labels[b], classes, l2, 1e-7, what);
    exact_cg += exact_reports[b].inner_iterations;
    fast_cg += fast_reports[b].inner_iterations;
  }
  EXPECT_LE(fast_cg, exact_cg + exact_cg / 10 + 2);
}

TEST(BatchedNewton, EmptyBatchAndArgumentErrors) {
  const Problem p = make_problem(50, 3, 2, 1.0, 41);
  int calls = 0;
  const SumReduce count = [&](double*, std::size_t) { ++calls; };
  std::vector<FitReport> reports(3);
  EXPECT_TRUE(fit_probes_batched(p.x, {}, 2, 0.1, SolverOptions{}, count, &reports).empty());
  EXPECT_TRUE(reports.empty());
  EXPECT_EQ(calls, 0);
  EXPECT_THROW(fit_probes_batched(p.x, {p.y}, 1, 0.1, SolverOptions{}, count, nullptr),
               std::invalid_argument);
  EXPECT_THROW(fit_probes_batched(p.x, {p.y}, 2, -1.0, SolverOptions{}, count, nullptr),
               std::invalid_argument);
  EXPECT_THROW(fit_probes_batched(p.x, {p.y}, 2, 0.1, SolverOptions{}, SumReduce{}, nullptr),
               std::invalid_argument);
  SolverOptions bad;
  bad.max_iter = -1;
  EXPECT_THROW(fit_probes_batched(p.x, {p.y}, 2, 0.1, bad, count, nullptr), std::invalid_argument);
  EXPECT_EQ(calls, 0);  // all of these before any collective call

  Labels none(p.y.size(), -1);
  EXPECT_THROW(fit_probes_batched(p.x, {p.y, none}, 2, 0.1, SolverOptions{}, count, nullptr),
               std::invalid_argument);
  Labels too_big = p.y;
  too_big[4] = 2;
  EXPECT_THROW(fit_probes_batched(p.x, {p.y, too_big}, 2, 0.1, SolverOptions{}, count, nullptr),
               std::invalid_argument);
  Labels short_labels(p.y.begin(), p.y.end() - 1);
  EXPECT_THROW(fit_probes_batched(p.x, {short_labels}, 2, 0.1, SolverOptions{}, count, nullptr),
               std::invalid_argument);
  EXPECT_EQ(calls, 9);  // the invariants' two and the setup reduce each
}

TEST(BatchedNewton, SuggestedBatchHeads) {
  // floor(256 MiB / (6 doubles * d * C)): from the dimension, not the rows.
  EXPECT_EQ(suggested_batch_heads(256, 5), 4369);
  EXPECT_EQ(suggested_batch_heads(2048, 10, std::size_t{48} * 2048 * 10 * 7), 7);
  EXPECT_EQ(suggested_batch_heads(100000000, 10), 1);
  EXPECT_GE(suggested_batch_heads(0, 2), 1);
}

// ---- Collective -----------------------------------------------------------

TEST(BatchedNewtonCollective, RowBlocksEqualSerialBatch) {
  const int classes = 3;
  const double l2 = 1e-3;
  const Problem p = make_problem(1400, 12, classes, 2.0, 51);
  std::vector<Labels> labels = permuted_labels(p.y, 10, 52);
  // One slower head so that the batch shrinks during the fit.
  Labels separable(p.y.size());
  for (Index i = 0; i < p.x.rows(); ++i) {
    const double score = p.x(i, 0) - p.x(i, 3);
    separable[static_cast<std::size_t>(i)] = score < -2.0 ? 0 : (score < 2.0 ? 1 : 2);
  }
  labels.push_back(separable);
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> serial_reports;
  const auto serial =
      fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &serial_reports);

  for (const Blocks& blocks :
       {Blocks{{0, 700}, {700, 1400}}, Blocks{{0, 500}, {500, 500}, {500, 1400}},
        Blocks{{0, 0}, {0, 1}, {1, 900}, {900, 1400}}}) {
    const std::size_t parties = blocks.size();
    ThreadAllreduce comm(static_cast<int>(parties));
    std::vector<std::vector<ProbeHead>> heads(parties);
    std::vector<std::vector<FitReport>> reports(parties);
    run_parties(p.x, labels, blocks, comm,
                [&](int k, const RowMatrix& x, const std::vector<Labels>& y, SumReduce reduce) {
                  const auto i = static_cast<std::size_t>(k);
                  heads[i] = fit_probes_batched(x, y, classes, l2, options, reduce, &reports[i]);
                });
    ASSERT_FALSE(comm.broken()) << comm.what();
    for (std::size_t k = 0; k < parties; ++k) {
      // Same calls with the same sizes, same decisions, bitwise the same heads.
      EXPECT_EQ(comm.sizes()[k], comm.sizes()[0]) << "party " << k;
      ASSERT_EQ(heads[k].size(), labels.size());
      for (std::size_t b = 0; b < labels.size(); ++b) {
        EXPECT_EQ(reports[k][b].iterations, reports[0][b].iterations);
        EXPECT_EQ(reports[k][b].inner_iterations, reports[0][b].inner_iterations);
        EXPECT_EQ(heads[k][b].weight, heads[0][b].weight);
        EXPECT_EQ(heads[k][b].bias, heads[0][b].bias);
      }
    }
    // Against the serial batch (summation order differs).
    for (std::size_t b = 0; b < labels.size(); ++b) {
      EXPECT_TRUE(reports[0][b].converged);
      EXPECT_LE(reports[0][b].grad_max_norm, options.tol);
      expect_same_optimum(heads[0][b], serial[b], p.x, labels[b], classes, l2, 1e-7,
                          "head " + std::to_string(b));
    }
    // The batch did shrink: some call carries fewer heads than the first product.
    const auto& sizes = comm.sizes()[0];
    ASSERT_GE(sizes.size(), 3u);
    EXPECT_LT(*std::min_element(sizes.begin() + 1, sizes.end()), sizes[2]);
  }
}

TEST(BatchedNewtonCollective, LocalErrorsAreAgreedByAll) {
  const Problem p = make_problem(60, 3, 2, 1.0, 61);
  std::vector<Labels> labels = permuted_labels(p.y, 3, 62);
  // A bad label only in the last party's rows; then a head without any
  // labelled row. Every party throws after the same single setup reduce.
  std::vector<Labels> bad_label = labels;
  bad_label[1][45] = 7;
  std::vector<Labels> empty_head = labels;
  empty_head[2].assign(p.y.size(), -1);
  for (const auto& case_labels : {bad_label, empty_head}) {
    ThreadAllreduce comm(3);
    std::vector<int> threw(3, 0);
    run_parties(p.x, case_labels, Blocks{{0, 30}, {30, 30}, {30, 60}}, comm,
                [&](int k, const RowMatrix& x, const std::vector<Labels>& y, SumReduce reduce) {
                  try {
                    fit_probes_batched(x, y, 2, 0.1, SolverOptions{}, reduce, nullptr);
                  } catch (const std::invalid_argument&) {
                    threw[static_cast<std::size_t>(k)] = 1;
                  }
                });
    ASSERT_FALSE(comm.broken()) << comm.what();
    EXPECT_EQ(threw, (std::vector<int>{1, 1, 1}));
    for (const auto& s : comm.sizes()) EXPECT_EQ(s.size(), 3u);  // the invariants' and the setup reduce only
  }
}

}  // namespace
}  // namespace wsc::core

// ---- Row weights ----------------------------------------------------------

namespace wsc::core {
namespace {

/// Non-negative integer weights 0..3, about a quarter of them 0.
std::vector<Vector> integer_weights(std::size_t heads, Index n, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> draw(0, 3);
  std::vector<Vector> out;
  for (std::size_t b = 0; b < heads; ++b) {
    Vector w(n);
    for (Index i = 0; i < n; ++i) w(i) = draw(rng);
    out.push_back(std::move(w));
  }
  return out;
}

TEST(BatchedNewtonWeights, WeightsOfOneEqualUnweighted) {
  const int classes = 3;
  const double l2 = 1e-3;
  const Problem p = make_problem(900, 14, classes, 2.0, 71);
  const std::vector<Labels> labels = permuted_labels(p.y, 7, 72);
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> plain_reports, weighted_reports;
  const auto plain =
      fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(), &plain_reports);
  const std::vector<Vector> ones(labels.size(), Vector::Ones(p.x.rows()));
  const auto weighted = fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(),
                                           &weighted_reports, nullptr, &ones);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const std::string what = "head " + std::to_string(b);
    EXPECT_TRUE(weighted_reports[b].converged) << what;
    EXPECT_EQ(weighted_reports[b].iterations, plain_reports[b].iterations) << what;
    EXPECT_NEAR(weighted_reports[b].objective, plain_reports[b].objective,
                1e-13 * std::max(1.0, std::abs(plain_reports[b].objective)))
        << what;
    expect_same_optimum(weighted[b], plain[b], p.x, labels[b], classes, l2, 1e-9, what);
  }
}

TEST(BatchedNewtonWeights, IntegerWeightsEqualDuplicatedRows) {
  const int classes = 3;
  const double l2 = 1e-3;
  const Problem p = make_problem(700, 10, classes, 2.0, 81);
  const std::vector<Labels> labels = permuted_labels(p.y, 5, 82);
  const std::vector<Vector> weights = integer_weights(labels.size(), p.x.rows(), 83);
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> reports;
  const auto weighted = fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(),
                                           &reports, nullptr, &weights);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const std::string what = "head " + std::to_string(b);
    // Row i repeated weights[b](i) times: the same objective.
    const Index rows = static_cast<Index>(weights[b].sum());
    RowMatrix x(rows, p.x.cols());
    Labels y;
    Index at = 0;
    for (Index i = 0; i < p.x.rows(); ++i) {
      for (int k = 0; k < static_cast<int>(weights[b](i)); ++k) {
        x.row(at++) = p.x.row(i);
        y.push_back(labels[b][static_cast<std::size_t>(i)]);
      }
    }
    FitReport single_report;
    const ProbeHead single = fit_probe(x, y, classes, l2, options, identity_reduce(), &single_report);
    ASSERT_TRUE(single_report.converged) << what;
    EXPECT_TRUE(reports[b].converged) << what;
    EXPECT_NEAR(reports[b].objective, single_report.objective,
                1e-12 * std::max(1.0, std::abs(single_report.objective)))
        << what;
    expect_same_optimum(weighted[b], single, x, y, classes, l2, 1e-7, what);
    EXPECT_LE(gradient_max_norm(x, y, classes, l2, weighted[b]), 2 * options.tol) << what;
  }
}

TEST(BatchedNewtonWeights, ZeroWeightEqualsSkippedRow) {
  const int classes = 4;
  const double l2 = 1e-3;
  const Problem p = make_problem(800, 12, classes, 2.0, 91);
  const std::vector<Labels> labels = permuted_labels(p.y, 4, 92);
  std::vector<Vector> weights;
  std::vector<Labels> skipped = labels;
  for (std::size_t b = 0; b < labels.size(); ++b) {
    Vector w = Vector::Ones(p.x.rows());
    for (Index i = static_cast<Index>(b); i < p.x.rows(); i += 5) {
      w(i) = 0.0;
      skipped[b][static_cast<std::size_t>(i)] = -1;
    }
    weights.push_back(std::move(w));
  }
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> weighted_reports, skipped_reports;
  const auto weighted = fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(),
                                           &weighted_reports, nullptr, &weights);
  const auto reference =
      fit_probes_batched(p.x, skipped, classes, l2, options, identity_reduce(), &skipped_reports);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const std::string what = "head " + std::to_string(b);
    EXPECT_TRUE(weighted_reports[b].converged) << what;
    EXPECT_EQ(weighted_reports[b].iterations, skipped_reports[b].iterations) << what;
    expect_same_optimum(weighted[b], reference[b], p.x, skipped[b], classes, l2, 1e-9, what);
  }
}

TEST(BatchedNewtonWeights, BadWeightsAreArgumentErrors) {
  const Problem p = make_problem(60, 3, 2, 1.0, 101);
  const std::vector<Labels> labels = permuted_labels(p.y, 2, 102);
  int calls = 0;
  const SumReduce count = [&](double*, std::size_t) { ++calls; };
  const Vector ones = Vector::Ones(p.x.rows());
  auto fails = [&](std::vector<Vector> weights) {
    EXPECT_THROW(fit_probes_batched(p.x, labels, 2, 0.1, SolverOptions{}, count, nullptr, nullptr,
                                    &weights),
                 std::invalid_argument);
  };
  Vector negative = ones;
  negative(5) = -1.0;
  Vector nan = ones;
  nan(7) = std::numeric_limits<double>::quiet_NaN();
  Vector infinite = ones;
  infinite(9) = std::numeric_limits<double>::infinity();
  Vector zero_on_labelled = ones;
  for (Index i = 0; i < p.x.rows(); ++i)
    if (labels[1][static_cast<std::size_t>(i)] >= 0) zero_on_labelled(i) = 0.0;
  fails({ones, negative});
  fails({nan, ones});
  fails({ones, infinite});
  fails({ones, Vector::Ones(p.x.rows() - 1)});
  fails({ones});                   // one vector for two heads
  fails({ones, zero_on_labelled});  // total weight 0
  EXPECT_EQ(calls, 18);             // each after the invariants' and the setup reduces only
}

TEST(BatchedNewtonWeights, RowBlocksEqualSerialBatch) {
  const int classes = 3;
  const double l2 = 1e-3;
  const Problem p = make_problem(1000, 9, classes, 2.0, 111);
  const std::vector<Labels> labels = permuted_labels(p.y, 6, 112);
  const std::vector<Vector> weights = integer_weights(labels.size(), p.x.rows(), 113);
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> serial_reports;
  const auto serial = fit_probes_batched(p.x, labels, classes, l2, options, identity_reduce(),
                                         &serial_reports, nullptr, &weights);
  const Blocks blocks{{0, 0}, {0, 400}, {400, 1000}};
  std::vector<std::vector<Vector>> block_weights;
  for (const auto& [begin, end] : blocks) {
    std::vector<Vector> part;
    for (const Vector& w : weights) part.emplace_back(w.segment(begin, end - begin));
    block_weights.push_back(std::move(part));
  }
  ThreadAllreduce comm(static_cast<int>(blocks.size()));
  std::vector<std::vector<ProbeHead>> heads(blocks.size());
  std::vector<std::vector<FitReport>> reports(blocks.size());
  run_parties(p.x, labels, blocks, comm,
              [&](int k, const RowMatrix& x, const std::vector<Labels>& y, SumReduce reduce) {
                const auto i = static_cast<std::size_t>(k);
                heads[i] = fit_probes_batched(x, y, classes, l2, options, reduce, &reports[i],
                                              nullptr, &block_weights[i]);
              });
  ASSERT_FALSE(comm.broken()) << comm.what();
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    EXPECT_EQ(comm.sizes()[k], comm.sizes()[0]) << "party " << k;
    for (std::size_t b = 0; b < labels.size(); ++b) {
      EXPECT_EQ(heads[k][b].weight, heads[0][b].weight);
      EXPECT_EQ(heads[k][b].bias, heads[0][b].bias);
    }
  }
  for (std::size_t b = 0; b < labels.size(); ++b) {
    EXPECT_TRUE(reports[0][b].converged);
    EXPECT_EQ(reports[0][b].iterations, serial_reports[b].iterations);
    // Both at gradient <= 1e-10 of the same weighted objective (curvature >= l2).
    expect_close(heads[0][b], serial[b], 1e-6, "head " + std::to_string(b));
  }
}

}  // namespace
}  // namespace wsc::core

// ---- Tiles, float rows, invariants ----------------------------------------

namespace wsc::core {
namespace {

/// The heads of a batch fitted with a tile of 7 rows (many tiles, a short
/// last one) equal those of the default tile up to rounding: the tiles change
/// the summation order only.
TEST(BatchedNewtonTiles, TileSizeChangesRoundingOnly) {
  const int classes = 3;
  const Problem p = make_problem(1000, 12, classes, 2.0, 91);
  const std::vector<Labels> labels = permuted_labels(p.y, 9, 92);
  SolverOptions options;
  options.tol = 1e-10;
  std::vector<FitReport> whole_reports, tiled_reports;
  BatchedFitStats whole_stats, tiled_stats;
  const auto whole = fit_probes_batched(p.x, labels, classes, 1e-3, options, identity_reduce(), &whole_reports,
                                        &whole_stats);
  options.tile_rows = 7;
  const auto tiled = fit_probes_batched(p.x, labels, classes, 1e-3, options, identity_reduce(), &tiled_reports,
                                        &tiled_stats);
  EXPECT_EQ(tiled_stats.tile_rows, 7);
  EXPECT_GT(whole_stats.tile_rows, 7);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    ASSERT_TRUE(whole_reports[b].converged);
    ASSERT_TRUE(tiled_reports[b].converged);
    expect_same_optimum(tiled[b], whole[b], p.x, labels[b], classes, 1e-3, 1e-7, "head " + std::to_string(b));
  }
}

/// float rows (as a float32 file is held) give the heads of the same rows
/// widened to double: values and gradients are computed in double from the
/// exactly widened tiles, so every head reaches tol on the double gradient.
TEST(BatchedNewtonTiles, FloatRowsEqualTheirWidenedDoubles) {
  const int classes = 4;
  const Problem p = make_problem(1500, 20, classes, 2.0, 93);
  const RowMatrixF xf = p.x.cast<float>();
  const RowMatrix widened = xf.cast<double>();
  const std::vector<Labels> labels = permuted_labels(p.y, 8, 94);
  SolverOptions options;
  options.tol = 1e-9;
  for (const bool float_hessian : {true, false}) {
    options.float_hessian = float_hessian;
    std::vector<FitReport> fr, dr;
    const auto from_float = fit_probes_batched(xf, labels, classes, 1e-3, options, identity_reduce(), &fr);
    const auto from_double = fit_probes_batched(widened, labels, classes, 1e-3, options, identity_reduce(), &dr);
    for (std::size_t b = 0; b < labels.size(); ++b) {
      const std::string what = "head " + std::to_string(b) + (float_hessian ? " float products" : " double");
      ASSERT_TRUE(fr[b].converged) << what;
      EXPECT_LE(fr[b].grad_max_norm, options.tol) << what;
      EXPECT_LE(gradient_max_norm(widened, labels[b], classes, 1e-3, from_float[b]), 2 * options.tol) << what;
      if (!float_hessian) {
        // The same arithmetic on the same values: bit for bit.
        EXPECT_EQ(from_float[b].weight, from_double[b].weight) << what;
        EXPECT_EQ(from_float[b].bias, from_double[b].bias) << what;
      } else {
        expect_same_optimum(from_float[b], from_double[b], widened, labels[b], classes, 1e-3, 1e-7, what);
      }
    }
  }
}

/// Invariants passed in (as a run computes them once) give the heads the
/// fit computes for itself, and save its two reduces; the PCA's covariance
/// (divisor N - 1) is fine: only the preconditioner's scale changes.
TEST(BatchedNewtonTiles, GivenInvariantsEqualComputedOnes) {
  const int classes = 3;
  const Problem p = make_problem(900, 10, classes, 1.5, 95);
  const std::vector<Labels> labels = permuted_labels(p.y, 6, 96);
  SolverOptions options;
  options.tol = 1e-10;
  const RowInvariants own = row_invariants(p.x, identity_reduce());
  // The same from the sample covariance (divisor N - 1).
  const Vector mean = p.x.colwise().mean().transpose();
  const Matrix centred = p.x.rowwise() - mean.transpose();
  const Matrix sample = centred.transpose() * centred / static_cast<double>(p.x.rows() - 1);
  const RowInvariants from_pca = row_invariants_from_covariance(sample, mean);
  EXPECT_LE((own.centre - mean).norm(), 1e-12 * mean.norm());
  EXPECT_NEAR(from_pca.basis.values.sum() * static_cast<double>(p.x.rows() - 1) / static_cast<double>(p.x.rows()),
              own.basis.values.sum(), 1e-10 * own.basis.values.sum());

  std::vector<FitReport> r0, r1;
  BatchedFitStats s0, s1;
  const auto computed = fit_probes_batched(p.x, labels, classes, 1e-3, options, identity_reduce(), &r0, &s0);
  const auto given =
      fit_probes_batched(p.x, labels, classes, 1e-3, options, identity_reduce(), &r1, &s1, nullptr, &from_pca);
  EXPECT_EQ(s1.reduce_calls + 2, s0.reduce_calls);
  for (std::size_t b = 0; b < labels.size(); ++b) {
    ASSERT_TRUE(r1[b].converged);
    expect_same_optimum(given[b], computed[b], p.x, labels[b], classes, 1e-3, 1e-7, "head " + std::to_string(b));
  }
  RowInvariants wrong = own;
  wrong.centre = Vector::Zero(3);
  EXPECT_THROW(fit_probes_batched(p.x, labels, classes, 1e-3, options, identity_reduce(), nullptr, nullptr, nullptr,
                                  &wrong),
               std::invalid_argument);
}

/// The GEMM rate the engine measures its passes against is a positive,
/// finite number in both precisions.
TEST(BatchedNewtonTiles, GemmPairRateIsMeasured) {
  const double d = gemm_pair_rate(64, 32, 16, false, 0.01);
  const double f = gemm_pair_rate(64, 32, 16, true, 0.01);
  EXPECT_GT(d, 0.0);
  EXPECT_GT(f, 0.0);
  EXPECT_TRUE(std::isfinite(d) && std::isfinite(f));
  EXPECT_EQ(gemm_pair_rate(0, 32, 16, false), 0.0);
}

}  // namespace
}  // namespace wsc::core

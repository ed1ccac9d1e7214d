// The TRON solver: tight convergence on realistic problems, optimality
// properties of the multinomial optimum, agreement with a dense Newton
// reference, and the iteration limit.
#include "test_support.hpp"
#include "wsc/core/trust_region_newton.hpp"

#include <gtest/gtest.h>


#include <cmath>
#include <random>
#include <stdexcept>

namespace wsc::core {
namespace {

using wsc_test::Problem;

/// Gaussian classes: row i ~ N(mu_{y_i}, I) with class means of norm
/// `separation`, then feature j scaled by scale^(j / (d-1)) (badly scaled
/// features when scale >> 1). Every `skip_every`-th row is unlabelled.
Problem make_problem(Index n, Index d, int classes, double separation, double scale,
                     int skip_every, std::uint32_t seed) {
  wsc_test::GaussianClasses spec;
  spec.n = n;
  spec.d = d;
  spec.classes = classes;
  spec.seed = seed;
  spec.separation = separation;
  spec.scales = wsc_test::GaussianClasses::Scales::geometric;
  spec.scale = scale;
  spec.unlabelled_every = skip_every;
  return wsc_test::make_problem(spec);
}

/// Max-norm of the gradient at a head, from a fresh objective.
double gradient_max_norm(const Problem& p, int classes, double l2, const ProbeHead& head) {
  SoftmaxObjective obj(p.x, p.y, classes, l2, identity_reduce());
  Vector g;
  obj.value_and_gradient(SoftmaxObjective::pack(head), g);
  return g.lpNorm<Eigen::Infinity>();
}

struct SolverCase {
  Index n;
  Index d;
  int classes;
  double l2;
  double separation;
  double scale;
  double offset = 0.0;
};

class SolverConvergence : public ::testing::TestWithParam<SolverCase> {};

TEST_P(SolverConvergence, ReachesTightToleranceAndOptimalityProperties) {
  const SolverCase k = GetParam();
  Problem p = make_problem(k.n, k.d, k.classes, k.separation, k.scale, 7,
                           static_cast<std::uint32_t>(k.n + k.d + k.classes));
  p.x.array() += k.offset;
  SolverOptions options;
  options.tol = 1e-9;
  FitReport report;
  const ProbeHead head = fit_probe(p.x, p.y, k.classes, k.l2, options, identity_reduce(), &report);
  EXPECT_TRUE(report.converged);
  EXPECT_LE(report.grad_max_norm, 1e-9);
  EXPECT_GT(report.iterations, 0);
  EXPECT_GE(report.inner_iterations, report.iterations);
  // Do not trust the report: recompute at the returned head.
  EXPECT_LE(gradient_max_norm(p, k.classes, k.l2, head), 1e-9);

  // Optimality: the W-gradient summed over classes is l2 * sum_c W_c (the
  // loss part sums to zero row by row), so |sum_c W_c| <= C tol / l2.
  const Vector w_sum = head.weight.colwise().sum().transpose();
  EXPECT_LE(w_sum.lpNorm<Eigen::Infinity>(), k.classes * options.tol / k.l2);
  // The flat bias direction is fixed to sum zero.
  EXPECT_NEAR(head.bias.sum(), 0.0, 1e-12 * (1.0 + head.bias.lpNorm<Eigen::Infinity>()));
  // The report's objective is the objective at the head.
  SoftmaxObjective obj(p.x, p.y, k.classes, k.l2, identity_reduce());
  Vector g;
  EXPECT_NEAR(report.objective, obj.value_and_gradient(SoftmaxObjective::pack(head), g),
              1e-12 * std::abs(report.objective));
}

INSTANTIATE_TEST_SUITE_P(
    Problems, SolverConvergence,
    ::testing::Values(SolverCase{1000, 20, 2, 1e-3, 2.0, 1.0},
                      SolverCase{2000, 50, 3, 1e-4, 3.0, 1.0},
                      SolverCase{1500, 30, 5, 1e-2, 1.0, 1.0},
                      SolverCase{3000, 200, 10, 1e-4, 4.0, 1.0},
                      // nearly separable, weakly regularised
                      SolverCase{1000, 40, 4, 1e-4, 12.0, 1.0},
                      // badly scaled features (1 .. 30)
                      SolverCase{2000, 60, 6, 1e-3, 3.0, 30.0},
                      // a large common offset (features ~ 50 +- 1)
                      SolverCase{1500, 40, 5, 1e-3, 2.0, 1.0, 50.0}));

TEST(TrustRegionNewton, BinaryOptimumHasOpposedRows) {
  const Problem p = make_problem(800, 10, 2, 2.0, 1.0, 0, 21);
  SolverOptions options;
  options.tol = 1e-10;
  FitReport report;
  const ProbeHead head = fit_probe(p.x, p.y, 2, 1e-3, options, identity_reduce(), &report);
  ASSERT_TRUE(report.converged);
  // Two classes: W_0 = -W_1 up to |W_0 + W_1| <= 2 tol / l2, b_0 = -b_1.
  EXPECT_LE((head.weight.row(0) + head.weight.row(1)).lpNorm<Eigen::Infinity>(), 2e-10 / 1e-3);
  EXPECT_NEAR(head.bias(0), -head.bias(1), 1e-14);
}

/// Dense damped Newton with the Hessian assembled from unit vectors; the
/// flat bias direction e = (0, 1/sqrt(C) ...) is lifted by e e^T so the
/// system is non-singular (g is orthogonal to e, so the step is unaffected).
ProbeHead dense_newton(const Problem& p, int classes, double l2) {
  SoftmaxObjective obj(p.x, p.y, classes, l2, identity_reduce());
  const Index np = obj.parameters();
  Vector theta = Vector::Zero(np);
  Vector e = Vector::Zero(np);
  e.tail(classes).setConstant(1.0 / std::sqrt(static_cast<double>(classes)));
  Vector g;
  double f = obj.value_and_gradient(theta, g);
  for (int it = 0; it < 100 && g.lpNorm<Eigen::Infinity>() > 1e-14; ++it) {
    Matrix h(np, np);
    Vector col;
    for (Index k = 0; k < np; ++k) {
      obj.hessian_vector(Vector::Unit(np, k), col);
      h.col(k) = col;
    }
    h += e * e.transpose();
    const Vector step = -h.ldlt().solve(g);
    double t = 1.0;
    Vector g_new;
    double f_new = obj.value_and_gradient(theta + t * step, g_new);
    while (f_new > f + 1e-4 * t * g.dot(step) && t > 1e-10) {
      t *= 0.5;
      f_new = obj.value_and_gradient(theta + t * step, g_new);
    }
    theta += t * step;
    f = f_new;
    g = g_new;
  }
  ProbeHead head = SoftmaxObjective::unpack(theta, classes, p.x.cols());
  head.bias.array() -= head.bias.mean();
  return head;
}

TEST(TrustRegionNewton, AgreesWithDenseNewtonReference) {
  for (int classes : {2, 3, 4}) {
    const Problem p = make_problem(60, 3, classes, 1.5, 1.0, 5, 40 + static_cast<std::uint32_t>(classes));
    const double l2 = 1e-2;
    const ProbeHead reference = dense_newton(p, classes, l2);
    ASSERT_LE(gradient_max_norm(p, classes, l2, reference), 1e-13);
    SolverOptions options;
    options.tol = 1e-11;
    FitReport report;
    const ProbeHead head = fit_probe(p.x, p.y, classes, l2, options, identity_reduce(), &report);
    ASSERT_TRUE(report.converged);
    // |theta - theta*| <= |g| / lambda_min(H) <= sqrt(P) tol / l2 (the bias
    // block is pinned by the data, far above l2 here).
    const double bound = std::sqrt(static_cast<double>(classes * 4)) * options.tol / l2;
    EXPECT_LE((head.weight - reference.weight).lpNorm<Eigen::Infinity>(), bound) << classes;
    EXPECT_LE((head.bias - reference.bias).lpNorm<Eigen::Infinity>(), bound) << classes;
  }
}

TEST(TrustRegionNewton, IterationLimitReportsNotConverged) {
  const Problem p = make_problem(500, 8, 3, 2.0, 1.0, 0, 50);
  SolverOptions options;
  options.tol = 1e-10;
  options.max_iter = 1;
  FitReport report;
  fit_probe(p.x, p.y, 3, 1e-3, options, identity_reduce(), &report);
  EXPECT_FALSE(report.converged);
  EXPECT_EQ(report.iterations, 1);
  EXPECT_GT(report.grad_max_norm, 1e-10);

  options.max_iter = 0;  // evaluation only, at the intercept-only optimum
  const ProbeHead start = fit_probe(p.x, p.y, 3, 1e-3, options, identity_reduce(), &report);
  EXPECT_FALSE(report.converged);
  EXPECT_EQ(report.iterations, 0);
  EXPECT_EQ(report.inner_iterations, 0);
  EXPECT_EQ(start.weight, Matrix::Zero(3, 8));
  // Its mean loss is the entropy of the class frequencies (167, 167, 166 of 500).
  double entropy = 0.0;
  for (const double count : {167.0, 167.0, 166.0}) entropy -= count / 500.0 * std::log(count / 500.0);
  EXPECT_NEAR(report.objective, entropy, 1e-13);
}

TEST(TrustRegionNewton, WarmStartAtOptimumNeedsNoIteration) {
  const Problem p = make_problem(400, 5, 3, 2.0, 1.0, 0, 60);
  SolverOptions options;
  options.tol = 1e-9;
  FitReport report;
  ProbeHead head = fit_probe(p.x, p.y, 3, 1e-3, options, identity_reduce(), &report);
  ASSERT_TRUE(report.converged);
  SoftmaxObjective obj(p.x, p.y, 3, 1e-3, identity_reduce());
  const FitReport again = fit_trust_region_newton(obj, head, options);
  EXPECT_TRUE(again.converged);
  EXPECT_EQ(again.iterations, 0);
}

TEST(TrustRegionNewton, WarmStartFromShiftedBiasConverges) {
  // A start off the sum-zero bias plane (the flat direction) is fine and the
  // result is brought back to it.
  const Problem p = make_problem(400, 5, 3, 2.0, 1.0, 0, 61);
  SoftmaxObjective obj(p.x, p.y, 3, 1e-3, identity_reduce());
  ProbeHead head;
  head.weight = Matrix::Constant(3, 5, 0.1);
  head.bias = Vector::Constant(3, 5.0);
  SolverOptions options;
  options.tol = 1e-10;
  const FitReport report = fit_trust_region_newton(obj, head, options);
  EXPECT_TRUE(report.converged);
  EXPECT_NEAR(head.bias.sum(), 0.0, 1e-12);
  EXPECT_LE(gradient_max_norm(p, 3, 1e-3, head), 1e-10);
}

TEST(TrustRegionNewton, Errors) {
  const Problem p = make_problem(50, 3, 2, 2.0, 1.0, 0, 70);
  SoftmaxObjective obj(p.x, p.y, 2, 1e-3, identity_reduce());
  ProbeHead wrong;
  wrong.weight = Matrix::Zero(3, 3);
  wrong.bias = Vector::Zero(3);
  EXPECT_THROW(fit_trust_region_newton(obj, wrong, SolverOptions{}), std::invalid_argument);
  ProbeHead head;
  head.weight = Matrix::Zero(2, 3);
  head.bias = Vector::Zero(2);
  EXPECT_THROW(fit_trust_region_newton(obj, head, SolverOptions{-1.0, 10}), std::invalid_argument);
  EXPECT_THROW(fit_trust_region_newton(obj, head, SolverOptions{1e-8, -1}), std::invalid_argument);
}

}  // namespace
}  // namespace wsc::core

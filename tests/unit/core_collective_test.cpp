// The reduction hook as a real collective: several participants on threads,
// each with its own block of rows (some empty), joined by an in-process
// allreduce. Checks that the distributed objective and fit equal the serial
// ones and that every participant makes the same sequence of reduce calls.
#include "test_support.hpp"
#include "wsc/core/trust_region_newton.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace wsc::core {
namespace {

using wsc_test::Blocks;
using wsc_test::Problem;
using wsc_test::run_parties;
using wsc_test::ThreadAllreduce;

/// Gaussian classes around N(0, I) means; every 9th row unlabelled.
Problem make_problem(Index n, Index d, int classes, std::uint32_t seed) {
  wsc_test::GaussianClasses spec;
  spec.n = n;
  spec.d = d;
  spec.classes = classes;
  spec.seed = seed;
  spec.unlabelled_every = 9;
  return wsc_test::make_problem(spec);
}

TEST(Collective, ObjectiveOverBlocksEqualsSerial) {
  const int classes = 3;
  const Problem p = make_problem(90, 4, classes, 1);
  // Three parties, the middle one without rows.
  const Blocks blocks = {{0, 50}, {50, 50}, {50, 90}};
  SoftmaxObjective serial(p.x, p.y, classes, 0.01, identity_reduce());
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0.0, 0.5);
  Vector theta(serial.parameters()), v(serial.parameters());
  for (Index k = 0; k < theta.size(); ++k) {
    theta(k) = normal(rng);
    v(k) = normal(rng);
  }
  Vector g_ref, hv_ref;
  const double f_ref = serial.value_and_gradient(theta, g_ref);
  serial.hessian_vector(v, hv_ref);
  const Vector diag_ref = serial.hessian_diagonal();

  ThreadAllreduce comm(3);
  std::vector<double> f(3);
  std::vector<Vector> g(3), hv(3), diag(3);
  run_parties(p, blocks, comm, [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
    const auto i = static_cast<std::size_t>(k);
    SoftmaxObjective obj(x, y, classes, 0.01, reduce);
    f[i] = obj.value_and_gradient(theta, g[i]);
    obj.hessian_vector(v, hv[i]);
    diag[i] = obj.hessian_diagonal();
  });
  ASSERT_FALSE(comm.broken()) << comm.what();
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(comm.calls()[k], 4);  // construction, value, product, diagonal
    EXPECT_NEAR(f[k], f_ref, 1e-14);
    EXPECT_LE((g[k] - g_ref).lpNorm<Eigen::Infinity>(), 1e-14);
    EXPECT_LE((hv[k] - hv_ref).lpNorm<Eigen::Infinity>(), 1e-14);
    EXPECT_LE((diag[k] - diag_ref).lpNorm<Eigen::Infinity>(), 1e-14);
  }
}

TEST(Collective, FitOverBlocksEqualsSerialFit) {
  const int classes = 4;
  const double l2 = 1e-3;
  const Problem p = make_problem(1200, 12, classes, 3);
  SolverOptions options;
  options.tol = 1e-10;
  FitReport serial_report;
  const ProbeHead serial = fit_probe(p.x, p.y, classes, l2, options, identity_reduce(), &serial_report);
  ASSERT_TRUE(serial_report.converged);

  for (const Blocks& blocks : {Blocks{{0, 600}, {600, 1200}},
                               Blocks{{0, 0}, {0, 1}, {1, 700}, {700, 1200}}}) {
    const std::size_t parties = blocks.size();
    ThreadAllreduce comm(static_cast<int>(parties));
    std::vector<ProbeHead> heads(parties);
    std::vector<FitReport> reports(parties);
    run_parties(p, blocks, comm, [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
      const auto i = static_cast<std::size_t>(k);
      heads[i] = fit_probe(x, y, classes, l2, options, reduce, &reports[i]);
    });
    ASSERT_FALSE(comm.broken()) << comm.what();
    for (std::size_t k = 0; k < parties; ++k) {
      // Same decisions everywhere: same number of collective calls, same result.
      EXPECT_EQ(comm.calls()[k], comm.calls()[0]);
      EXPECT_TRUE(reports[k].converged);
      EXPECT_EQ(reports[k].iterations, reports[0].iterations);
      EXPECT_EQ(heads[k].weight, heads[0].weight);
      EXPECT_EQ(heads[k].bias, heads[0].bias);
    }
    // Against the serial fit: summation order differs, so compare within
    // the optimum's uncertainty |g| / l2 (per entry, both sides converged).
    const double bound = 2.0 * std::sqrt(static_cast<double>(classes * 13)) * options.tol / l2;
    EXPECT_LE((heads[0].weight - serial.weight).lpNorm<Eigen::Infinity>(), bound);
    EXPECT_LE((heads[0].bias - serial.bias).lpNorm<Eigen::Infinity>(), bound);
  }
}

TEST(Collective, LocalLabelErrorIsAgreedByAll) {
  // A bad label on one party makes every party throw (after the same single
  // reduce), instead of one party leaving the others in the collective.
  Problem p = make_problem(40, 2, 2, 4);
  p.y[30] = 5;
  ThreadAllreduce comm(2);
  std::vector<int> threw(2, 0);
  run_parties(p, Blocks{{0, 20}, {20, 40}}, comm,
              [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
                try {
                  SoftmaxObjective obj(x, y, 2, 0.1, reduce);
                } catch (const std::invalid_argument&) {
                  threw[static_cast<std::size_t>(k)] = 1;
                }
              });
  ASSERT_FALSE(comm.broken()) << comm.what();
  EXPECT_EQ(threw, (std::vector<int>{1, 1}));
  EXPECT_EQ(comm.calls(), (std::vector<int>{1, 1}));
}

}  // namespace
}  // namespace wsc::core

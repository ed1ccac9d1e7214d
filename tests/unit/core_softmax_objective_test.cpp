// The probe objective: value, gradient and Hessian products against hand
// values and finite differences; masking of skipped rows; shapes and errors.
#include "test_support.hpp"
#include "wsc/core/softmax_objective.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

namespace wsc::core {
namespace {

using wsc_test::Problem;
using wsc_test::random_problem;

Vector random_vector(Index size, double scale, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Vector v(size);
  for (Index i = 0; i < size; ++i) v(i) = normal(rng);
  return v;
}

TEST(SoftmaxObjective, ZeroParametersGiveLogC) {
  for (int c : {2, 3, 7}) {
    const Problem p = random_problem(25, 4, c, 5, 11);
    SoftmaxObjective obj(p.x, p.y, c, 0.3, identity_reduce());
    EXPECT_EQ(obj.total_rows(), 20.0);  // 25 rows, every 5th skipped
    Vector g;
    const double f = obj.value_and_gradient(Vector::Zero(obj.parameters()), g);
    EXPECT_NEAR(f, std::log(static_cast<double>(c)), 1e-15);
    // At theta = 0, p = 1/C: grad_b(k) = (1/N) sum_i (1/C - [y_i = k]).
    for (int k = 0; k < c; ++k) {
      double expected = 0.0;
      for (std::size_t i = 0; i < p.y.size(); ++i) {
        if (p.y[i] >= 0) expected += 1.0 / c - (p.y[i] == k ? 1.0 : 0.0);
      }
      EXPECT_NEAR(g(c * 4 + k), expected / 20.0, 1e-15);
    }
  }
}

TEST(SoftmaxObjective, HandComputedBinaryCase) {
  // Rows x = 1 (label 0) and x = 2 (label 1); W = [-0.5; 0.5], b = [0.25, -0.25].
  RowMatrix x(2, 1);
  x << 1.0, 2.0;
  const Labels y = {0, 1};
  const double l2 = 0.1;
  SoftmaxObjective obj(x, y, 2, l2, identity_reduce());
  Vector theta(4);
  theta << -0.5, 0.5, 0.25, -0.25;  // [W | b] column-major: W(0,0), W(1,0), b0, b1
  Vector g;
  const double f = obj.value_and_gradient(theta, g);
  // Logit differences z1 - z0: row 1: 1 - 0.5 = 0.5; row 2: 2 - 0.5 = 1.5.
  const double ce1 = std::log1p(std::exp(0.5));   // label 0
  const double ce2 = std::log1p(std::exp(-1.5));  // label 1
  EXPECT_NEAR(f, 0.5 * (ce1 + ce2) + 0.5 * l2 * 0.5, 1e-15);
  const double p1 = 1.0 / (1.0 + std::exp(-0.5));  // P(class 1) on row 1
  const double p2 = 1.0 / (1.0 + std::exp(-1.5));  // P(class 1) on row 2
  // grad W(1,0) = mean((p_i1 - y_i1) x_i) + l2 W(1,0); class 0 is its negative
  // apart from the penalty.
  const double gw1 = 0.5 * (p1 * 1.0 + (p2 - 1.0) * 2.0);
  EXPECT_NEAR(g(1), gw1 + l2 * 0.5, 1e-15);
  EXPECT_NEAR(g(0), -gw1 - l2 * 0.5, 1e-15);
  const double gb1 = 0.5 * (p1 + p2 - 1.0);
  EXPECT_NEAR(g(3), gb1, 1e-15);
  EXPECT_NEAR(g(2), -gb1, 1e-15);
}

TEST(SoftmaxObjective, StableForHugeLogits) {
  RowMatrix x(2, 1);
  x << 1.0, -1.0;
  const Labels y = {0, 0};
  SoftmaxObjective obj(x, y, 2, 0.0, identity_reduce());
  Vector theta(4);
  theta << 1000.0, -1000.0, 0.0, 0.0;
  Vector g;
  // Row 1 is right with certainty (loss 0), row 2 wrong by a logit gap of 2000.
  const double f = obj.value_and_gradient(theta, g);
  EXPECT_TRUE(std::isfinite(f));
  EXPECT_NEAR(f, 0.5 * 2000.0, 1e-9);
  EXPECT_TRUE(g.allFinite());
}

class SoftmaxDerivatives : public ::testing::TestWithParam<int> {};

TEST_P(SoftmaxDerivatives, GradientMatchesCentralDifferences) {
  const int c = GetParam();
  const Index d = 6;
  const Problem p = random_problem(60, d, c, 4, 100 + static_cast<std::uint32_t>(c));
  SoftmaxObjective obj(p.x, p.y, c, 0.05, identity_reduce());
  const Vector theta = random_vector(obj.parameters(), 0.7, 7);
  Vector g;
  obj.value_and_gradient(theta, g);
  const double h = 1e-5;
  Vector scratch;
  for (Index k = 0; k < obj.parameters(); ++k) {
    Vector tp = theta, tm = theta;
    tp(k) += h;
    tm(k) -= h;
    const double fd = (obj.value_and_gradient(tp, scratch) - obj.value_and_gradient(tm, scratch)) /
                      (2.0 * h);
    // Truncation error h^2 f'''/6 ~ 1e-10 and rounding eps f / h ~ 1e-11.
    EXPECT_NEAR(g(k), fd, 1e-8) << "parameter " << k;
  }
}

TEST_P(SoftmaxDerivatives, HessianVectorMatchesGradientDifferences) {
  const int c = GetParam();
  const Index d = 5;
  const Problem p = random_problem(50, d, c, 3, 200 + static_cast<std::uint32_t>(c));
  SoftmaxObjective obj(p.x, p.y, c, 0.02, identity_reduce());
  const Vector theta = random_vector(obj.parameters(), 0.5, 8);
  Vector g;
  obj.value_and_gradient(theta, g);
  const Vector diag = obj.hessian_diagonal();
  for (std::uint32_t trial = 0; trial < 3; ++trial) {
    const Vector v = random_vector(obj.parameters(), 1.0, 30 + trial);
    Vector hv;
    obj.value_and_gradient(theta, g);  // the cached point must be theta
    obj.hessian_vector(v, hv);
    const double h = 1e-5;
    Vector gp, gm;
    obj.value_and_gradient(theta + h * v, gp);
    obj.value_and_gradient(theta - h * v, gm);
    const Vector fd = (gp - gm) / (2.0 * h);
    for (Index k = 0; k < obj.parameters(); ++k) EXPECT_NEAR(hv(k), fd(k), 1e-8) << k;
  }
  // The diagonal equals e_k^T H e_k exactly (same sums, no differencing).
  obj.value_and_gradient(theta, g);
  for (Index k = 0; k < obj.parameters(); ++k) {
    Vector e = Vector::Zero(obj.parameters());
    e(k) = 1.0;
    Vector hv;
    obj.hessian_vector(e, hv);
    EXPECT_NEAR(diag(k), hv(k), 1e-14 * std::max(1.0, std::abs(hv(k)))) << k;
  }
}

TEST(SoftmaxObjective, DiagonalsOverManyRows) {
  // More rows than one block of the chunked diagonal sums (2048).
  const int c = 2;
  Problem p = random_problem(4500, 3, c, 10, 800);
  p.x.array() += 2.0;
  SoftmaxObjective obj(p.x, p.y, c, 0.01, identity_reduce());
  Vector g, hv;
  obj.value_and_gradient(random_vector(obj.parameters(), 0.3, 17), g);
  const Vector diag = obj.hessian_diagonal();
  for (Index k = 0; k < obj.parameters(); ++k) {
    obj.hessian_vector(Vector::Unit(obj.parameters(), k), hv);
    EXPECT_NEAR(diag(k), hv(k), 1e-14 * std::max(1.0, std::abs(hv(k)))) << k;
  }
  // Centred: u^T H u with u = T e_k = e_k - m_j e_(bias c) for W(c, j).
  const Vector centred = obj.centred_hessian_diagonal();
  const Vector& m = obj.row_mean();
  for (Index j = 0; j < 3; ++j) {
    for (Index k = 0; k < c; ++k) {
      Vector u = Vector::Zero(obj.parameters());
      u(k + c * j) = 1.0;
      u(c * 3 + k) = -m(j);
      obj.hessian_vector(u, hv);
      EXPECT_NEAR(centred(k + c * j), u.dot(hv), 1e-12) << k << "," << j;
    }
  }
}

TEST(SoftmaxObjective, FloatHessianVectorIsCloseDespiteOffset) {
  // Rows with a large common offset (as embeddings have): the float product
  // works on rows centred in double, so it keeps float accuracy relative to
  // the product, not to the offset.
  const int c = 3;
  Problem p = random_problem(3000, 16, c, 7, 900);
  p.x.array() += 50.0;
  SoftmaxObjective obj(p.x, p.y, c, 1e-4, identity_reduce());
  Vector g;
  obj.value_and_gradient(random_vector(obj.parameters(), 0.05, 18), g);
  for (std::uint32_t trial = 0; trial < 3; ++trial) {
    // A centred-coordinates direction mapped to theta (what the solver sends).
    Vector v = random_vector(obj.parameters(), 1.0, 40 + trial);
    v.tail(c).noalias() -= Eigen::Map<const Matrix>(v.data(), c, 16) * obj.row_mean();
    Vector exact, approx;
    obj.hessian_vector(v, exact);
    obj.hessian_vector_float(v, approx);
    // Cancellation between the W and bias blocks' theta values is what the
    // centring avoids: compare in the centred coordinates (T^T H v).
    auto centred = [&](const Vector& h) {
      Vector out = h;
      Eigen::Map<Matrix>(out.data(), c, 16).noalias() -= h.tail(c) * obj.row_mean().transpose();
      return out;
    };
    const Vector ce = centred(exact);
    EXPECT_LE((centred(approx) - ce).norm(), 1e-5 * ce.norm()) << trial;
  }
}

TEST_P(SoftmaxDerivatives, HessianIsSymmetric) {
  const int c = GetParam();
  const Problem p = random_problem(40, 3, c, 0, 300 + static_cast<std::uint32_t>(c));
  SoftmaxObjective obj(p.x, p.y, c, 0.01, identity_reduce());
  Vector g;
  obj.value_and_gradient(random_vector(obj.parameters(), 0.5, 9), g);
  const Vector u = random_vector(obj.parameters(), 1.0, 10);
  const Vector v = random_vector(obj.parameters(), 1.0, 11);
  Vector hu, hv;
  obj.hessian_vector(u, hu);
  obj.hessian_vector(v, hv);
  EXPECT_NEAR(v.dot(hu), u.dot(hv), 1e-13 * (std::abs(v.dot(hu)) + 1.0));
}

INSTANTIATE_TEST_SUITE_P(Classes, SoftmaxDerivatives, ::testing::Values(2, 3, 5));

TEST(SoftmaxObjective, SkippedRowsAreIgnored) {
  // The objective with skipped rows equals the one built on the counted rows
  // only, in value, gradient and Hessian products.
  const int c = 4;
  const Problem p = random_problem(30, 3, c, 3, 400);
  Problem kept;
  std::vector<Index> rows;
  for (std::size_t i = 0; i < p.y.size(); ++i)
    if (p.y[i] >= 0) rows.push_back(static_cast<Index>(i));
  kept.x.resize(static_cast<Index>(rows.size()), 3);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    kept.x.row(static_cast<Index>(r)) = p.x.row(rows[r]);
    kept.y.push_back(p.y[static_cast<std::size_t>(rows[r])]);
  }
  SoftmaxObjective all(p.x, p.y, c, 0.1, identity_reduce());
  SoftmaxObjective only(kept.x, kept.y, c, 0.1, identity_reduce());
  EXPECT_EQ(all.total_rows(), only.total_rows());
  const Vector theta = random_vector(all.parameters(), 0.5, 12);
  Vector g1, g2, h1, h2;
  EXPECT_NEAR(all.value_and_gradient(theta, g1), only.value_and_gradient(theta, g2), 1e-14);
  EXPECT_LE((g1 - g2).lpNorm<Eigen::Infinity>(), 1e-14);
  const Vector v = random_vector(all.parameters(), 1.0, 13);
  all.hessian_vector(v, h1);
  only.hessian_vector(v, h2);
  EXPECT_LE((h1 - h2).lpNorm<Eigen::Infinity>(), 1e-14);
  EXPECT_LE((all.hessian_diagonal() - only.hessian_diagonal()).lpNorm<Eigen::Infinity>(), 1e-14);
}

TEST(SoftmaxObjective, ReductionSumsUnnormalisedParts) {
  // With a reduction that adds the other half's local sums, an objective on
  // half the rows reproduces the objective on all rows: the reduction must
  // see unnormalised sums, and the counts must go through it too.
  const int c = 3;
  const Problem p = random_problem(40, 4, c, 5, 500);
  const Index half = 17;
  const RowMatrix xa = p.x.topRows(half), xb = p.x.bottomRows(40 - half);
  const Labels ya(p.y.begin(), p.y.begin() + half), yb(p.y.begin() + half, p.y.end());

  // Record B's local buffers (its reduce leaves them unchanged: B alone).
  std::vector<std::vector<double>> b_buffers;
  SumReduce record = [&](double* data, std::size_t n) {
    b_buffers.emplace_back(data, data + n);
  };
  SoftmaxObjective b(xb, yb, c, 0.2, record);
  const Vector theta = random_vector(b.parameters(), 0.6, 14);
  const Vector v = random_vector(b.parameters(), 1.0, 15);
  Vector scratch;
  b.value_and_gradient(theta, scratch);
  b.hessian_vector(v, scratch);
  ASSERT_EQ(b_buffers.size(), 3u);  // count, value+gradient, Hessian product: one call each

  // A adds B's recorded buffers call by call, as an allreduce would.
  std::size_t call = 0;
  SumReduce add_b = [&](double* data, std::size_t n) {
    ASSERT_LT(call, b_buffers.size());
    ASSERT_EQ(n, b_buffers[call].size());
    for (std::size_t i = 0; i < n; ++i) data[i] += b_buffers[call][i];
    ++call;
  };
  SoftmaxObjective a(xa, ya, c, 0.2, add_b);
  SoftmaxObjective full(p.x, p.y, c, 0.2, identity_reduce());
  EXPECT_EQ(a.total_rows(), full.total_rows());
  Vector ga, gf, ha, hf;
  EXPECT_NEAR(a.value_and_gradient(theta, ga), full.value_and_gradient(theta, gf), 1e-14);
  EXPECT_LE((ga - gf).lpNorm<Eigen::Infinity>(), 1e-14);
  a.hessian_vector(v, ha);
  full.hessian_vector(v, hf);
  EXPECT_LE((ha - hf).lpNorm<Eigen::Infinity>(), 1e-14);
  EXPECT_EQ(call, 3u);
}

TEST(SoftmaxObjective, EmptyBlockStillCallsReduce) {
  // A participant with no rows contributes zeros but makes every call.
  const RowMatrix x(0, 3);
  const Labels y;
  int calls = 0;
  SumReduce fake_others = [&](double* data, std::size_t n) {
    ++calls;
    if (calls == 1) {
      // [counted rows, bad rows, row sums (d), rows per class (C), sums of
      // all rows (d), all rows]
      ASSERT_EQ(n, 11u);
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(data[i], 0.0);
      data[0] = 10.0;  // ten rows elsewhere, summing to (10, 20, 30)
      data[2] = 10.0;
      data[3] = 20.0;
      data[4] = 30.0;
      data[5] = 6.0;  // six of class 0, four of class 1
      data[6] = 4.0;
      data[7] = 10.0;
      data[8] = 20.0;
      data[9] = 30.0;
      data[10] = 10.0;
      return;
    }
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(data[i], 0.0);
  };
  SoftmaxObjective obj(x, y, 2, 0.5, fake_others);
  EXPECT_EQ(obj.total_rows(), 10.0);
  EXPECT_EQ(obj.row_mean(), Vector::LinSpaced(3, 1.0, 3.0));
  EXPECT_EQ(obj.class_totals(), Vector::LinSpaced(2, 6.0, 4.0));
  Vector theta = Vector::Ones(obj.parameters());
  Vector g, hv;
  // Only the penalty remains locally: l2/2 |W|^2 = 0.25 * 6.
  EXPECT_NEAR(obj.value_and_gradient(theta, g), 1.5, 1e-15);
  obj.hessian_vector(theta, hv);
  Vector hv_float;
  obj.hessian_vector_float(theta, hv_float);
  const Vector diag = obj.hessian_diagonal();
  const Vector centred = obj.centred_hessian_diagonal();
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(hv_float.size(), 8);
  EXPECT_EQ(centred.size(), 8);
  EXPECT_EQ(g.size(), 8);
  EXPECT_EQ(hv.size(), 8);
  EXPECT_EQ(diag.size(), 8);
}

TEST(SoftmaxObjective, RowMeanAndCentredDiagonal) {
  // The centred diagonal is the plain diagonal of the objective on x - mean
  // at the same logits (bias b + W mean).
  const int c = 3;
  Problem p = random_problem(45, 4, c, 4, 700);
  p.x.array() += 5.0;  // a common offset, as in embeddings
  SoftmaxObjective obj(p.x, p.y, c, 0.03, identity_reduce());
  Vector mean = Vector::Zero(4);
  double rows = 0.0;
  for (std::size_t i = 0; i < p.y.size(); ++i) {
    if (p.y[i] < 0) continue;
    mean += p.x.row(static_cast<Index>(i)).transpose();
    rows += 1.0;
  }
  mean /= rows;
  EXPECT_LE((obj.row_mean() - mean).lpNorm<Eigen::Infinity>(), 1e-14);

  RowMatrix centred_x = p.x;
  centred_x.rowwise() -= mean.transpose();
  SoftmaxObjective centred(centred_x, p.y, c, 0.03, identity_reduce());
  const Vector theta = random_vector(obj.parameters(), 0.4, 16);
  Vector theta_c = theta;
  theta_c.tail(c) += Eigen::Map<const Matrix>(theta.data(), c, 4) * mean;
  Vector g, gc;
  EXPECT_NEAR(obj.value_and_gradient(theta, g), centred.value_and_gradient(theta_c, gc), 1e-13);
  const Vector expected = centred.hessian_diagonal();
  const Vector got = obj.centred_hessian_diagonal();
  // Cancellation of the offset costs about offset^2 eps relative.
  for (Index k = 0; k < expected.size(); ++k) {
    EXPECT_NEAR(got(k), expected(k), 1e-12 * (1.0 + std::abs(expected(k)))) << k;
  }
}

TEST(SoftmaxObjective, PackUnpackRoundTrip) {
  ProbeHead head;
  head.weight.resize(3, 2);
  head.weight << 1, 2, 3, 4, 5, 6;
  head.bias = Vector::LinSpaced(3, -1.0, 1.0);
  const Vector theta = SoftmaxObjective::pack(head);
  ASSERT_EQ(theta.size(), 9);
  // Column-major [W | b]: W(0,0), W(1,0), W(2,0), W(0,1), ..., b.
  EXPECT_EQ(theta(1), 3.0);
  EXPECT_EQ(theta(3), 2.0);
  EXPECT_EQ(theta(6), -1.0);
  const ProbeHead back = SoftmaxObjective::unpack(theta, 3, 2);
  EXPECT_EQ(back.weight, head.weight);
  EXPECT_EQ(back.bias, head.bias);
  head.bias.resize(0);  // a head without bias packs zeros
  EXPECT_EQ(SoftmaxObjective::pack(head).tail(3), Vector::Zero(3));
  EXPECT_THROW(SoftmaxObjective::unpack(theta, 3, 3), std::invalid_argument);
}

TEST(SoftmaxObjective, PredictProbaIsSoftmaxOfLogits) {
  ProbeHead head;
  head.weight.resize(3, 2);
  head.weight << 1, 0, 0, 1, -1, -1;
  head.bias = Vector::Zero(3);
  head.bias << 0.0, 0.5, -std::numeric_limits<double>::infinity();  // an absent class
  RowMatrix x(2, 2);
  x << 1, 2, 800, -800;
  const Matrix p = predict_proba(head, x);
  const double z0 = 1.0, z1 = 2.5;
  const double e0 = std::exp(z0), e1 = std::exp(z1);
  EXPECT_NEAR(p(0, 0), e0 / (e0 + e1), 1e-15);
  EXPECT_NEAR(p(0, 1), e1 / (e0 + e1), 1e-15);
  EXPECT_EQ(p(0, 2), 0.0);
  EXPECT_NEAR(p(1, 0), 1.0, 1e-15);  // logit gap 1600: no overflow
  EXPECT_TRUE(p.allFinite());
  EXPECT_THROW(predict_proba(head, RowMatrix(1, 3)), std::invalid_argument);
}

TEST(SoftmaxObjective, Errors) {
  Problem p = random_problem(10, 2, 3, 0, 600);
  p.y[4] = 2;
  EXPECT_THROW(SoftmaxObjective(p.x, p.y, 1, 0.1, identity_reduce()), std::invalid_argument);
  EXPECT_THROW(SoftmaxObjective(p.x, p.y, 3, -1.0, identity_reduce()), std::invalid_argument);
  // A label beyond the classes, or labels not matching the rows.
  EXPECT_THROW(SoftmaxObjective(p.x, p.y, 2, 0.1, identity_reduce()), std::invalid_argument);
  const Labels short_y(p.y.begin(), p.y.end() - 1);
  EXPECT_THROW(SoftmaxObjective(p.x, short_y, 3, 0.1, identity_reduce()), std::invalid_argument);
  const Labels none(10, -1);
  EXPECT_THROW(SoftmaxObjective(p.x, none, 3, 0.1, identity_reduce()), std::invalid_argument);
  SoftmaxObjective obj(p.x, p.y, 3, 0.1, identity_reduce());
  Vector hv;
  EXPECT_THROW(obj.hessian_vector(Vector::Zero(obj.parameters()), hv), std::logic_error);
  Vector g;
  EXPECT_THROW(obj.value_and_gradient(Vector::Zero(4), g), std::invalid_argument);
}

TEST(ProbeHead, ExpandBinaryHead) {
  Matrix w(1, 3);
  w << 2.0, -4.0, 1.0;
  Vector b(1);
  b << 3.0;
  const ProbeHead head = expand_binary_head(w, b);
  ASSERT_EQ(head.classes(), 2);
  ASSERT_EQ(head.dim(), 3);
  EXPECT_EQ(head.weight.row(0), (-0.5 * w).row(0));
  EXPECT_EQ(head.weight.row(1), (0.5 * w).row(0));
  EXPECT_EQ(head.bias(0), -1.5);
  EXPECT_EQ(head.bias(1), 1.5);
  // Same model: P(class 1) = sigmoid(w.x + b).
  RowMatrix x(1, 3);
  x << 0.3, 0.1, -0.2;
  const double z = 0.6 - 0.4 - 0.2 + 3.0;
  EXPECT_NEAR(predict_proba(head, x)(0, 1), 1.0 / (1.0 + std::exp(-z)), 1e-15);
  EXPECT_EQ(expand_binary_head(w, Vector()).bias, Vector::Zero(2));
  EXPECT_THROW(expand_binary_head(Matrix::Zero(2, 3), b), std::invalid_argument);
  EXPECT_THROW(expand_binary_head(w, Vector::Zero(2)), std::invalid_argument);
}

}  // namespace
}  // namespace wsc::core

// PCA basis from a covariance: order, sign rule, the rule for k, projection.
#include "wsc/core/pca.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <stdexcept>

namespace wsc::core {
namespace {

/// Dynamic-size vectors only: fixed-size Eigen temporaries trip a GCC 12
/// -Warray-bounds false positive under AVX.
Vector vec(std::initializer_list<double> v) {
  Vector out(static_cast<Index>(v.size()));
  Index i = 0;
  for (double x : v) out(i++) = x;
  return out;
}

PcaSettings rule(double variance, int min_components) {
  PcaSettings s;
  s.variance = variance;
  s.min_components = min_components;
  s.components = -1;
  return s;
}

TEST(Pca, DiagonalCovariance) {
  const Matrix cov = vec({1.0, 4.0, 2.0}).asDiagonal();
  const Vector mean = vec({0.5, -1.0, 2.0});
  const PcaBasis b = pca_from_covariance(cov, mean, rule(0.5, 0));
  EXPECT_EQ(b.mean, mean);
  EXPECT_LE((b.eigenvalues - vec({4.0, 2.0, 1.0})).lpNorm<Eigen::Infinity>(), 1e-15);
  // 4/7 >= 0.5: one component, e_2 with a positive sign.
  ASSERT_EQ(b.k, 1);
  EXPECT_TRUE(b.projected);
  EXPECT_NEAR(b.explained, 4.0 / 7.0, 1e-15);
  EXPECT_LE((b.components.row(0) - vec({0.0, 1.0, 0.0}).transpose()).lpNorm<Eigen::Infinity>(),
            1e-15);

  const PcaBasis all = pca_from_covariance(cov, mean, rule(1.0, 0));
  ASSERT_EQ(all.k, 3);
  Matrix expected(3, 3);
  expected << 0, 1, 0, 0, 0, 1, 1, 0, 0;
  EXPECT_LE((all.components - expected).lpNorm<Eigen::Infinity>(), 1e-15);
  EXPECT_NEAR(all.explained, 1.0, 1e-15);
}

TEST(Pca, RotatedTwoByTwoAndSignRule) {
  // Principal axis (0.6, -0.8) with variance 3, minor axis (0.8, 0.6) with 1.
  // Sign rule: the largest-magnitude entry is positive, so the first
  // component is (-0.6, 0.8); the second (0.8, 0.6) already is.
  const Vector major = vec({0.6, -0.8}), minor = vec({0.8, 0.6});
  const Matrix cov = 3.0 * major * major.transpose() + 1.0 * minor * minor.transpose();
  const PcaBasis b = pca_from_covariance(cov, Vector::Zero(2), rule(1.0, 0));
  ASSERT_EQ(b.k, 2);
  EXPECT_NEAR(b.eigenvalues(0), 3.0, 1e-14);
  EXPECT_NEAR(b.eigenvalues(1), 1.0, 1e-14);
  EXPECT_LE((b.components.row(0) - vec({-0.6, 0.8}).transpose()).lpNorm<Eigen::Infinity>(), 1e-14);
  EXPECT_LE((b.components.row(1) - vec({0.8, 0.6}).transpose()).lpNorm<Eigen::Infinity>(), 1e-14);
  // Rows orthonormal.
  EXPECT_LE((b.components * b.components.transpose() - Matrix::Identity(2, 2))
                .lpNorm<Eigen::Infinity>(),
            1e-14);
  EXPECT_NEAR(pca_from_covariance(cov, Vector::Zero(2), rule(0.75, 0)).explained, 0.75, 1e-14);
}

TEST(Pca, NegativeRoundoffEigenvaluesClampedToZero) {
  // Rank one: the zero eigenvalue may come out as a tiny negative number.
  const Vector v = vec({1.0, 2.0, 3.0});
  const Matrix cov = v * v.transpose();
  const PcaBasis b = pca_from_covariance(cov, Vector::Zero(3), rule(1.0, 0));
  EXPECT_GE(b.eigenvalues.minCoeff(), 0.0);
  EXPECT_NEAR(b.eigenvalues(0), 14.0, 1e-13);
  EXPECT_EQ(b.k, 1);
}

TEST(Pca, ChooseComponents) {
  const Vector ev = vec({5.0, 3.0, 1.0, 1.0});
  EXPECT_EQ(choose_components(ev, 0.5, 0), 1);   // 0.5 >= 0.5
  EXPECT_EQ(choose_components(ev, 0.8, 0), 2);   // 0.8 reached exactly
  EXPECT_EQ(choose_components(ev, 0.81, 0), 3);
  EXPECT_EQ(choose_components(ev, 1.0, 0), 4);
  EXPECT_EQ(choose_components(ev, 0.5, 3), 3);   // min_components wins
  EXPECT_EQ(choose_components(ev, 0.5, 50), 4);  // capped at d
  // Trailing zero variance is not needed to reach 100%.
  EXPECT_EQ(choose_components(vec({2.0, 0.0, 0.0}), 1.0, 0), 1);
  // No variance at all: min_components clamped to [1, d].
  EXPECT_EQ(choose_components(Vector::Zero(3), 0.9, 0), 1);
  EXPECT_EQ(choose_components(Vector::Zero(3), 0.9, 2), 2);
  EXPECT_EQ(choose_components(Vector::Zero(3), 0.9, 5), 3);
  EXPECT_THROW(choose_components(ev, 0.0, 1), std::invalid_argument);
  EXPECT_THROW(choose_components(ev, 1.5, 1), std::invalid_argument);
}

TEST(Pca, FixedAndNoProjection) {
  const Matrix cov = vec({1.0, 4.0, 2.0}).asDiagonal();
  PcaSettings fixed;
  fixed.components = 2;
  const PcaBasis two = pca_from_covariance(cov, Vector::Zero(3), fixed);
  EXPECT_EQ(two.k, 2);
  EXPECT_EQ(two.components.rows(), 2);
  EXPECT_NEAR(two.explained, 6.0 / 7.0, 1e-15);

  PcaSettings none;
  none.components = 0;
  const PcaBasis id = pca_from_covariance(cov, Vector::Zero(3), none);
  EXPECT_FALSE(id.projected);
  EXPECT_EQ(id.k, 3);
  EXPECT_EQ(id.explained, 1.0);
  EXPECT_EQ(id.components, Matrix::Identity(3, 3));
  EXPECT_NEAR(id.eigenvalues(0), 4.0, 1e-15);  // still reported

  PcaSettings too_many;
  too_many.components = 4;
  EXPECT_THROW(pca_from_covariance(cov, Vector::Zero(3), too_many), std::invalid_argument);
  EXPECT_THROW(pca_from_covariance(cov, Vector::Zero(2), fixed), std::invalid_argument);
  EXPECT_THROW(pca_from_covariance(Matrix::Zero(2, 3), Vector::Zero(2), fixed),
               std::invalid_argument);
}

TEST(Pca, ProjectHead) {
  const Matrix cov = vec({1.0, 4.0, 2.0}).asDiagonal();
  const PcaBasis b = pca_from_covariance(cov, Vector::Zero(3), rule(0.8, 0));
  ASSERT_EQ(b.k, 2);  // components e_2, e_3
  Matrix w(2, 3);
  w << 1, 2, 3, 4, 5, 6;
  Matrix expected(2, 2);
  expected << 2, 3, 5, 6;
  EXPECT_LE((project_head(w, b) - expected).lpNorm<Eigen::Infinity>(), 1e-15);
  EXPECT_THROW(project_head(Matrix::Zero(2, 4), b), std::invalid_argument);
}

}  // namespace
}  // namespace wsc::core

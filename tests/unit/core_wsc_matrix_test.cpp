// Cosine matrix between head rows.
#include "wsc/core/wsc_matrix.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace wsc::core {
namespace {

TEST(CosineMatrix, HandValues) {
  Matrix a(2, 2), m(3, 2);
  a << 1, 0, 3, 4;
  m << 0, 2, -1, 0, 1, 1;
  const Matrix c = cosine_matrix(a, m);
  ASSERT_EQ(c.rows(), 2);
  ASSERT_EQ(c.cols(), 3);
  EXPECT_NEAR(c(0, 0), 0.0, 1e-15);
  EXPECT_NEAR(c(0, 1), -1.0, 1e-15);
  EXPECT_NEAR(c(0, 2), 1.0 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(c(1, 0), 0.8, 1e-15);
  EXPECT_NEAR(c(1, 1), -0.6, 1e-15);
  EXPECT_NEAR(c(1, 2), 7.0 / (5.0 * std::sqrt(2.0)), 1e-15);
}

TEST(CosineMatrix, ScaleInvariantAndBounded) {
  Matrix a = Matrix::Random(4, 6);
  Matrix m = Matrix::Random(3, 6);
  const Matrix c = cosine_matrix(a, m);
  EXPECT_LE((cosine_matrix(3.0 * a, 0.5 * m) - c).lpNorm<Eigen::Infinity>(), 1e-15);
  EXPECT_LE(c.cwiseAbs().maxCoeff(), 1.0);
  // Parallel rows give exactly +-1, never beyond.
  const Matrix self = cosine_matrix(a, -7.0 * a);
  for (Index i = 0; i < 4; ++i) EXPECT_GE(self(i, i), -1.0);
  for (Index i = 0; i < 4; ++i) EXPECT_NEAR(self(i, i), -1.0, 1e-15);
}

TEST(CosineMatrix, ZeroRowGivesNaN) {
  Matrix a(2, 2), m(2, 2);
  a << 0, 0, 1, 1;
  m << 1, 0, 0, 0;
  const Matrix c = cosine_matrix(a, m);
  EXPECT_TRUE(std::isnan(c(0, 0)));
  EXPECT_TRUE(std::isnan(c(0, 1)));
  EXPECT_TRUE(std::isnan(c(1, 1)));
  EXPECT_NEAR(c(1, 0), 1.0 / std::sqrt(2.0), 1e-15);
  EXPECT_THROW(cosine_matrix(Matrix::Zero(1, 2), Matrix::Zero(1, 3)), std::invalid_argument);
}

}  // namespace
}  // namespace wsc::core

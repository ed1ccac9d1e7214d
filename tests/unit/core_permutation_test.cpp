// Counter-based permutations and keyed random numbers.
#include "wsc/core/permutation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace wsc::core {
namespace {

bool is_permutation_of_iota(const std::vector<std::int64_t>& p) {
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != static_cast<std::int64_t>(i)) return false;
  }
  return true;
}

TEST(Permutation, IsAPermutationAndDeterministic) {
  for (std::int64_t n : {2, 3, 10, 1000}) {
    const auto p = make_permutation(123, 5, n);
    ASSERT_EQ(static_cast<std::int64_t>(p.size()), n);
    EXPECT_TRUE(is_permutation_of_iota(p));
    EXPECT_EQ(p, make_permutation(123, 5, n));
  }
  EXPECT_NE(make_permutation(123, 5, 1000), make_permutation(123, 6, 1000));
  EXPECT_NE(make_permutation(123, 5, 1000), make_permutation(124, 5, 1000));
  EXPECT_TRUE(make_permutation(1, 1, 0).empty());
  EXPECT_EQ(make_permutation(1, 1, 1), (std::vector<std::int64_t>{0}));
  EXPECT_THROW(make_permutation(1, 1, -1), std::invalid_argument);
}

TEST(Permutation, GoldenValues) {
  // Pins the stream: Philox4x64-10, key {seed, index}, counter {i, tag, k, 0},
  // Lemire's bounded draw, Fisher-Yates from the end. Reproduced independently
  // with numpy.random.Philox; changing any of this changes published results.
  EXPECT_EQ(make_permutation(42, 7, 10), (std::vector<std::int64_t>{3, 6, 0, 5, 2, 4, 1, 8, 7, 9}));
  EXPECT_EQ(make_permutation(0, 0, 12),
            (std::vector<std::int64_t>{9, 11, 2, 1, 5, 0, 3, 10, 8, 6, 4, 7}));
  const std::vector<std::uint64_t> expected = {465, 690, 5, 930, 294};
  for (std::uint64_t c = 0; c < 5; ++c) EXPECT_EQ(keyed_uniform(99, 1000003, c, 1000), expected[c]);
  EXPECT_NEAR(keyed_normal(5, 6, 7), 0.16899321370591097, 1e-15);
}

TEST(Permutation, PermuteAppliesGather) {
  const std::vector<int> in = {10, 20, 30};
  EXPECT_EQ(permute(in, {2, 0, 1}), (std::vector<int>{30, 10, 20}));
}

TEST(Permutation, AllOrderingsEquallyLikely) {
  // n = 4 has 24 orderings; over m = 24000 indices each should appear
  // ~1000 times. Chi-square with 23 degrees of freedom: mean 23, sd
  // sqrt(46) ~ 6.8; fail beyond mean + 6 sd. A classic off-by-one shuffle
  // (j in [0, n) instead of [0, i]) gives a chi-square in the thousands.
  const int m = 24000;
  std::map<std::vector<std::int64_t>, int> count;
  for (int b = 0; b < m; ++b) ++count[make_permutation(2024, static_cast<std::uint64_t>(b), 4)];
  EXPECT_EQ(count.size(), 24u);
  const double expected = m / 24.0;
  double chi2 = 0.0;
  for (const auto& [perm, c] : count) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 23.0 + 6.0 * std::sqrt(46.0));
}

TEST(Permutation, PositionZeroUniform) {
  // Element landing at position 0 of a length-7 permutation: each with
  // probability 1/7; every count within 6 binomial sd of m / 7.
  const int n = 7, m = 35000;
  std::vector<int> count(n, 0);
  for (int b = 0; b < m; ++b) ++count[static_cast<std::size_t>(make_permutation(9, static_cast<std::uint64_t>(b), n)[0])];
  const double p = 1.0 / n;
  const double sd = std::sqrt(m * p * (1.0 - p));
  for (int c : count) EXPECT_LT(std::abs(c - m * p), 6.0 * sd);
}

TEST(KeyedRandom, UniformIsUniformAndBounded) {
  // A bound that is not a power of two exercises the rejection path's logic.
  const std::uint64_t bound = 3;
  const int m = 30000;
  std::vector<int> count(bound, 0);
  for (int c = 0; c < m; ++c) {
    const std::uint64_t v = keyed_uniform(7, 11, static_cast<std::uint64_t>(c), bound);
    ASSERT_LT(v, bound);
    ++count[v];
  }
  const double p = 1.0 / 3.0;
  for (int c : count) EXPECT_LT(std::abs(c - m * p), 6.0 * std::sqrt(m * p * (1.0 - p)));
  EXPECT_EQ(keyed_uniform(7, 11, 0, 1), 0u);
  // Huge bounds (rejection region of size ~2^63) still terminate and bound.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 1;
  for (std::uint64_t c = 0; c < 100; ++c) EXPECT_LT(keyed_uniform(1, 2, c, big), big);
  EXPECT_THROW(keyed_uniform(1, 2, 3, 0), std::invalid_argument);
  // Streams and seeds are independent keys.
  EXPECT_EQ(keyed_uniform(1, 2, 3, 1000000), keyed_uniform(1, 2, 3, 1000000));
}

TEST(KeyedRandom, NormalMoments) {
  const int m = 40000;
  double sum = 0.0, sum_sq = 0.0;
  for (int c = 0; c < m; ++c) {
    const double z = keyed_normal(3, 4, static_cast<std::uint64_t>(c));
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum_sq += z * z;
  }
  const double mean = sum / m;
  const double var = sum_sq / m - mean * mean;
  // Standard errors: 1/sqrt(m) for the mean, sqrt(2/m) for the variance.
  EXPECT_LT(std::abs(mean), 6.0 / std::sqrt(m));
  EXPECT_LT(std::abs(var - 1.0), 6.0 * std::sqrt(2.0 / m));
}

}  // namespace
}  // namespace wsc::core

// Permutation counts, p-values and Benjamini-Hochberg q-values on hand cases.
#include "wsc/core/pvalues.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace wsc::core {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Three cells, four permutations (|cos| values):
//   observed       0.50  0.20  0.90
//   perm 1         0.60  0.10  0.30   max 0.60
//   perm 2         0.40  0.20  0.95   max 0.95
//   perm 3         0.10  0.05  0.20   max 0.20
//   perm 4         0.50  NaN   0.10   max 0.50
const std::vector<double> kObserved = {0.5, 0.2, 0.9};
const std::vector<std::vector<double>> kPerms = {
    {0.6, 0.1, 0.3}, {0.4, 0.2, 0.95}, {0.1, 0.05, 0.2}, {0.5, kNaN, 0.1}};

TEST(NullAccumulator, HandExample) {
  NullAccumulator acc(kObserved);
  for (const auto& p : kPerms) acc.add(p);
  EXPECT_EQ(acc.permutations(), 4);
  // Cell 0: 0.6, 0.5 >= 0.5 -> 2. Cell 1: 0.2 >= 0.2 -> 1 (NaN never counts).
  // Cell 2: 0.95 -> 1.
  EXPECT_EQ(acc.exceed_cell(), (std::vector<std::int64_t>{2, 1, 1}));
  // Maxima 0.6, 0.95, 0.2, 0.5: >= 0.5 -> 3; >= 0.2 -> 4; >= 0.9 -> 1.
  EXPECT_EQ(acc.exceed_max(), (std::vector<std::int64_t>{3, 4, 1}));
  const std::vector<double> p = acc.p_perm();
  EXPECT_DOUBLE_EQ(p[0], 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(p[1], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(p[2], 2.0 / 5.0);
  const std::vector<double> fwer = acc.p_fwer();
  EXPECT_DOUBLE_EQ(fwer[0], 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(fwer[1], 5.0 / 5.0);
  EXPECT_DOUBLE_EQ(fwer[2], 2.0 / 5.0);
}

TEST(NullAccumulator, NoPermutationsAndNaNObserved) {
  NullAccumulator none({0.3, 0.4});
  EXPECT_TRUE(std::isnan(none.p_perm()[0]));
  EXPECT_TRUE(std::isnan(none.p_fwer()[1]));

  NullAccumulator acc({kNaN, 0.4});
  acc.add({0.9, 0.1});
  acc.add({kNaN, kNaN});  // all-NaN permutation: max ignored, nothing counts
  EXPECT_EQ(acc.exceed_cell(), (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(acc.exceed_max(), (std::vector<std::int64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(acc.p_perm()[0]));
  EXPECT_TRUE(std::isnan(acc.p_fwer()[0]));
  EXPECT_DOUBLE_EQ(acc.p_perm()[1], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(acc.p_fwer()[1], 2.0 / 3.0);
  EXPECT_THROW(acc.add({0.1}), std::invalid_argument);
}

TEST(NullAccumulator, MergeEqualsSequentialAdd) {
  NullAccumulator all(kObserved), first(kObserved), second(kObserved);
  for (std::size_t b = 0; b < kPerms.size(); ++b) {
    all.add(kPerms[b]);
    (b < 1 ? first : second).add(kPerms[b]);
  }
  first.merge(second);
  EXPECT_EQ(first.permutations(), all.permutations());
  EXPECT_EQ(first.exceed_cell(), all.exceed_cell());
  EXPECT_EQ(first.exceed_max(), all.exceed_max());
  EXPECT_EQ(first.p_fwer(), all.p_fwer());
  NullAccumulator other({0.5, 0.2, 0.8});
  EXPECT_THROW(first.merge(other), std::invalid_argument);
}

TEST(NullAccumulator, FromCountsRoundTrip) {
  NullAccumulator acc(kObserved);
  for (const auto& p : kPerms) acc.add(p);
  const NullAccumulator back = NullAccumulator::from_counts(
      acc.observed(), acc.exceed_cell(), acc.exceed_max(), acc.permutations());
  EXPECT_EQ(back.p_perm(), acc.p_perm());
  EXPECT_EQ(back.p_fwer(), acc.p_fwer());
  EXPECT_THROW(NullAccumulator::from_counts({0.1}, {1, 2}, {1}, 3), std::invalid_argument);
  EXPECT_THROW(NullAccumulator::from_counts({0.1}, {4}, {1}, 3), std::invalid_argument);
}

TEST(BhQvalues, HandCase) {
  // Sorted 0.01, 0.03, 0.04, 0.20 -> raw 0.04, 0.06, 0.0533, 0.20 -> step-up
  // minima 0.04, 0.0533, 0.0533, 0.20.
  const std::vector<double> q = bh_qvalues({0.01, 0.04, 0.03, 0.20});
  EXPECT_NEAR(q[0], 0.04, 1e-15);
  EXPECT_NEAR(q[1], 0.16 / 3.0, 1e-15);
  EXPECT_NEAR(q[2], 0.16 / 3.0, 1e-15);
  EXPECT_NEAR(q[3], 0.20, 1e-15);
}

TEST(BhQvalues, NaNSkippedAndCappedAtOne) {
  // n counts the two non-NaN p only: 0.6 * 2 / 1 = 1.2 -> capped; 0.9 * 2 / 2.
  const std::vector<double> q = bh_qvalues({kNaN, 0.9, 0.6});
  EXPECT_TRUE(std::isnan(q[0]));
  EXPECT_NEAR(q[1], 0.9, 1e-15);
  EXPECT_NEAR(q[2], 0.9, 1e-15);
  const std::vector<double> capped = bh_qvalues({0.8, 0.9, 0.95});
  for (double v : capped) EXPECT_LE(v, 1.0);
  EXPECT_NEAR(capped[0], 0.95, 1e-15);
  EXPECT_TRUE(bh_qvalues({}).empty());
  // Ties keep equal q.
  const std::vector<double> ties = bh_qvalues({0.02, 0.02, 0.5});
  EXPECT_EQ(ties[0], ties[1]);
  EXPECT_NEAR(ties[0], 0.03, 1e-15);
}

}  // namespace
}  // namespace wsc::core

namespace {

/// P(X <= e) for X ~ Binomial(m, p), summed term by term.
double binomial_cdf(int e, int m, double p) {
  double sum = 0.0;
  for (int x = 0; x <= e; ++x) {
    double term = 1.0;  // C(m, x) p^x (1-p)^(m-x), built in log space
    term = std::exp(std::lgamma(m + 1.0) - std::lgamma(x + 1.0) - std::lgamma(m - x + 1.0) + x * std::log(p) +
                    (m - x) * std::log1p(-p));
    sum += term;
  }
  return sum;
}

}  // namespace

TEST(PInterval, ClosedFormsAtTheEnds) {
  // No exceedance: [0, 1 - (error/2)^(1/m)]; all: [(error/2)^(1/m), 1].
  const wsc::core::PInterval none = wsc::core::p_interval(0, 1000, 0.01);
  EXPECT_EQ(none.lo, 0.0);
  EXPECT_NEAR(none.hi, 1.0 - std::pow(0.005, 1.0 / 1000.0), 1e-14);
  const wsc::core::PInterval all = wsc::core::p_interval(50, 50, 0.05);
  EXPECT_NEAR(all.lo, std::pow(0.025, 1.0 / 50.0), 1e-14);
  EXPECT_EQ(all.hi, 1.0);
  EXPECT_TRUE(std::isnan(wsc::core::p_interval(0, 0, 0.01).lo));
  EXPECT_THROW(wsc::core::p_interval(5, 4, 0.01), std::invalid_argument);
  EXPECT_THROW(wsc::core::p_interval(1, 4, 0.0), std::invalid_argument);
}

TEST(PInterval, LimitsPutHalfTheErrorInEachBinomialTail) {
  // Clopper-Pearson: P(X >= e | lo) = error/2 = P(X <= e | hi).
  for (int m : {7, 20, 99}) {
    for (int e = 1; e < m; e += 3) {
      const wsc::core::PInterval i = wsc::core::p_interval(e, m, 0.01);
      EXPECT_NEAR(1.0 - binomial_cdf(e - 1, m, i.lo), 0.005, 1e-10) << e << " of " << m;
      EXPECT_NEAR(binomial_cdf(e, m, i.hi), 0.005, 1e-10) << e << " of " << m;
      EXPECT_LT(i.lo, static_cast<double>(e) / m);
      EXPECT_GT(i.hi, static_cast<double>(e) / m);
    }
  }
}

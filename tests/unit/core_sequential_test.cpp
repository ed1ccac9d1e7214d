// The stop rule of sequential permutation tests (core/sequential.hpp).
#include "wsc/core/pvalues.hpp"
#include "wsc/core/sequential.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

using wsc::core::look_error;
using wsc::core::settled_cells;
using wsc::core::StopRule;

TEST(Sequential, LookErrorsSumToTheRisk) {
  double sum = 0.0;
  for (std::int64_t j = 1; j <= 1'000'000; ++j) sum += look_error(1e-3, j);
  // risk * (1 - 1/(J+1))
  EXPECT_NEAR(sum, 1e-3 * (1.0 - 1.0 / 1'000'001.0), 1e-15);
  EXPECT_DOUBLE_EQ(look_error(1e-3, 1), 5e-4);
  EXPECT_DOUBLE_EQ(look_error(1e-3, 3), 1e-3 / 12.0);
  EXPECT_THROW(look_error(1e-3, 0), std::invalid_argument);
}

TEST(Sequential, ClearCellsSettleUnclearOnesDoNot) {
  StopRule rule;  // p_fwer at 0.05, risk 1e-3
  const std::vector<double> observed{0.9, 0.1, 0.5, std::nan("")};
  // After 256 permutations at look 2: none reached cell 0 (p ~ 0), all reached
  // cell 1 (p ~ 1), 13 of 256 (p ~ 0.05) reached cell 2; cell 3 has no value.
  const std::vector<std::int64_t> none(4, 0);
  const std::vector<std::int64_t> max{0, 256, 13, 0};
  const std::vector<bool> s = settled_cells(observed, none, max, 256, 2, rule);
  EXPECT_EQ(s, (std::vector<bool>{true, true, false, true}));
  // The same counts' Clopper-Pearson interval at the look's error decides cell 0.
  const wsc::core::PInterval i = wsc::core::p_interval(0, 256, look_error(1e-3, 2));
  EXPECT_LT(i.hi, 0.05);
  // With fewer permutations cell 0 cannot be told from alpha yet:
  // 1 - (error/2)^(1/m) > 0.05 for m = 100 at look 1.
  EXPECT_EQ(settled_cells({0.9}, {0}, {0}, 100, 1, rule), (std::vector<bool>{false}));
  EXPECT_GT(1.0 - std::pow(look_error(1e-3, 1) / 2.0, 1.0 / 100.0), 0.05);
}

TEST(Sequential, EachDecisionAskedForMustSettle) {
  StopRule rule;
  rule.p_fwer = false;
  rule.p_perm = true;
  // p_perm clear (0 of 1000), p_fwer unclear (50 of 1000): settled for p_perm only.
  EXPECT_EQ(settled_cells({0.5}, {0}, {50}, 1000, 1, rule), (std::vector<bool>{true}));
  rule.p_fwer = true;
  EXPECT_EQ(settled_cells({0.5}, {0}, {50}, 1000, 1, rule), (std::vector<bool>{false}));
}

TEST(Sequential, FdrDecisionsSettleWhenBothEndsOfTheIntervalsAgree) {
  StopRule rule;
  rule.p_fwer = false;
  rule.q_fdr = true;
  // Two clear cells and one at the BH boundary.
  const std::vector<double> observed{0.9, 0.1, 0.5};
  const std::vector<std::int64_t> cell{0, 2000, 60};
  const std::vector<std::int64_t> unused(3, 0);
  const std::vector<bool> s = settled_cells(observed, cell, unused, 2000, 1, rule);
  EXPECT_TRUE(s[0]);
  EXPECT_TRUE(s[1]);
  EXPECT_FALSE(s[2]);  // p ~ 0.03, BH threshold for rank 2 of 3 is 0.033: unsettled
}

TEST(Sequential, NoPermutationsSettlesNothing) {
  EXPECT_EQ(settled_cells({0.5, std::nan("")}, {0, 0}, {0, 0}, 0, 1, StopRule{}), (std::vector<bool>{false, true}));
  EXPECT_THROW(settled_cells({0.5}, {0, 0}, {0}, 10, 1, StopRule{}), std::invalid_argument);
}

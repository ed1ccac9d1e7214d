// Held-out metrics on hand cases; expected values match scikit-learn 1.2
// (accuracy_score, f1_score(average="macro"), roc_auc_score).
#include "wsc/core/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace wsc::core {
namespace {

TEST(Metrics, Accuracy) {
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 2, 1, 0, 3}, {0, 2, 2, 2, 1, 1, 0}), 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(accuracy({1, 1}, {1, 1}), 1.0);
  EXPECT_TRUE(std::isnan(accuracy({}, {})));
  EXPECT_THROW(accuracy({0, 1}, {0}), std::invalid_argument);
}

TEST(Metrics, F1MacroOverLabelsInTruthOrPrediction) {
  // Per class F1 = 2tp / (2tp + fp + fn): 0.5, 0.5, 0.8 and 0 (class 3 never
  // predicted right) -> 0.45.
  EXPECT_DOUBLE_EQ(f1_macro({0, 1, 2, 2, 1, 0, 3}, {0, 2, 2, 2, 1, 1, 0}), 0.45);
  // Label 2 occurs only in the prediction and still counts (F1 = 0):
  // (2/3 + 1 + 0) / 3.
  EXPECT_DOUBLE_EQ(f1_macro({0, 0, 1, 1}, {0, 2, 1, 1}), 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(f1_macro({3, 3}, {3, 3}), 1.0);
  EXPECT_THROW(f1_macro({0}, {0, 1}), std::invalid_argument);
}

TEST(Metrics, AurocBinaryWithTies) {
  // 3 positives x 4 negatives = 12 pairs; wins 3.5 + 3 + 2 (ties count half).
  const std::vector<int> positive = {1, 0, 1, 0, 1, 0, 0};
  const std::vector<double> score = {0.9, 0.9, 0.5, 0.2, 0.2, 0.2, 0.1};
  EXPECT_DOUBLE_EQ(auroc_binary(positive, score), 8.5 / 12.0);
  EXPECT_DOUBLE_EQ(auroc_binary({0, 0, 1, 1}, {0.1, 0.2, 0.3, 0.4}), 1.0);
  EXPECT_DOUBLE_EQ(auroc_binary({1, 1, 0, 0}, {0.1, 0.2, 0.3, 0.4}), 0.0);
  EXPECT_DOUBLE_EQ(auroc_binary({1, 0, 1, 0}, {0.5, 0.5, 0.5, 0.5}), 0.5);
  EXPECT_TRUE(std::isnan(auroc_binary({1, 1}, {0.1, 0.2})));
  EXPECT_TRUE(std::isnan(auroc_binary({0, 1}, {0.1, std::nan("")})));
}

TEST(Metrics, AurocTwoClassesUsesColumnOne) {
  Matrix p(5, 2);
  p << 0.7, 0.3, 0.4, 0.6, 0.5, 0.5, 0.5, 0.5, 0.2, 0.8;
  EXPECT_DOUBLE_EQ(auroc_macro_ovr({0, 1, 1, 0, 1}, p), 11.0 / 12.0);
}

TEST(Metrics, AurocMacroOneVsRest) {
  Matrix p(8, 3);
  p << .6, .3, .1, .2, .5, .3, .1, .2, .7, .3, .3, .4, .4, .4, .2, .5, .25, .25, .2, .5, .3, .1,
      .8, .1;
  const std::vector<int> y = {0, 1, 2, 2, 1, 0, 2, 1};
  // sklearn roc_auc_score(y, p, multi_class="ovr") = 0.9555...
  EXPECT_NEAR(auroc_macro_ovr(y, p), 0.9555555555555556, 1e-15);

  // A fourth, absent class is skipped: the mean over the present three.
  Matrix p4(8, 4);
  p4.leftCols(3) = p;
  p4.col(3).setConstant(0.0);
  EXPECT_NEAR(auroc_macro_ovr(y, p4), 0.9555555555555556, 1e-15);
  // Rows with a negative label are not evaluated.
  Matrix p9(9, 3);
  p9.topRows(8) = p;
  p9.row(8) << 0.0, 0.0, 1.0;
  std::vector<int> y9 = y;
  y9.push_back(-1);
  EXPECT_NEAR(auroc_macro_ovr(y9, p9), 0.9555555555555556, 1e-15);

  // Fewer than two classes present: undefined.
  EXPECT_TRUE(std::isnan(auroc_macro_ovr({1, 1, 1}, Matrix::Constant(3, 3, 1.0 / 3.0))));
  EXPECT_THROW(auroc_macro_ovr({0, 5}, Matrix::Zero(2, 3)), std::invalid_argument);
  EXPECT_THROW(auroc_macro_ovr({0, 1}, Matrix::Zero(3, 3)), std::invalid_argument);
}

TEST(Metrics, ArgmaxRowsFirstMaximum) {
  Matrix p(3, 3);
  p << 0.2, 0.5, 0.3, 0.4, 0.2, 0.4, 0.1, 0.1, 0.8;
  EXPECT_EQ(argmax_rows(p), (std::vector<int>{1, 0, 2}));
}

TEST(Metrics, MeanSdSampleStandardDeviation) {
  const MeanSd a = mean_sd({1.0, 2.0, 4.0});
  EXPECT_DOUBLE_EQ(a.mean, 7.0 / 3.0);
  EXPECT_NEAR(a.sd, 1.5275252316519465, 1e-15);  // numpy.std(ddof=1)
  const MeanSd one = mean_sd({3.5});
  EXPECT_EQ(one.mean, 3.5);
  EXPECT_EQ(one.sd, 0.0);
  EXPECT_TRUE(std::isnan(mean_sd({}).mean));
}

TEST(Percentile, LinearInterpolationLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4], 25) = 1.75; NaN values are skipped.
  EXPECT_DOUBLE_EQ(percentile({4.0, 1.0, 3.0, 2.0}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(percentile({3.0, std::nan(""), 1.0, 2.0}, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(percentile({5.0}, 0.975), 5.0);
  EXPECT_DOUBLE_EQ(percentile({0.0, 10.0}, 0.975), 9.75);
  EXPECT_TRUE(std::isnan(percentile({}, 0.5)));
}

TEST(Percentile, QuantileOfSortedBitForBitWithNumpy) {
  // numpy.quantile (numpy 1.24, method "linear") interpolates from the upper
  // end when the fraction is >= 0.5: a + t (b - a) would be off by an ulp.
  EXPECT_EQ(quantile_of_sorted({0.381, 0.683}, 0.975), 0.67545);
  EXPECT_EQ(quantile_of_sorted({-0.942, 0.845}, 0.8), 0.4876000000000001);
  EXPECT_EQ(quantile_of_sorted({-0.502, 0.552}, 0.6), 0.13040000000000002);
  EXPECT_EQ(quantile_of_sorted({-0.974, 0.148}, 0.7), -0.18860000000000002);
  // From the lower end (percentile's): a + t (b - a), the last bit off numpy's.
  EXPECT_EQ(quantile_of_sorted({-0.974, 0.148}, 0.7, Lerp::from_lower), -0.1886000000000001);
  EXPECT_EQ(percentile({0.148, std::nan(""), -0.974}, 0.7), -0.1886000000000001);
  EXPECT_EQ(quantile_of_sorted({-0.942, 0.845}, 0.8, Lerp::from_lower), 0.48760000000000003);
  // Below the midpoint both are numpy's.
  EXPECT_EQ(quantile_of_sorted({-0.974, 0.148}, 0.3, Lerp::from_lower),
            quantile_of_sorted({-0.974, 0.148}, 0.3, Lerp::numpy));
  // The ends and a single value.
  EXPECT_EQ(quantile_of_sorted({1.0, 2.0, 4.0}, 0.0), 1.0);
  EXPECT_EQ(quantile_of_sorted({1.0, 2.0, 4.0}, 1.0), 4.0);
  EXPECT_EQ(quantile_of_sorted({3.0}, 0.5), 3.0);
}

}  // namespace
}  // namespace wsc::core

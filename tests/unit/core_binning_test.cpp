// Binning of continuous metadata into classes.
#include "wsc/core/binning.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace wsc::core {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(Binning, EqualWidthEdgesNamesAndMaxInLastBin) {
  const std::vector<double> v = {0.0, 1.0, 2.0, 3.0, 4.0};
  const Binning b = make_bins(v, 2, BinMethod::EqualWidth);
  EXPECT_EQ(b.edges, (std::vector<double>{0.0, 2.0, 4.0}));
  EXPECT_EQ(b.names, (std::vector<std::string>{"[0,2)", "[2,4]"}));
  EXPECT_EQ(b.class_of_bin, (std::vector<int>{0, 1}));
  EXPECT_EQ(b.dropped_empty, 0);
  // [0,2) gets 0 and 1; an edge value starts the next bin; the max is in the last.
  EXPECT_EQ(apply_bins(v, b), (std::vector<int>{0, 0, 1, 1, 1}));
}

TEST(Binning, EqualWidthFractionalEdges) {
  const Binning b = make_bins({0.5, 2.0, 1.0, 1.3}, 2, BinMethod::EqualWidth);
  EXPECT_EQ(b.edges, (std::vector<double>{0.5, 1.25, 2.0}));
  EXPECT_EQ(b.names, (std::vector<std::string>{"[0.5,1.25)", "[1.25,2]"}));
  EXPECT_EQ(apply_bins({0.5, 2.0, 1.0, 1.3, 1.25}, b), (std::vector<int>{0, 1, 0, 1, 1}));
}

TEST(Binning, EqualWidthEdgesBitForBitWithNumpy) {
  // numpy.linspace(min, max, bins + 1) (numpy 1.24).
  EXPECT_EQ(make_bins({1.7, 0.5, 0.1}, 7, BinMethod::EqualWidth).edges,
            (std::vector<double>{0.1, 0.32857142857142857, 0.5571428571428572, 0.7857142857142857,
                                 1.0142857142857142, 1.2428571428571429, 1.4714285714285715, 1.7}));
  EXPECT_EQ(make_bins({2.9, -3.3, 0.0, -1.0, 1.0, 2.0, -2.5}, 6, BinMethod::EqualWidth).edges,
            (std::vector<double>{-3.3, -2.2666666666666666, -1.2333333333333334,
                                 -0.20000000000000018, 0.833333333333333, 1.8666666666666663,
                                 2.9}));
}

TEST(Binning, NaNAndOutOfRange) {
  const Binning b = make_bins({0.0, kNaN, 4.0, 1.0}, 4, BinMethod::EqualWidth);
  // Bins [0,1) [1,2) [2,3) [3,4]; NaN is ignored.
  EXPECT_EQ(b.dropped_empty, 1);  // [2,3)
  EXPECT_EQ(b.class_of_bin, (std::vector<int>{0, 1, -1, 2}));
  EXPECT_EQ(apply_bins({kNaN, -5.0, 10.0, kInf, -kInf, 0.0}, b),
            (std::vector<int>{-1, 0, 2, 2, 0, 0}));
}

TEST(Binning, EmptyBinsDroppedAndRenumbered) {
  const std::vector<double> v = {0.0, 0.1, 0.2, 3.9, 4.0};
  const Binning b = make_bins(v, 4, BinMethod::EqualWidth);
  EXPECT_EQ(b.edges, (std::vector<double>{0.0, 1.0, 2.0, 3.0, 4.0}));
  EXPECT_EQ(b.class_of_bin, (std::vector<int>{0, -1, -1, 1}));
  EXPECT_EQ(b.dropped_empty, 2);
  EXPECT_EQ(b.names, (std::vector<std::string>{"[0,1)", "[3,4]"}));
  EXPECT_EQ(apply_bins(v, b), (std::vector<int>{0, 0, 0, 1, 1}));
  // A new value in a dropped bin has no class.
  EXPECT_EQ(apply_bins({1.5}, b), (std::vector<int>{-1}));
}

TEST(Binning, QuantileEdgesLikeNumpy) {
  // numpy.quantile([1..8], [0, .25, .5, .75, 1]) = [1, 2.75, 4.5, 6.25, 8].
  const std::vector<double> v = {8, 7, 6, 5, 4, 3, 2, 1};
  const Binning b = make_bins(v, 4, BinMethod::Quantile);
  EXPECT_EQ(b.edges, (std::vector<double>{1.0, 2.75, 4.5, 6.25, 8.0}));
  EXPECT_EQ(apply_bins(v, b), (std::vector<int>{3, 3, 2, 2, 1, 1, 0, 0}));
  EXPECT_EQ(b.names.back(), "[6.25,8]");
}

TEST(Binning, QuantileEdgesBitForBitWithNumpy) {
  // numpy.quantile(v, [i / 7 for i in range(8)]) (numpy 1.24, method "linear").
  const std::vector<double> v = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  const Binning b = make_bins(v, 7, BinMethod::Quantile);
  EXPECT_EQ(b.edges, (std::vector<double>{1.0, 1.4285714285714284, 2.8571428571428568,
                                          3.2857142857142856, 4.7142857142857135, 5.0,
                                          5.571428571428571, 9.0}));
  // numpy interpolates from the upper end when the fraction is >= 0.5, which
  // can differ from a + (b - a) t in the last bit (3.1666666666666665 here).
  const Binning c = make_bins({1.7, 3.9, 5.0, 5.9, 9.8}, 6, BinMethod::Quantile);
  EXPECT_EQ(c.edges, (std::vector<double>{1.7, 3.1666666666666665, 4.266666666666667, 5.0, 5.6,
                                          7.200000000000001, 9.8}));
}

TEST(Binning, QuantileTiesLeaveEmptyBin) {
  // numpy.quantile([0,0,0,0,1,2], [0, 1/3, 2/3, 1]) = [0, 0, 1/3, 2]: the
  // first bin [0, 0) is empty; the zeros go to [0, 1/3).
  const std::vector<double> v = {0, 0, 0, 0, 1, 2};
  const Binning b = make_bins(v, 3, BinMethod::Quantile);
  ASSERT_EQ(b.edges.size(), 4u);
  EXPECT_EQ(b.edges[1], 0.0);
  EXPECT_EQ(b.edges[2], 0.33333333333333304);  // numpy's value, bit for bit
  EXPECT_EQ(b.class_of_bin, (std::vector<int>{-1, 0, 1}));
  EXPECT_EQ(b.dropped_empty, 1);
  EXPECT_EQ(apply_bins(v, b), (std::vector<int>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(b.names, (std::vector<std::string>{"[0,0.333333)", "[0.333333,2]"}));
}

TEST(Binning, Errors) {
  EXPECT_THROW(make_bins({0.0, 1.0}, 1, BinMethod::EqualWidth), std::invalid_argument);
  EXPECT_THROW(make_bins({kNaN, kNaN}, 2, BinMethod::EqualWidth), std::invalid_argument);
  EXPECT_THROW(make_bins({}, 2, BinMethod::Quantile), std::invalid_argument);
  EXPECT_THROW(make_bins({3.0, 3.0, kNaN}, 2, BinMethod::EqualWidth), std::invalid_argument);
  // Quantile edges [0, 0, 1]: every value lands in the second bin.
  EXPECT_THROW(make_bins({0, 0, 0, 0, 1}, 2, BinMethod::Quantile), std::invalid_argument);
  try {
    make_bins({1.0}, 3, BinMethod::EqualWidth);
    FAIL() << "expected an exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("distinct"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wsc::core

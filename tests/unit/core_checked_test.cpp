// Checked arithmetic on counts from outside: overflow is reported, sizes are
// refused naming their origin.
#include "wsc/core/checked.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using wsc::core::ceil_div;
using wsc::core::checked_add;
using wsc::core::checked_mul;
using wsc::core::saturating_add;
using wsc::core::saturating_mul;
using wsc::core::size_from_count;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

TEST(CoreChecked, AddReportsOverflow) {
  EXPECT_EQ(checked_add(2, 3), 5);
  EXPECT_EQ(checked_add(kMax - 64, 64), kMax);
  EXPECT_FALSE(checked_add(kMax - 63, 64).has_value());  // count + 64 near 2^63
  EXPECT_FALSE(checked_add(kMin, -1).has_value());
  EXPECT_EQ(saturating_add(kMax, 1), kMax);
  EXPECT_EQ(saturating_add(kMin, -1), kMin);
}

TEST(CoreChecked, MulReportsOverflow) {
  EXPECT_EQ(checked_mul(1 << 20, 1 << 20), std::int64_t{1} << 40);
  EXPECT_FALSE(checked_mul(kMax / 5 + 1, 5).has_value());  // count * 5
  EXPECT_FALSE(checked_mul(27, std::int64_t{1} << 62).has_value());
  EXPECT_EQ(checked_mul(kMax / 5, 5), kMax / 5 * 5);
  EXPECT_EQ(saturating_mul(27, std::int64_t{1} << 62), kMax);
  EXPECT_EQ(saturating_mul(-27, std::int64_t{1} << 62), kMin);
  EXPECT_EQ(saturating_mul(-3, -4), 12);
}

TEST(CoreChecked, CeilDivDoesNotOverflow) {
  EXPECT_EQ(ceil_div(0, 64), 0);
  EXPECT_EQ(ceil_div(1, 64), 1);
  EXPECT_EQ(ceil_div(64, 64), 1);
  EXPECT_EQ(ceil_div(65, 64), 2);
  EXPECT_EQ(ceil_div(kMax, 64), kMax / 64 + 1);  // (kMax + 63) / 64 would overflow
}

TEST(CoreChecked, SizeFromCountNamesTheCount) {
  EXPECT_EQ(size_from_count(1000, 3, 8, "x"), 3000u);
  EXPECT_EQ(size_from_count(0, 3, 8, "x"), 0u);
  try {
    size_from_count(std::int64_t{1} << 61, 1, 8, "permutation.count");
    FAIL() << "not refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "permutation.count = 2305843009213693952 needs more than 140737488355328 bytes");
  }
  EXPECT_THROW(size_from_count(kMax, kMax, 8, "x"), std::invalid_argument);
  EXPECT_THROW(size_from_count(-1, 1, 8, "x"), std::invalid_argument);
  EXPECT_THROW(size_from_count(1001, 1, 8, "x", 8000), std::invalid_argument);
  EXPECT_EQ(size_from_count(1000, 1, 8, "x", 8000), 1000u);
}

}  // namespace

// Text outputs: round-trip doubles (byte for byte the text of printf's rule), CSV quoting.
// Serial: no collective calls, no MPI_Init.
#include "wsc/io/text_output.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using wsc::io::csv_field;
using wsc::io::csv_line;
using wsc::io::format_double;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(IoTextOutput, FormatDoubleRoundTrips) {
  const double denorm_min = std::numeric_limits<double>::denorm_min();
  const std::vector<double> values{
      0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-300, 1e300, denorm_min, DBL_MIN / 3.0, DBL_MIN,
      -0.0, 0.0, DBL_MAX, -DBL_MAX, 0.30000000000000004, 123456789012345678.0,
      9007199254740993.0, 1.0 - DBL_EPSILON / 2, 1.0 + DBL_EPSILON, 5e-324 * 12345,
      std::nextafter(0.1, 1.0), std::nextafter(1e23, 0.0), 1e23, -2.5, 100.0};
  for (double v : values) {
    const std::string text = format_double(v);
    EXPECT_TRUE(same_bits(std::strtod(text.c_str(), nullptr), v))
        << text << " does not round-trip " << v;
    EXPECT_LE(text.size(), 24u) << text;
  }
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(format_double(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(format_double(-0.0), "-0");
  EXPECT_EQ(format_double(0.0), "0");
  EXPECT_EQ(format_double(2.0), "2");
  EXPECT_EQ(format_double(-2.5), "-2.5");
  EXPECT_EQ(format_double(1e-300), "1e-300");
  EXPECT_EQ(format_double(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_double(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::infinity()), "-inf");
}

/// The text the CSV outputs had before std::to_chars: the first of %.15g,
/// %.16g, %.17g (printf, strtod) that reads back to the same double.
std::string printf_rule(double value) {
  char buffer[40];
  for (int precision : {15, 16, 17}) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    const double back = std::strtod(buffer, nullptr);
    if (same_bits(back, value)) break;
  }
  return buffer;
}

TEST(IoTextOutput, FormatDoubleIsThePrintfRuleByteForByte) {
  std::mt19937_64 random(20240601);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-1074, 1023);
  const auto check = [](double v) {
    if (std::isfinite(v)) {
      EXPECT_EQ(format_double(v), printf_rule(v)) << std::hexfloat << v;
    }
  };
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t bits = random();
    double any = 0.0;
    std::memcpy(&any, &bits, sizeof any);
    check(any);                                       // every binade, subnormals included
    check(unit(random));                              // the range of cosines and p-values
    check(std::ldexp(1.0, exponent(random)));         // powers of two: where shortest differs
    check(std::ldexp(1.0 + unit(random), exponent(random) / 8));
  }
  // Where std::to_chars's shortest text would differ from this rule.
  EXPECT_EQ(format_double(std::ldexp(1.0, -24)), "5.9604644775390625e-08");
  EXPECT_EQ(format_double(5e-324), "4.94065645841247e-324");
  EXPECT_EQ(format_double(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(format_double(100000.0), "100000");
  EXPECT_EQ(format_double(1e15), "1e+15");
}

TEST(IoTextOutput, CsvQuoting) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(csv_field("semi;colon and space"), "semi;colon and space");
  EXPECT_EQ(csv_line({}), "\n");
  EXPECT_EQ(csv_line({"a"}), "a\n");
  EXPECT_EQ(csv_line({csv_field("x,y"), "1", ""}), "\"x,y\",1,\n");
}

}  // namespace

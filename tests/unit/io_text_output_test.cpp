// Text outputs: shortest round-trip doubles, CSV quoting.
// Serial: no collective calls, no MPI_Init.
#include "wsc/io/text_output.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
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

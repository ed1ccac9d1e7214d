// Text outputs: shortest round-trip doubles, CSV quoting, atomic files.
// Serial: no collective calls, no MPI_Init.
#include "io_test_util.hpp"
#include "wsc/io/text_output.hpp"

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

namespace {

using namespace wsc_io_test;
using wsc::io::AtomicFile;
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

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::size_t entries(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

TEST(IoTextOutput, AtomicFileCommitted) {
  LocalTempDir dir;
  const std::string path = dir.path("wsc.csv");
  {
    AtomicFile file(path);
    EXPECT_NE(file.temp_path(), path);
    EXPECT_EQ(file.temp_path().rfind(path + ".tmp.", 0), 0u) << file.temp_path();
    file.stream() << "a,b\n1,2\n";
    EXPECT_FALSE(std::filesystem::exists(path));  // nothing visible before commit
    EXPECT_TRUE(std::filesystem::exists(file.temp_path()));
    file.commit();
    EXPECT_NO_THROW(file.commit());  // idempotent
  }
  EXPECT_EQ(slurp(path), "a,b\n1,2\n");
  EXPECT_EQ(entries(dir.dir()), 1u);  // no temp file left
}

TEST(IoTextOutput, AtomicFileReplacesExisting) {
  LocalTempDir dir;
  const std::string path = dir.path("summary.json");
  {
    std::ofstream old(path);
    old << "old";
  }
  {
    AtomicFile file(path);
    file.stream() << "{}";
    file.commit();
  }
  EXPECT_EQ(slurp(path), "{}");
}

TEST(IoTextOutput, AtomicFileNotCommittedLeavesNothing) {
  LocalTempDir dir;
  const std::string path = dir.path("wsc.csv");
  std::string temp;
  {
    AtomicFile file(path);
    temp = file.temp_path();
    file.stream() << "partial";
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_EQ(entries(dir.dir()), 0u);

  // An existing file is left untouched by an abandoned rewrite.
  {
    std::ofstream old(path);
    old << "keep";
  }
  try {
    AtomicFile file(path);
    file.stream() << "new";
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(slurp(path), "keep");
  EXPECT_EQ(entries(dir.dir()), 1u);
}

TEST(IoTextOutput, AtomicFileErrorsNameThePath) {
  LocalTempDir dir;
  const std::string path = dir.path("missing_dir/wsc.csv");
  try {
    AtomicFile file(path);
    ADD_FAILURE() << "created a file in a missing directory";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("missing_dir/wsc.csv"), std::string::npos) << e.what();
  }
  try {
    wsc::io::rename_into_place(dir.path("nope.tmp"), dir.path("nope"));
    ADD_FAILURE() << "renamed a missing file";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nope.tmp"), std::string::npos) << e.what();
  }
}

}  // namespace

// `wsc inspect`: the report of a model file, every problem listed.
#include "io_test_util.hpp"
#include "wsc/io/model_inspect.hpp"

#include <cstdio>
#include <limits>

namespace {

using namespace wsc_io_test;

TEST(IoInspect, CleanFileHasNoProblems) {
  SharedTempDir dir;
  const std::string path = dir.path("clean.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {6, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, H5T_IEEE_F32LE);
    w.string_attribute("/", "model", {"tiny"}, true, true);
    w.doubles("/heads/site/weight", {3, 2}, {1, 2, 3, 4, 5, 6});
    w.doubles("/heads/site/bias", {3}, {0, 0, 1});
    w.ints("/labels/site", {0, 1, 2, 2, -1, 1});
    w.string_attribute("/labels/site", "class_names", {"a", "b", "c"}, true);
    w.doubles("/labels/age", {6}, {1.5, 2, std::numeric_limits<double>::quiet_NaN(), 4, 5, 90});
    w.ints("/groups/patient", {1, 1, 2, 2, 3, 3});
  });
  std::string report;
  const int problems = wsc::io::inspect_model_file(path, 0, report);
  EXPECT_EQ(problems, 0) << report;
  for (const char* part : {"tiny", "N = 6", "d = 2", "float32", "site", "age", "patient",
                           "3 distinct groups", "missing 1", "min 1.5", "max 90", "problems: none"}) {
    EXPECT_NE(report.find(part), std::string::npos) << "report lacks \"" << part << "\":\n"
                                                    << report;
  }
  barrier();
}

TEST(IoInspect, ReportsEveryProblem) {
  SharedTempDir dir;
  const std::string path = dir.path("broken.h5");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    std::vector<double> x(4000 * 3, 0.25);
    x[3 * 17 + 1] = nan;
    x[3 * 3999 + 2] = -inf;
    w.doubles("/embeddings", {4000, 3}, x);
    w.doubles("/heads/wide/weight", {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});   // d mismatch
    w.doubles("/heads/bad/weight", {2, 3}, {1, nan, 3, 4, 5, 6});        // NaN
    w.doubles("/heads/good/weight", {1, 3}, {1, 2, 3});
    w.ints("/labels/short", std::vector<std::int64_t>(3999, 0));          // length
    std::vector<std::int64_t> codes(4000, 1);
    codes[5] = -7;
    w.ints("/labels/negative", codes);                                    // < -1
    w.strings("/labels/text", {"a", "b"});                                // type
    w.doubles("/groups/fractional", {4000}, std::vector<double>(4000, 0.5));  // type
  });
  std::string report;
  const int problems = wsc::io::inspect_model_file(path, 0, report);
  EXPECT_EQ(problems, 7) << report;
  for (const char* part :
       {"broken.h5: /embeddings has 2 row(s) containing NaN or Inf (first: row 17)",
        "broken.h5: /heads/wide/weight has 4 columns, expected d = 3",
        "broken.h5: /heads/bad/weight contains NaN or Inf",
        "broken.h5: /labels/short has 3999 entries, expected 4000",
        "broken.h5: /labels/negative has 1 value(s) below -1 (first at row 5: -7)",
        "broken.h5: /labels/text has type string, expected integer or float",
        "broken.h5: /groups/fractional has type float64, expected integer"}) {
    EXPECT_NE(report.find(part), std::string::npos) << "report lacks \"" << part << "\":\n"
                                                    << report;
  }
  barrier();
}

TEST(IoInspect, UnopenableFileIsOneProblem) {
  LocalTempDir dir;
  std::string report;
  EXPECT_EQ(wsc::io::inspect_model_file(dir.path("absent.h5"), 0, report), 1);
  EXPECT_NE(report.find("absent.h5: cannot open: no such file"), std::string::npos) << report;
  const std::string text = dir.path("notes.txt");
  if (std::FILE* f = std::fopen(text.c_str(), "w")) {
    std::fputs("hello\n", f);
    std::fclose(f);
  }
  EXPECT_EQ(wsc::io::inspect_model_file(text, 0, report), 1);
  EXPECT_NE(report.find("notes.txt: not an HDF5 file"), std::string::npos) << report;
}

}  // namespace

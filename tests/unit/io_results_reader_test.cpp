// ResultsReader reads back what ResultsFile wrote, at the paths of the
// results.h5 schema (serial: no collective calls, no MPI_Init).
#include "io_test_util.hpp"
#include "wsc/io/results_file.hpp"
#include "wsc/io/results_reader.hpp"
#include "wsc/io/results_schema.hpp"

namespace {

using namespace wsc_io_test;
namespace schema = wsc::io::results_h5;
using schema::member;
using wsc::io::ResultsReader;

TEST(IoResultsSchema, PathsAreTheDocumentedOnes) {
  EXPECT_EQ(schema::heads_primary("plane"), "/heads/primary/plane");
  EXPECT_EQ(schema::heads_metadata("site"), "/heads/metadata/site");
  EXPECT_EQ(member(schema::heads_metadata("site"), schema::kProjected),
            "/heads/metadata/site/projected");
  EXPECT_EQ(member(schema::wsc_group("site"), schema::kPFwer), "/wsc/site/p_fwer");
  EXPECT_EQ(schema::cos_fold(schema::wsc_group("site"), 3), "/wsc/site/cos_fold/3");
  EXPECT_EQ(member(schema::kNull, schema::kMaxAbsCos), "/null/max_abs_cos");
  EXPECT_EQ(member(schema::kBootstrap, schema::kCos), "/bootstrap/cos");
  EXPECT_EQ(member(schema::encodability_group("site"), schema::kNullAurocMacro),
            "/encodability/site/null_auroc_macro");
  EXPECT_EQ(member(schema::quality_group("plane"), schema::kFold), "/quality/plane/fold");
  EXPECT_EQ(member(schema::kPca, schema::kComponents), "/pca/components");
}

TEST(IoResultsReader, ReadsWhatResultsFileWrote) {
  LocalTempDir dir;
  const std::string path = dir.path("results.h5");
  wsc::core::Matrix cos(2, 3);
  cos << 0.1, -0.2, 0.3, 0.4, 0.5, -0.6;
  try {
    wsc::io::ResultsFile out(path);
    out.write_matrix(member(schema::heads_primary("plane"), schema::kProjected), cos);
    out.write_strings(member(schema::heads_primary("plane"), schema::kClassNames), {"a", "b"});
    out.write_matrix(member(schema::wsc_group("site"), schema::kCos), cos);
    out.write_matrix(member(schema::heads_metadata("site"), schema::kProjected), cos);
    out.write_matrix(member(schema::heads_metadata("age"), schema::kProjected), cos);
    out.write_doubles(member(schema::kNull, schema::kMaxAbsCos), {0.5, 0.25, 0.75});
    out.write_ints("/counts", {3, -1});
    out.close();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  try {
    const ResultsReader r(path);
    EXPECT_EQ(r.members(schema::kPrimaryHeads), (std::vector<std::string>{"plane"}));
    EXPECT_EQ(r.members(schema::kMetadataHeads), (std::vector<std::string>{"age", "site"}));
    const wsc::core::Matrix back = r.matrix(member(schema::wsc_group("site"), schema::kCos));
    EXPECT_EQ(back, cos);
    const wsc::core::Matrix column = r.matrix(member(schema::kNull, schema::kMaxAbsCos));
    EXPECT_EQ(column.rows(), 3);
    EXPECT_EQ(column.cols(), 1);
    EXPECT_EQ(column(2, 0), 0.75);
    EXPECT_EQ(r.matrix("/counts")(1, 0), -1.0);
    EXPECT_EQ(r.strings(member(schema::heads_primary("plane"), schema::kClassNames)),
              (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(r.exists(schema::wsc_group("site")));
    EXPECT_FALSE(r.exists(schema::wsc_group("age")));

    expect_throw_containing([&] { r.members("/wsc/age"); },
                            {path + ": group /wsc/age is missing"});
    expect_throw_containing([&] { r.matrix("/wsc/age/cos"); },
                            {path + ": dataset /wsc/age/cos is missing"});
    expect_throw_containing(
        [&] { r.matrix(member(schema::heads_primary("plane"), schema::kClassNames)); },
        {path + ": dataset /heads/primary/plane/class_names has type string, expected a number"});
    expect_throw_containing([&] { r.strings(member(schema::wsc_group("site"), schema::kCos)); },
                            {path + ": dataset /wsc/site/cos has type float64, expected string"});
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  expect_throw_containing([&] { ResultsReader r(dir.path("absent.h5")); },
                          {"absent.h5: cannot open: no such file"});
}

}  // namespace

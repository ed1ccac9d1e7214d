// ModelFile refusals: every rank gets the same one-line message naming the
// file and the dataset, and no rank is left waiting in a collective call.
#include "io_test_util.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>

namespace {

using namespace wsc_io_test;
using wsc::io::ModelFile;

/// Opens `path` in parallel and serially on every rank, expecting both to
/// throw a message holding every part.
void expect_open_fails(const std::string& path, const std::vector<std::string>& parts) {
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  expect_throw_containing([&] { ModelFile file(path, &comm); }, parts);
  comm.barrier();
  expect_throw_containing([&] { ModelFile file(path, nullptr); }, parts);
  comm.barrier();
}

/// Opens `path` in parallel on every rank (all must succeed), then runs
/// `check` on each rank with the file.
void with_parallel_file(const std::string& path, const std::function<void(const ModelFile&)>& check) {
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  std::unique_ptr<ModelFile> file;
  try {
    file = std::make_unique<ModelFile>(path, &comm);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  if (!all_ranks(file != nullptr)) return;
  check(*file);
  comm.barrier();
  file.reset();
  comm.barrier();
}

std::vector<double> iota(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 0.5;
  return v;
}

TEST(IoErrors, MissingFile) {
  SharedTempDir dir;
  const std::string path = dir.path("missing.h5");
  expect_open_fails(path, {"missing.h5: cannot open: no such file"});
}

// A path that is missing on one rank only (a node-local disk, say) fails on
// every rank with that rank's message, before any collective HDF5 call.
TEST(IoErrors, FileMissingOnOneRankFailsEverywhere) {
  LocalTempDir dir;  // a different directory on every rank
  const std::string path = dir.path("local.h5");
  if (world_rank() != 0) {
    FixtureWriter w(path);
    w.doubles("/embeddings", {2, 2}, {1, 2, 3, 4});
  }
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  const std::string message = expect_throw_containing([&] { ModelFile file(path, &comm); },
                                                      {"local.h5: cannot open: no such file"});
  std::string from_root = message;
  comm.broadcast(from_root);
  EXPECT_EQ(message, from_root);  // rank 0's message, everywhere
  comm.barrier();
}

TEST(IoErrors, TextFileIsNotHdf5) {
  SharedTempDir dir;
  const std::string path = dir.path("bad.txt");
  on_root_then_barrier([&] {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("sample,embedding\n1,0.5\n", f);
    std::fclose(f);
  });
  expect_open_fails(path, {"bad.txt: not an HDF5 file"});
}

TEST(IoErrors, EmptyFileIsNotHdf5) {
  SharedTempDir dir;
  const std::string path = dir.path("empty.h5");
  on_root_then_barrier([&] {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  });
  expect_open_fails(path, {"empty.h5: not an HDF5 file"});
}

TEST(IoErrors, DirectoryIsRefused) {
  SharedTempDir dir;
  expect_open_fails(dir.dir(), {"cannot open", "directory"});
}

TEST(IoErrors, TruncatedFile) {
  SharedTempDir dir;
  const std::string path = dir.path("trunc.h5");
  on_root_then_barrier([&] {
    {
      FixtureWriter w(path);
      w.doubles("/embeddings", {400, 50}, iota(400 * 50));
      w.ints("/labels/site", std::vector<std::int64_t>(400, 1));
    }
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size / 2);
  });
  expect_open_fails(path, {"trunc.h5: cannot open (truncated or damaged HDF5 file)"});
}

TEST(IoErrors, EmbeddingsMissing) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.ints("/labels/site", {0, 1});
  });
  expect_open_fails(path, {"model.h5: dataset /embeddings is missing"});
}

TEST(IoErrors, EmbeddingsRankOne) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {6}, iota(6));
  });
  expect_open_fails(path, {"model.h5: dataset /embeddings has rank 1, expected 2 ([N, d])"});
}

TEST(IoErrors, EmbeddingsInteger) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    const std::vector<std::int32_t> values{1, 2, 3, 4};
    w.dataset("/embeddings", H5T_STD_I32LE, H5T_NATIVE_INT32, {2, 2}, values.data());
  });
  expect_open_fails(path, {"model.h5: dataset /embeddings has type int32", "integer"});
}

TEST(IoErrors, EmbeddingsString) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.strings("/embeddings", {"a", "b"});
  });
  expect_open_fails(path, {"model.h5: dataset /embeddings has rank 1"});
}

TEST(IoErrors, EmbeddingsEmpty) {
  SharedTempDir dir;
  const std::string rows0 = dir.path("rows0.h5");
  const std::string cols0 = dir.path("cols0.h5");
  on_root_then_barrier([&] {
    {
      FixtureWriter w(rows0);
      w.doubles("/embeddings", {0, 4}, {});
    }
    FixtureWriter w(cols0);
    w.doubles("/embeddings", {4, 0}, {});
  });
  expect_open_fails(rows0, {"rows0.h5: dataset /embeddings is empty", "N = 0"});
  expect_open_fails(cols0, {"cols0.h5: dataset /embeddings is empty", "d = 0"});
}

TEST(IoErrors, EmbeddingsUnwritten) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.unwritten("/embeddings", H5T_IEEE_F32LE, {100, 8});
  });
  expect_open_fails(path, {"model.h5: dataset /embeddings declares 100 x 8",
                           "holds only 0 bytes (unwritten or truncated)"});
}

TEST(IoErrors, LabelsWrongLengthTypeRankMissing) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {100, 2}, iota(200));
    w.ints("/labels/scanner", std::vector<std::int64_t>(99, 0));
    w.strings("/labels/x", std::vector<std::string>(100, "s"));
    w.doubles("/labels/matrix", {50, 2}, iota(100));
    w.doubles("/groups/patient", {100}, iota(100));
    w.ints("/groups/short", std::vector<std::int64_t>(10, 0));
  });
  with_parallel_file(path, [](const ModelFile& file) {
    expect_throw_containing([&] { file.read_labels("scanner", file.rows()); },
                            {"model.h5: /labels/scanner has 99 entries, expected 100 (one per "
                             "embedding row)"});
    expect_throw_containing([&] { file.read_labels("x", file.rows()); },
                            {"model.h5: /labels/x has type string, expected integer or float"});
    expect_throw_containing([&] { file.read_labels("matrix", file.rows()); },
                            {"model.h5: dataset /labels/matrix has rank 2, expected 1"});
    expect_throw_containing([&] { file.read_labels("site", file.rows()); },
                            {"model.h5: dataset /labels/site is missing"});
    expect_throw_containing([&] { file.read_groups("patient", file.rows()); },
                            {"model.h5: /groups/patient has type float64, expected integer"});
    expect_throw_containing([&] { file.read_groups("short", file.rows()); },
                            {"model.h5: /groups/short has 10 entries, expected 100"});
  });
}

TEST(IoErrors, HeadProblems) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {3, 5}, iota(15));
    w.doubles("/heads/plane/weight", {2, 4}, iota(8));
    w.doubles("/heads/nan/weight", {2, 5}, {0, 1, 2, 3, 4, 5, 6, nan, 8, 9});
    w.doubles("/heads/infbias/weight", {2, 5}, iota(10));
    w.doubles("/heads/infbias/bias", {2}, {0, inf});
    w.doubles("/heads/shortbias/weight", {3, 5}, iota(15));
    w.doubles("/heads/shortbias/bias", {2}, {0, 1});
    w.doubles("/heads/flat/weight", {5}, iota(5));
    w.doubles("/heads/names/weight", {1, 5}, iota(5));
    w.string_attribute("/heads/names/weight", "class_names", {"only"}, true);
    const std::vector<std::int32_t> ints(10, 1);
    w.dataset("/heads/int/weight", H5T_STD_I32LE, H5T_NATIVE_INT32, {2, 5}, ints.data());
  });
  with_parallel_file(path, [](const ModelFile& file) {
    std::vector<std::string> names;
    expect_throw_containing([&] { file.read_head("plane", 5, &names); },
                            {"model.h5: /heads/plane/weight has 4 columns, expected d = 5"});
    expect_throw_containing([&] { file.read_head("nan", 5, &names); },
                            {"model.h5: /heads/nan/weight contains NaN or Inf"});
    expect_throw_containing([&] { file.read_head("infbias", 5, &names); },
                            {"model.h5: /heads/infbias/bias contains NaN or Inf"});
    expect_throw_containing([&] { file.read_head("shortbias", 5, &names); },
                            {"model.h5: /heads/shortbias/bias has 2 entries, expected C = 3"});
    expect_throw_containing([&] { file.read_head("flat", 5, &names); },
                            {"model.h5: dataset /heads/flat/weight has rank 1, expected 2"});
    expect_throw_containing([&] { file.read_head("names", 5, &names); },
                            {"class_names of /heads/names/weight has 1 entries, expected 2"});
    expect_throw_containing([&] { file.read_head("int", 5, &names); },
                            {"model.h5: /heads/int/weight has type int32, expected float"});
    expect_throw_containing(
        [&] { file.read_head("missing", 5, &names); },
        {"model.h5: head /heads/missing/weight is missing (heads in file: flat, infbias, int, "
         "names, nan, plane, shortbias)"});
  });
}

// The NaN check is local: only the rank holding the row throws, naming the
// global row; Communicator::agree_on then makes it every rank's error.
TEST(IoErrors, NanInEmbeddingsThrowsOnTheRankHoldingTheRow) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  const std::int64_t n = 7;
  const std::int64_t bad_row = 5;
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    std::vector<double> x = iota(static_cast<std::size_t>(n * 2));
    x[static_cast<std::size_t>(bad_row * 2 + 1)] = std::numeric_limits<double>::quiet_NaN();
    w.doubles("/embeddings", {7, 2}, x, H5T_IEEE_F32LE);
  });
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  with_parallel_file(path, [&](const ModelFile& file) {
    const wsc::par::RowBlock block = wsc::par::block_of(n, comm.size(), comm.rank());
    if (block.begin <= bad_row && bad_row < block.end()) {
      expect_throw_containing([&] { file.read_embeddings(block); },
                              {"model.h5: /embeddings row 5 contains NaN or Inf"});
    } else {
      EXPECT_NO_THROW(file.read_embeddings(block)) << "rank " << comm.rank();
    }
    std::string agreed;
    try {
      comm.agree_on([&] { file.read_embeddings(block); });
    } catch (const wsc::par::AgreedError& e) {
      agreed = e.what();
    }
    EXPECT_NE(agreed.find("row 5 contains NaN or Inf"), std::string::npos)
        << "rank " << comm.rank() << ": " << agreed;
  });
}

}  // namespace

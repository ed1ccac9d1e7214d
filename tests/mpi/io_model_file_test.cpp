// ModelFile: sharded collective reads of /embeddings at any rank count, and
// whole reads of labels, groups and heads on every rank.
#include "io_test_util.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace {

using namespace wsc_io_test;
using wsc::io::ModelFile;

// GoogleTest prints only on rank 0 (see main.cpp); a failure on another rank
// of an Io test is echoed to stderr with its rank so that it is not silent.
class OtherRankFailurePrinter : public ::testing::EmptyTestEventListener {
  // (UnitTest::current_test_info() must not be called from OnTestPartResult:
  // GoogleTest holds its own lock there.)
  void OnTestStart(const ::testing::TestInfo& info) override {
    current_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestEnd(const ::testing::TestInfo&) override { current_.clear(); }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed() || current_.find("Io") == std::string::npos) return;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized || world_rank() == 0) return;
    std::fprintf(stderr, "[rank %d] %s failed at %s:%d\n%s\n", world_rank(), current_.c_str(),
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 result.message());
  }
  std::string current_;
};

const bool kPrinterRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new OtherRankFailurePrinter);
  return true;
}();

double value_at(std::int64_t i, std::int64_t j) {
  return 0.1 * static_cast<double>(i + 1) - static_cast<double>(j) / 3.0 + 1e-7 * static_cast<double>(i * j);
}

enum class Layout { Contiguous, Chunked, ChunkedGzip };

struct EmbeddingCase {
  std::int64_t rows;
  std::int64_t dim;
  bool float32;
  Layout layout;
};

void PrintTo(const EmbeddingCase& c, std::ostream* os) {
  *os << "N=" << c.rows << " d=" << c.dim << (c.float32 ? " float32" : " float64")
      << (c.layout == Layout::Contiguous ? " contiguous"
                                         : c.layout == Layout::Chunked ? " chunked" : " gzip");
}

class IoEmbeddings : public ::testing::TestWithParam<EmbeddingCase> {};

TEST_P(IoEmbeddings, EachRankReadsItsBlockExactly) {
  const EmbeddingCase c = GetParam();
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    std::vector<double> values(static_cast<std::size_t>(c.rows * c.dim));
    for (std::int64_t i = 0; i < c.rows; ++i) {
      for (std::int64_t j = 0; j < c.dim; ++j) {
        values[static_cast<std::size_t>(i * c.dim + j)] = value_at(i, j);
      }
    }
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (c.layout != Layout::Contiguous) {
      const hsize_t chunk[2] = {static_cast<hsize_t>(std::min<std::int64_t>(c.rows, 64)),
                                static_cast<hsize_t>(c.dim)};
      H5Pset_chunk(dcpl, 2, chunk);
      if (c.layout == Layout::ChunkedGzip) H5Pset_deflate(dcpl, 4);
    }
    w.dataset("/embeddings", c.float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
              {static_cast<hsize_t>(c.rows), static_cast<hsize_t>(c.dim)}, values.data(), dcpl);
    H5Pclose(dcpl);
  });

  wsc::par::Communicator comm(MPI_COMM_WORLD);
  const wsc::par::RowBlock block = wsc::par::block_of(c.rows, comm.size(), comm.rank());
  std::unique_ptr<ModelFile> file;
  try {
    file = std::make_unique<ModelFile>(path, &comm);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  if (!all_ranks(file != nullptr)) return;  // every rank gives up together

  EXPECT_EQ(file->rows(), c.rows);
  EXPECT_EQ(file->dim(), c.dim);
  EXPECT_EQ(file->embeddings_float32(), c.float32);

  wsc::core::RowMatrix x;
  try {
    x = file->read_embeddings(block);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  EXPECT_EQ(x.rows(), block.count);
  EXPECT_EQ(x.cols(), c.dim);
  std::int64_t mismatches = 0;
  if (x.rows() == block.count && x.cols() == c.dim) {
    for (std::int64_t r = 0; r < block.count; ++r) {
      for (std::int64_t j = 0; j < c.dim; ++j) {
        const double exact = value_at(block.begin + r, j);
        const double expected = c.float32 ? static_cast<double>(static_cast<float>(exact)) : exact;
        if (x(r, j) != expected) ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "rank " << comm.rank() << " rows [" << block.begin << ", "
                           << block.end() << ")";
  EXPECT_EQ(comm.sum(static_cast<std::int64_t>(x.rows())), c.rows);
  // HDF5 did the read collectively (no type conversion stands in the way).
  EXPECT_EQ(file->last_read_mode(), "collective") << "rank " << comm.rank();

  // Pieces of 3 rows: ranks with fewer pieces still join every collective
  // read; each piece is reported, the same count on every rank.
  const std::int64_t piece_bytes = 3 * c.dim * (c.float32 ? 4 : 8);
  std::vector<std::pair<std::int64_t, std::int64_t>> reported;
  const auto report = [&](std::int64_t done, std::int64_t total) { reported.emplace_back(done, total); };
  const auto expect_reported = [&](std::int64_t pieces, const char* what) {
    ASSERT_EQ(static_cast<std::int64_t>(reported.size()), pieces) << what << ", rank " << comm.rank();
    for (std::size_t k = 0; k < reported.size(); ++k) {
      EXPECT_EQ(reported[k], std::make_pair(static_cast<std::int64_t>(k) + 1, pieces)) << what;
    }
  };
  wsc::core::RowMatrix pieces;
  try {
    pieces = file->read_embeddings(block, piece_bytes, report);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  EXPECT_TRUE(pieces.rows() == x.rows() && pieces == x) << "rank " << comm.rank();
  expect_reported(comm.max(std::max<std::int64_t>(1, (block.count + 2) / 3)), "sharded");

  // Every rank all rows (a layout of one-rank groups, rows replicated), in
  // pieces of 3 rows: a rank's block is then larger than an Nth of N.
  reported.clear();
  wsc::core::RowMatrix all;
  try {
    all = file->read_embeddings({0, c.rows}, piece_bytes, report);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  std::int64_t wrong = 0;
  if (all.rows() == c.rows && all.cols() == c.dim) {
    for (std::int64_t r = 0; r < c.rows; ++r) {
      for (std::int64_t j = 0; j < c.dim; ++j) {
        const double exact = value_at(r, j);
        if (all(r, j) != (c.float32 ? static_cast<double>(static_cast<float>(exact)) : exact)) ++wrong;
      }
    }
  }
  EXPECT_EQ(all.rows(), c.rows) << "rank " << comm.rank();
  EXPECT_EQ(wrong, 0) << "rank " << comm.rank() << ": all rows read in pieces";
  expect_reported((c.rows + 2) / 3, "replicated");
  file.reset();  // collective close, all ranks together
  comm.barrier();
}

INSTANTIATE_TEST_SUITE_P(
    Io, IoEmbeddings,
    ::testing::Values(EmbeddingCase{7, 3, true, Layout::Contiguous},
                      EmbeddingCase{7, 3, false, Layout::Contiguous},
                      EmbeddingCase{2, 5, true, Layout::Contiguous},
                      EmbeddingCase{2, 5, false, Layout::Contiguous},
                      EmbeddingCase{1, 1, false, Layout::Contiguous},
                      EmbeddingCase{1001, 7, true, Layout::Chunked},
                      EmbeddingCase{1001, 7, false, Layout::ChunkedGzip},
                      EmbeddingCase{130, 4, true, Layout::ChunkedGzip}));

TEST(IoModelFile, SerialOpenReadsAnyBlock) {
  SharedTempDir dir;
  const std::string path = dir.path("serial.h5");
  const std::int64_t n = 9;
  const std::int64_t d = 4;
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    std::vector<double> values;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) values.push_back(value_at(i, j));
    w.doubles("/embeddings", {9, 4}, values);
  });
  try {
    ModelFile file(path, nullptr);
    const wsc::core::RowMatrix all = file.read_embeddings({0, n});
    ASSERT_EQ(all.rows(), n);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) EXPECT_EQ(all(i, j), value_at(i, j));
    const wsc::core::RowMatrix middle = file.read_embeddings({3, 2});
    ASSERT_EQ(middle.rows(), 2);
    EXPECT_EQ(middle(1, 2), value_at(4, 2));
    const wsc::core::RowMatrix none = file.read_embeddings({9, 0});
    EXPECT_EQ(none.rows(), 0);
    EXPECT_EQ(none.cols(), d);
    expect_throw_containing([&] { file.read_embeddings({5, 5}); }, {"serial.h5", "/embeddings"});
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

// A block outside the file on one rank must not leave the others waiting in
// the collective read: that rank throws after taking part.
TEST(IoModelFile, BadBlockOnOneRankDoesNotHang) {
  SharedTempDir dir;
  const std::string path = dir.path("model.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {5, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  });
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  ModelFile file(path, &comm);
  wsc::par::RowBlock block = wsc::par::block_of(5, comm.size(), comm.rank());
  if (comm.rank() == 0) block = {0, 6};
  if (comm.rank() == 0) {
    expect_throw_containing([&] { file.read_embeddings(block); }, {"/embeddings", "outside"});
  } else {
    EXPECT_NO_THROW(file.read_embeddings(block));
  }
  comm.barrier();
}

TEST(IoModelFile, LabelsAndGroups) {
  SharedTempDir dir;
  const std::string path = dir.path("labels.h5");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {5, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, H5T_IEEE_F32LE);
    w.ints("/labels/site", {0, 1, -1, 2, 1}, H5T_STD_I32LE);
    w.string_attribute("/labels/site", "class_names", {"alpha", "beta", "gamma"}, true);
    w.ints("/labels/scanner", {1, 0, 1, 1, 0}, H5T_STD_U8LE);
    w.string_attribute("/labels/scanner", "class_names", {"GE", "Siemens"}, false);
    w.ints("/labels/big", {-1, std::int64_t{1} << 40, 3, 0, 5}, H5T_STD_I64BE);
    w.doubles("/labels/age", {5}, {30.5, nan, 41.0, 52.25, 60.0}, H5T_IEEE_F32LE);
    w.ints("/groups/patient", {7, 7, 8, 9, 9}, H5T_STD_I16LE);
    // h5py stores numpy bool as an enum over int8.
    hid_t boolean = H5Tenum_create(H5T_NATIVE_INT8);
    const signed char no = 0;
    const signed char yes = 1;
    H5Tenum_insert(boolean, "FALSE", &no);
    H5Tenum_insert(boolean, "TRUE", &yes);
    const signed char flags[5] = {1, 0, 0, 1, 1};
    w.dataset("/labels/flag", boolean, boolean, {5}, flags);
    H5Tclose(boolean);
  });
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  std::unique_ptr<ModelFile> file;
  try {
    file = std::make_unique<ModelFile>(path, &comm);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  if (!all_ranks(file != nullptr)) return;
  try {
    const wsc::io::LabelColumn site = file->read_labels("site", 5);
    EXPECT_EQ(site.name, "site");
    EXPECT_FALSE(site.continuous);
    EXPECT_EQ(site.codes, (std::vector<std::int64_t>{0, 1, -1, 2, 1}));
    EXPECT_TRUE(site.values.empty());
    EXPECT_EQ(site.class_names, (std::vector<std::string>{"alpha", "beta", "gamma"}));

    const wsc::io::LabelColumn scanner = file->read_labels("scanner", 5);
    EXPECT_EQ(scanner.codes, (std::vector<std::int64_t>{1, 0, 1, 1, 0}));
    EXPECT_EQ(scanner.class_names, (std::vector<std::string>{"GE", "Siemens"}));

    const wsc::io::LabelColumn big = file->read_labels("big", 5);
    EXPECT_EQ(big.codes, (std::vector<std::int64_t>{-1, std::int64_t{1} << 40, 3, 0, 5}));
    EXPECT_TRUE(big.class_names.empty());

    const wsc::io::LabelColumn age = file->read_labels("age", 5);
    EXPECT_TRUE(age.continuous);
    EXPECT_TRUE(age.codes.empty());
    ASSERT_EQ(age.values.size(), 5u);
    EXPECT_EQ(age.values[0], 30.5);
    EXPECT_TRUE(std::isnan(age.values[1]));
    EXPECT_EQ(age.values[3], 52.25);

    EXPECT_EQ(file->read_groups("patient", 5), (std::vector<std::int64_t>{7, 7, 8, 9, 9}));

    const wsc::io::LabelColumn flag = file->read_labels("flag", 5);
    EXPECT_FALSE(flag.continuous);
    EXPECT_EQ(flag.codes, (std::vector<std::int64_t>{1, 0, 0, 1, 1}));
    EXPECT_EQ(file->info("/labels/flag").type_name, "enum(int8)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  file.reset();
  comm.barrier();
}

TEST(IoModelFile, HeadsOneRowExpandsAndClassNames) {
  SharedTempDir dir;
  const std::string path = dir.path("heads.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.doubles("/embeddings", {4, 3}, std::vector<double>(12, 0.5));
    w.doubles("/heads/bin/weight", {1, 3}, {0.5, -1.0, 2.0}, H5T_IEEE_F32LE);
    w.doubles("/heads/bin/bias", {1}, {0.25}, H5T_IEEE_F32LE);
    w.string_attribute("/heads/bin/weight", "class_names", {"neg", "pos"}, true);
    w.doubles("/heads/multi/weight", {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    w.doubles("/heads/biased/weight", {2, 3}, {1, 2, 3, 4, 5, 6});
    w.doubles("/heads/biased/bias", {2}, {-1.5, 2.5});
    w.string_attribute("/heads/biased/weight", "class_names", {"left", "right"}, false);
  });
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  std::unique_ptr<ModelFile> file;
  try {
    file = std::make_unique<ModelFile>(path, &comm);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  if (!all_ranks(file != nullptr)) return;
  try {
    std::vector<std::string> names{"stale"};
    const wsc::core::ProbeHead bin = file->read_head("bin", 3, &names);
    ASSERT_EQ(bin.classes(), 2);
    ASSERT_EQ(bin.dim(), 3);
    EXPECT_EQ(bin.weight(0, 0), -0.25);
    EXPECT_EQ(bin.weight(1, 0), 0.25);
    EXPECT_EQ(bin.weight(0, 1), 0.5);
    EXPECT_EQ(bin.weight(1, 1), -0.5);
    EXPECT_EQ(bin.weight(1, 2), 1.0);
    ASSERT_EQ(bin.bias.size(), 2);
    EXPECT_EQ(bin.bias(0), -0.125);
    EXPECT_EQ(bin.bias(1), 0.125);
    EXPECT_EQ(names, (std::vector<std::string>{"neg", "pos"}));

    names = {"stale"};
    const wsc::core::ProbeHead multi = file->read_head("multi", 3, &names);
    ASSERT_EQ(multi.classes(), 3);
    EXPECT_EQ(multi.weight(1, 2), 6.0);  // row-major on disk
    EXPECT_EQ(multi.weight(2, 0), 7.0);
    EXPECT_TRUE(multi.bias.isZero());
    EXPECT_TRUE(names.empty());

    const wsc::core::ProbeHead biased = file->read_head("biased", 3, &names);
    EXPECT_EQ(biased.bias(1), 2.5);
    EXPECT_EQ(names, (std::vector<std::string>{"left", "right"}));
    EXPECT_NO_THROW(file->read_head("multi", 3, nullptr));

    expect_throw_containing([&] { file->read_head("plane", 3, nullptr); },
                            {"heads.h5", "head /heads/plane/weight is missing",
                             "heads in file: biased, bin, multi"});
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << comm.rank() << ": " << e.what();
  }
  file.reset();
  comm.barrier();
}

TEST(IoModelFile, ModelNameMembersExistsInfo) {
  SharedTempDir dir;
  const std::string named = dir.path("named.h5");
  const std::string fixed = dir.path("fixed.h5");
  const std::string plain = dir.path("resnet50_v2.h5");
  on_root_then_barrier([&] {
    {
      FixtureWriter w(named);
      w.doubles("/embeddings", {2, 2}, {1, 2, 3, 4});
      w.string_attribute("/", "model", {"DINO ViT-B/16"}, true, true);
      w.ints("/labels/zeta", {0, 1});
      w.ints("/labels/alpha", {0, 1});
      w.ints("/labels/mid", {0, 1});
    }
    {
      FixtureWriter w(fixed);
      w.doubles("/embeddings", {2, 2}, {1, 2, 3, 4}, H5T_IEEE_F32BE);
      w.string_attribute("/", "model", {"CLIP"}, false, true);
    }
    {
      FixtureWriter w(plain);
      w.doubles("/embeddings", {2, 2}, {1, 2, 3, 4});
    }
  });
  try {
    ModelFile a(named, nullptr);
    EXPECT_EQ(a.model_name(), "DINO ViT-B/16");
    EXPECT_EQ(a.members("/labels"), (std::vector<std::string>{"alpha", "mid", "zeta"}));
    EXPECT_TRUE(a.members("/heads").empty());
    EXPECT_TRUE(a.exists("/labels/mid"));
    EXPECT_TRUE(a.exists("/labels"));
    EXPECT_FALSE(a.exists("/labels/nope"));
    EXPECT_FALSE(a.exists("/heads/x/weight"));
    EXPECT_FALSE(a.exists("/embeddings/x"));  // a dataset has no members
    const wsc::io::DatasetInfo info = a.info("/labels/alpha");
    EXPECT_EQ(info.dims, (std::vector<std::int64_t>{2}));
    EXPECT_EQ(info.kind, wsc::io::ElementKind::Integer);
    EXPECT_EQ(info.element_size, 8u);
    EXPECT_EQ(info.type_name, "int64");
    expect_throw_containing([&] { a.info("/labels/site"); },
                            {"named.h5", "dataset /labels/site is missing"});

    ModelFile b(fixed, nullptr);
    EXPECT_EQ(b.model_name(), "CLIP");
    EXPECT_TRUE(b.embeddings_float32());
    EXPECT_EQ(b.info("/embeddings").type_name, "float32");

    ModelFile c(plain, nullptr);
    EXPECT_EQ(c.model_name(), "resnet50_v2");
    EXPECT_EQ(c.path(), plain);
    EXPECT_TRUE(c.members("/labels").empty());
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

TEST(IoModelFile, LabelsOnlyFile) {
  SharedTempDir dir;
  const std::string path = dir.path("labels_only.h5");
  on_root_then_barrier([&] {
    FixtureWriter w(path);
    w.ints("/labels/site", {0, 1, 1});
    w.ints("/groups/patient", {1, 1, 2});
  });
  try {
    ModelFile file(path, nullptr, false);
    EXPECT_EQ(file.rows(), 0);
    EXPECT_EQ(file.read_labels("site", 3).codes, (std::vector<std::int64_t>{0, 1, 1}));
    EXPECT_EQ(file.read_groups("patient", 3), (std::vector<std::int64_t>{1, 1, 2}));
    expect_throw_containing([&] { file.read_embeddings({0, 1}); }, {"labels_only.h5", "/embeddings"});
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  expect_throw_containing([&] { ModelFile file(path, nullptr); },
                          {"labels_only.h5", "dataset /embeddings is missing"});
}

}  // namespace

// Atomic files: nothing visible before commit, the destination replaced whole,
// nothing left behind by an abandoned or failed write, every error naming
// the file. Serial: no collective calls, no MPI_Init.
#include "io_test_util.hpp"
#include "wsc/io/atomic_file.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace {

using namespace wsc_io_test;
using wsc::io::AtomicFile;

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

TEST(IoAtomicFile, Committed) {
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

TEST(IoAtomicFile, ReplacesExisting) {
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

TEST(IoAtomicFile, NotCommittedLeavesNothing) {
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

TEST(IoAtomicFile, ErrorsNameThePath) {
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

TEST(IoAtomicFile, BytesAfterText) {
  LocalTempDir dir;
  const std::string path = dir.path("state.bin");
  {
    AtomicFile file(path);
    file.stream() << "head:";
    const std::string big(300000, 'x');  // past the stream's buffer
    file.write(big.data(), big.size());
    file.stream() << ":tail";
    file.commit();
    EXPECT_THROW(file.write("y", 1), std::logic_error);
  }
  EXPECT_EQ(slurp(path), "head:" + std::string(300000, 'x') + ":tail");
  EXPECT_EQ(entries(dir.dir()), 1u);
}

TEST(IoAtomicFile, TwoWritersOfOnePathUseTwoTemporaryFiles) {
  LocalTempDir dir;
  const std::string path = dir.path("wsc.csv");
  AtomicFile first(path);
  AtomicFile second(path);
  EXPECT_NE(first.temp_path(), second.temp_path());
  first.stream() << "first";
  second.stream() << "second";
  first.commit();
  second.commit();
  EXPECT_EQ(slurp(path), "second");
  EXPECT_EQ(entries(dir.dir()), 1u);
}

TEST(IoAtomicFile, RenameIntoPlace) {
  LocalTempDir dir;
  const std::string temp = dir.path("results.h5.tmp");
  {
    std::ofstream out(temp, std::ios::binary);
    out << "written by another library";
  }
  wsc::io::rename_into_place(temp, dir.path("results.h5"));
  EXPECT_EQ(slurp(dir.path("results.h5")), "written by another library");
  EXPECT_EQ(entries(dir.dir()), 1u);
}

TEST(IoAtomicFile, FailedRenameLeavesNothing) {
  LocalTempDir dir;
  // The destination is a folder: the rename fails and says so, naming both.
  std::filesystem::create_directory(dir.path("taken"));
  try {
    AtomicFile file(dir.path("taken"));
    file.stream() << "x";
    file.commit();
    ADD_FAILURE() << "renamed a file over a folder";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("cannot rename " + dir.path("taken") + ".tmp.", 0), 0u) << message;
    EXPECT_NE(message.find(" to " + dir.path("taken") + ": "), std::string::npos) << message;
  }
  EXPECT_EQ(entries(dir.dir()), 1u);  // the folder only
}

}  // namespace

// The HDF5 object layer (serial: no collective calls, no MPI_Init): paths
// walked link by link, members, typed reads, attributes, writing, and
// messages that name the file and the object.
#include "io_test_util.hpp"
#include "wsc/io/hdf5_object.hpp"

#include <cstdio>

namespace {

using namespace wsc_io_test;
using wsc::io::DatasetInfo;
using wsc::io::ElementKind;
using wsc::io::Hdf5Dataset;
using wsc::io::Hdf5File;
using wsc::io::Hdf5Object;

/// Writes a small file with one of everything the layer reads.
void write_fixture(const std::string& path) {
  FixtureWriter w(path);
  w.doubles("/matrix", {2, 3}, {1, 2, 3, 4, 5, 6});
  w.doubles("/narrow", {3, 2}, {0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, H5T_IEEE_F32LE);
  w.ints("/group/ints", {-1, 0, 7});
  w.ints("/group/small", {1, 2}, H5T_STD_U8LE);
  w.strings("/group/names", {"b", "", "café"});
  w.string_attribute("/group/names", "fixed", {"x", "long"}, /*variable=*/false);
  w.string_attribute("/group/names", "one", {"only"}, /*variable=*/true, /*scalar=*/true);
  w.string_attribute("/", "model", {"m"}, /*variable=*/true, /*scalar=*/true);
  w.unwritten("/unwritten", H5T_IEEE_F64LE, {10, 2});
  // An enum over int8, as h5py stores bool.
  hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
  std::int8_t value = 0;
  H5Tenum_insert(type, "FALSE", &value);
  value = 1;
  H5Tenum_insert(type, "TRUE", &value);
  const std::vector<std::int8_t> flags{0, 1, 1};
  w.dataset("/group/flag", type, type, {3}, flags.data());
  H5Tclose(type);
  // Fixed-length, space-padded strings.
  hid_t fixed = H5Tcopy(H5T_C_S1);
  H5Tset_size(fixed, 4);
  H5Tset_strpad(fixed, H5T_STR_SPACEPAD);
  const char padded[] = "ab  cdef";
  w.dataset("/padded", fixed, fixed, {2}, padded);
  H5Tclose(fixed);
  // A dangling soft link.
  EXPECT_GE(H5Lcreate_soft("/nowhere", w.id(), "/dangling", H5P_DEFAULT, H5P_DEFAULT), 0);
}

/// The fixture file, written afresh for each test that reads it (an
/// exception thrown by a test body fails the test).
class IoHdf5ObjectRead : public ::testing::Test {
 protected:
  void SetUp() override { write_fixture(path_); }
  LocalTempDir dir_;
  std::string path_ = dir_.path("f.h5");
};

TEST_F(IoHdf5ObjectRead, ExistsWalksLinkByLink) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  EXPECT_EQ(file.label(), "f.h5");
  EXPECT_TRUE(file.exists("/"));
  EXPECT_TRUE(file.exists("/group"));
  EXPECT_TRUE(file.exists("/group/ints"));
  EXPECT_FALSE(file.exists("/group/none"));
  EXPECT_FALSE(file.exists("/none/deeper/still"));
  EXPECT_FALSE(file.exists("/matrix/x"));  // a dataset has no members
  EXPECT_FALSE(file.exists("/dangling"));
  EXPECT_EQ(file.type("/group"), H5O_TYPE_GROUP);
  EXPECT_EQ(file.type("/matrix"), H5O_TYPE_DATASET);
}

TEST_F(IoHdf5ObjectRead, MembersAreSortedAndEmptyWhenAbsent) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  EXPECT_EQ(file.members("/group"),
            (std::vector<std::string>{"flag", "ints", "names", "small"}));
  EXPECT_TRUE(file.members("/absent").empty());
  expect_throw_containing([&] { file.members("/matrix"); }, {"f.h5: /matrix is not a group"});
}

TEST_F(IoHdf5ObjectRead, DatasetsAreTypedAndRead) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  const Hdf5Dataset matrix = file.dataset("/matrix");
  EXPECT_EQ(matrix.what(), "f.h5: dataset /matrix");
  const DatasetInfo info = matrix.info();
  EXPECT_EQ(info.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(info.kind, ElementKind::Float);
  EXPECT_EQ(info.type_name, "float64");
  EXPECT_EQ(matrix.read_doubles(), (std::vector<double>{1, 2, 3, 4, 5, 6}));

  EXPECT_EQ(file.dataset("/narrow").info().type_name, "float32");
  EXPECT_EQ(file.dataset("/group/ints").info().type_name, "int64");
  EXPECT_EQ(file.dataset("/group/ints").read_ints(), (std::vector<std::int64_t>{-1, 0, 7}));
  EXPECT_EQ(file.dataset("/group/small").info().type_name, "uint8");
  const DatasetInfo flag = file.dataset("/group/flag").info();
  EXPECT_EQ(flag.type_name, "enum(int8)");
  EXPECT_EQ(flag.kind, ElementKind::Integer);
  EXPECT_EQ(file.dataset("/group/flag").read_ints(), (std::vector<std::int64_t>{0, 1, 1}));
  EXPECT_EQ(file.dataset("/group/names").info().kind, ElementKind::String);
  EXPECT_EQ(file.dataset("/group/names").read_strings(),
            (std::vector<std::string>{"b", "", "café"}));
  EXPECT_EQ(file.dataset("/padded").read_strings(), (std::vector<std::string>{"ab", "cdef"}));

  expect_throw_containing([&] { file.dataset("/group/none"); },
                          {"f.h5: dataset /group/none is missing"});
  expect_throw_containing([&] { file.dataset("/group"); }, {"f.h5: /group is not a dataset"});
  expect_throw_containing([&] { file.dataset("/matrix").read_strings(); },
                          {"f.h5: dataset /matrix has type float64, expected string"});
  expect_throw_containing([&] { file.dataset("/group/names").read_doubles(); },
                          {"f.h5: dataset /group/names: H5Dread failed"});
}

TEST_F(IoHdf5ObjectRead, RowsAreReadAsHyperslabs) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  std::vector<double> wide(2 * 2, -1.0);
  EXPECT_EQ(file.dataset("/narrow").read_rows(1, 2, 2, /*collective=*/false, wide.data()),
            "serial");
  EXPECT_EQ(wide, (std::vector<double>{2.5, 3.5, 4.5, 5.5}));
  std::vector<float> narrow(2, -1.0f);
  file.dataset("/narrow").read_rows(0, 1, 2, false, narrow.data());
  EXPECT_EQ(narrow, (std::vector<float>{0.5f, 1.5f}));
  // No rows: reads nothing, touches nothing.
  file.dataset("/narrow").read_rows(0, 0, 2, false, static_cast<double*>(nullptr));
  expect_throw_containing(
      [&] { file.dataset("/matrix").read_rows(1, 5, 3, false, wide.data()); },
      {"f.h5: reading rows [1, 6) of /matrix: ", " failed"});
}

TEST_F(IoHdf5ObjectRead, StorageIsChecked) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  const Hdf5Dataset matrix = file.dataset("/matrix");
  EXPECT_NO_THROW(matrix.require_storage(matrix.info()));
  const Hdf5Dataset unwritten = file.dataset("/unwritten");
  expect_throw_containing([&] { unwritten.require_storage(unwritten.info()); },
                          {"f.h5: dataset /unwritten declares 10 x 2 float64 (160 bytes) but "
                           "holds only 0 bytes (unwritten or truncated)"});
}

TEST_F(IoHdf5ObjectRead, AttributesAreReadWithTheirObjectsName) {
  const Hdf5File file = Hdf5File::open_read_only(path_, "f.h5");
  const Hdf5Object root = file.root();
  EXPECT_EQ(root.where(), "f.h5: /");
  EXPECT_TRUE(root.has_attribute("model"));
  EXPECT_FALSE(root.has_attribute("other"));
  EXPECT_EQ(root.read_string_attribute("model"), (std::vector<std::string>{"m"}));
  const Hdf5Dataset names = file.dataset("/group/names");
  EXPECT_EQ(names.read_string_attribute("fixed"), (std::vector<std::string>{"x", "long"}));
  EXPECT_EQ(names.read_string_attribute("one"), (std::vector<std::string>{"only"}));
  expect_throw_containing([&] { names.read_number_attribute("one"); },
                          {"f.h5: /group/names: attribute one has type string, expected a number"});
  expect_throw_containing([&] { names.read_string_attribute("absent"); },
                          {"f.h5: /group/names: attribute absent: H5Aopen failed"});
}

/// A file of string datasets and attributes beyond kMaxStrings and
/// kMaxStringBytes, declared (chunked, no chunk written) or real.
void write_string_limits(const std::string& path) {
  // The latest format: attributes larger than 64 KiB live in dense storage.
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  ASSERT_GE(file, 0);
  auto chunked = [&](const char* name, hid_t type, hsize_t count) {
    const hsize_t chunk = 1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    EXPECT_GE(H5Pset_chunk(dcpl, 1, &chunk), 0);
    hid_t space = H5Screate_simple(1, &count, nullptr);
    hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT_GE(dset, 0) << name;
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    H5Pclose(dcpl);
  };
  hid_t variable = H5Tcopy(H5T_C_S1);
  H5Tset_size(variable, H5T_VARIABLE);
  chunked("/billion_names", variable, 1000000000);
  hid_t huge = H5Tcopy(H5T_C_S1);
  H5Tset_size(huge, std::size_t{1} << 31);
  chunked("/huge_names", huge, 2);
  H5Tclose(huge);
  // One variable-length string one byte over the limit.
  const std::string long_text(wsc::io::kMaxStringBytes + 1, 'x');
  const char* long_pointer = long_text.c_str();
  const hsize_t one = 1;
  hid_t space = H5Screate_simple(1, &one, nullptr);
  hid_t dset = H5Dcreate2(file, "/long_name", variable, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Dwrite(dset, variable, H5S_ALL, H5S_ALL, H5P_DEFAULT, &long_pointer), 0);
  // Attributes: 2^20-byte fixed-length strings, and 65537 one-byte strings.
  hid_t wide = H5Tcopy(H5T_C_S1);
  H5Tset_size(wide, std::size_t{1} << 20);
  std::vector<char> wide_value(std::size_t{1} << 20, 'a');
  hid_t attr = H5Acreate2(dset, "wide", wide, space, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Awrite(attr, wide, wide_value.data()), 0);
  H5Aclose(attr);
  H5Tclose(wide);
  const hsize_t many = wsc::io::kMaxStrings + 1;
  hid_t many_space = H5Screate_simple(1, &many, nullptr);
  hid_t narrow = H5Tcopy(H5T_C_S1);
  H5Tset_size(narrow, 1);
  std::vector<char> many_values(many, 'c');
  attr = H5Acreate2(dset, "many", narrow, many_space, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Awrite(attr, narrow, many_values.data()), 0);
  H5Aclose(attr);
  H5Tclose(narrow);
  H5Sclose(many_space);
  H5Dclose(dset);
  H5Sclose(space);
  H5Tclose(variable);
  H5Fclose(file);
  H5Pclose(fapl);
}

TEST(IoHdf5Object, StringsBeyondTheLimitsAreRefusedBeforeReading) {
  LocalTempDir dir;
  const std::string path = dir.path("s.h5");
  write_string_limits(path);
  const Hdf5File file = Hdf5File::open_read_only(path, "s.h5");
  expect_throw_containing([&] { file.dataset("/billion_names").read_strings(); },
                          {"s.h5: dataset /billion_names has 1000000000 strings, at most 65536"});
  expect_throw_containing([&] { file.dataset("/huge_names").read_strings(); },
                          {"s.h5: dataset /huge_names has a fixed string length of 2147483648 bytes, at most 4096"});
  expect_throw_containing([&] { file.dataset("/long_name").read_strings(); },
                          {"s.h5: dataset /long_name has a string of 4097 bytes, at most 4096"});
  const Hdf5Dataset named = file.dataset("/long_name");
  expect_throw_containing([&] { named.read_string_attribute("wide"); },
                          {"s.h5: /long_name: attribute wide has a fixed string length of 1048576 bytes, at most 4096"});
  expect_throw_containing([&] { named.read_string_attribute("many"); },
                          {"s.h5: /long_name: attribute many has 65537 strings, at most 65536"});
}

TEST(IoHdf5Object, WritesGroupsDatasetsAndAttributes) {
  LocalTempDir dir;
  const std::string path = dir.path("w.h5");
  try {
    Hdf5File file = Hdf5File::create(path);
    EXPECT_EQ(file.label(), path);
    file.create_parent_groups("/a/b/values");
    EXPECT_TRUE(file.exists("/a/b"));
    EXPECT_FALSE(file.exists("/a/b/values"));
    const std::vector<double> values{1.0, 2.0};
    file.create_dataset("a/b/values", H5T_IEEE_F64LE, {2}).write(H5T_NATIVE_DOUBLE, values.data());
    const std::vector<double> other{3.0};
    file.create_dataset("/a/b/values", H5T_IEEE_F64LE, {1}).write(H5T_NATIVE_DOUBLE, other.data());
    file.create_dataset("/a/empty", H5T_IEEE_F64LE, {0}).write(H5T_NATIVE_DOUBLE, nullptr);
    EXPECT_EQ(file.dataset("/a/b/values").read_doubles(), other);  // replaced
    EXPECT_TRUE(file.dataset("/a/empty").read_doubles().empty());

    const Hdf5Object group = file.open_or_create_group("/c/d");
    EXPECT_EQ(group.where(), path + ": /c/d");
    group.write_attribute("text", std::string("μ"));
    group.write_attribute("number", 2.5);
    group.write_attribute("number", 3.5);  // replaces
    group.write_attribute("list", std::vector<std::string>{"p", "q"});
    group.write_attribute("none", std::vector<std::string>{});
    file.open_or_create_group("/").write_attribute("top", std::string("root"));
    const Hdf5Object values_object = file.open_or_create_group("/a/b/values");  // a dataset
    values_object.write_attribute("unit", std::string("mm"));

    EXPECT_EQ(group.read_string_attribute("text"), (std::vector<std::string>{"μ"}));
    EXPECT_EQ(group.read_number_attribute("number"), 3.5);
    EXPECT_EQ(group.read_string_attribute("list"), (std::vector<std::string>{"p", "q"}));
    EXPECT_TRUE(group.read_string_attribute("none").empty());
    EXPECT_EQ(file.root().read_string_attribute("top"), (std::vector<std::string>{"root"}));
    EXPECT_EQ(file.dataset("/a/b/values").read_string_attribute("unit"),
              (std::vector<std::string>{"mm"}));

    expect_throw_containing([&] { file.create_parent_groups("/a/b/values/x"); },
                            {path + ": cannot create /a/b/values/x: /a/b/values is not a group"});
    expect_throw_containing([&] { file.create_dataset("/", H5T_IEEE_F64LE, {1}); },
                            {"cannot write a dataset named \"/\""});
    file.close("results");
    file.close("results");  // idempotent
    EXPECT_FALSE(file.is_open());
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  try {
    const Hdf5File file = Hdf5File::open_read_only(path, "w.h5");
    EXPECT_EQ(file.members("/"), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(file.members("/c"), (std::vector<std::string>{"d"}));
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

TEST(IoHdf5Object, FilesThatCannotBeOpenedAreNamed) {
  LocalTempDir dir;
  expect_throw_containing([&] { wsc::io::require_hdf5_file(dir.path("absent.h5")); },
                          {"absent.h5: cannot open: no such file"});
  expect_throw_containing([&] { wsc::io::require_hdf5_file(dir.dir()); },
                          {"cannot open: is a directory, expected an HDF5 file"});
  const std::string text = dir.path("notes.txt");
  if (std::FILE* f = std::fopen(text.c_str(), "w")) {
    std::fputs("hello\n", f);
    std::fclose(f);
  }
  expect_throw_containing([&] { wsc::io::require_hdf5_file(text); },
                          {"notes.txt: not an HDF5 file"});
  expect_throw_containing([&] { Hdf5File::open_read_only(text, "notes.txt"); },
                          {"notes.txt: cannot open (truncated or damaged HDF5 file)"});
  expect_throw_containing([&] { Hdf5File::create(dir.path("no/such/dir/w.h5")); },
                          {"w.h5: cannot create: directory", "does not exist"});
}

TEST(IoHdf5Object, ObjectNamesAreAbsolute) {
  EXPECT_EQ(wsc::io::absolute_object_name(""), "/");
  EXPECT_EQ(wsc::io::absolute_object_name("/"), "/");
  EXPECT_EQ(wsc::io::absolute_object_name("a/b"), "/a/b");
  EXPECT_EQ(wsc::io::absolute_object_name("/a//b/"), "/a/b");
}

}  // namespace

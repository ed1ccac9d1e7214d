// ResultsFile: written by one process, read back with the HDF5 C API (serial:
// no collective calls, no MPI_Init).
#include "io_test_util.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/io/model_inspect.hpp"
#include "wsc/io/results_file.hpp"

#include <cstring>

namespace {

using namespace wsc_io_test;
using wsc::io::ResultsFile;

struct Read {
  std::vector<hsize_t> dims;
  std::vector<double> doubles;
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
  H5T_class_t type_class = H5T_NO_CLASS;
  H5T_cset_t cset = H5T_CSET_ERROR;
  bool variable = false;
};

Read read_dataset(const std::string& path, const std::string& name) {
  Read out;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(file, 0) << path;
  if (file < 0) return out;
  hid_t dset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  EXPECT_GE(dset, 0) << name;
  if (dset >= 0) {
    hid_t space = H5Dget_space(dset);
    const int rank = H5Sget_simple_extent_ndims(space);
    out.dims.resize(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space, out.dims.data(), nullptr);
    hsize_t count = 1;
    for (hsize_t d : out.dims) count *= d;
    hid_t type = H5Dget_type(dset);
    out.type_class = H5Tget_class(type);
    double dummy[1] = {0.0};
    if (out.type_class == H5T_FLOAT) {
      out.doubles.resize(count);
      EXPECT_GE(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        count ? static_cast<void*>(out.doubles.data()) : static_cast<void*>(dummy)),
                0);
    } else if (out.type_class == H5T_INTEGER) {
      out.ints.resize(count);
      EXPECT_GE(H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        count ? static_cast<void*>(out.ints.data()) : static_cast<void*>(dummy)),
                0);
    } else if (out.type_class == H5T_STRING) {
      out.cset = H5Tget_cset(type);
      out.variable = H5Tis_variable_str(type) > 0;
      hid_t memory = H5Tcopy(H5T_C_S1);
      H5Tset_size(memory, H5T_VARIABLE);
      H5Tset_cset(memory, out.cset);
      std::vector<char*> pointers(count, nullptr);
      EXPECT_GE(H5Dread(dset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), 0);
      for (char* p : pointers) out.strings.emplace_back(p != nullptr ? p : "");
      H5Dvlen_reclaim(memory, space, H5P_DEFAULT, pointers.data());
      H5Tclose(memory);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(dset);
  }
  H5Fclose(file);
  return out;
}

std::string read_string_attribute(const std::string& path, const std::string& object,
                                  const std::string& name, H5T_cset_t* cset = nullptr) {
  std::string value;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t attr = H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(attr, 0) << object << " " << name;
  if (attr >= 0) {
    hid_t type = H5Aget_type(attr);
    EXPECT_EQ(H5Tget_class(type), H5T_STRING);
    EXPECT_GT(H5Tis_variable_str(type), 0);
    if (cset != nullptr) *cset = H5Tget_cset(type);
    hid_t memory = H5Tcopy(H5T_C_S1);
    H5Tset_size(memory, H5T_VARIABLE);
    H5Tset_cset(memory, H5Tget_cset(type));
    char* text = nullptr;
    EXPECT_GE(H5Aread(attr, memory, &text), 0);
    if (text != nullptr) {
      value = text;
      H5free_memory(text);
    }
    H5Tclose(memory);
    H5Tclose(type);
    H5Aclose(attr);
  }
  H5Fclose(file);
  return value;
}

double read_double_attribute(const std::string& path, const std::string& object,
                             const std::string& name) {
  double value = -1.0;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t attr = H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(attr, 0) << object << " " << name;
  if (attr >= 0) {
    EXPECT_GE(H5Aread(attr, H5T_NATIVE_DOUBLE, &value), 0);
    H5Aclose(attr);
  }
  H5Fclose(file);
  return value;
}

TEST(IoResultsFile, RoundTrip) {
  LocalTempDir dir;
  const std::string path = dir.path("results.h5");
  wsc::core::Matrix m(2, 3);
  m << 1.0, 2.0, 3.0, 4.0, 5.0, 0.1;
  wsc::core::Vector v(3);
  v << -1.5, 0.0, 1.0 / 3.0;
  try {
    ResultsFile out(path);
    out.write_matrix("/tasks/site/cos", m);
    out.write_vector("tasks/site/explained", v);  // relative name: from the root
    out.write_doubles("/p_values", {0.5, 1e-300, 1.0});
    out.write_ints("/deep/a/b/c/counts", {-1, 0, std::int64_t{1} << 50});
    out.write_strings("/tasks/site/class_names", {"café", "b,c", ""});
    out.write_doubles("/empty", {});
    out.write_doubles("/p_values", {0.25});  // replaces
    out.write_attribute("/", "model", std::string("DINO ViT-B/16 – μ"));
    out.write_attribute("/", "seed", 42.0);
    out.write_attribute("/tasks/site/cos", "metric", std::string("cosine"));
    out.write_attribute("/config", "toml", std::string("[pca]\nvariance = 0.9\n"));
    out.write_attribute("/", "seed", 43.0);  // replaces
    out.close();
    out.close();  // idempotent
    EXPECT_THROW(out.write_doubles("/late", {1.0}), wsc::io::HdfError);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }

  const Read cos = read_dataset(path, "/tasks/site/cos");
  EXPECT_EQ(cos.dims, (std::vector<hsize_t>{2, 3}));
  EXPECT_EQ(cos.doubles, (std::vector<double>{1.0, 2.0, 3.0, 4.0, 5.0, 0.1}));  // row-major
  const Read explained = read_dataset(path, "/tasks/site/explained");
  EXPECT_EQ(explained.doubles, (std::vector<double>{-1.5, 0.0, 1.0 / 3.0}));
  const Read p = read_dataset(path, "/p_values");
  EXPECT_EQ(p.doubles, (std::vector<double>{0.25}));
  const Read counts = read_dataset(path, "/deep/a/b/c/counts");
  EXPECT_EQ(counts.type_class, H5T_INTEGER);
  EXPECT_EQ(counts.ints, (std::vector<std::int64_t>{-1, 0, std::int64_t{1} << 50}));
  const Read names = read_dataset(path, "/tasks/site/class_names");
  EXPECT_EQ(names.strings, (std::vector<std::string>{"café", "b,c", ""}));
  EXPECT_EQ(names.cset, H5T_CSET_UTF8);
  EXPECT_TRUE(names.variable);
  const Read empty = read_dataset(path, "/empty");
  EXPECT_EQ(empty.dims, (std::vector<hsize_t>{0}));

  H5T_cset_t cset = H5T_CSET_ERROR;
  EXPECT_EQ(read_string_attribute(path, "/", "model", &cset), "DINO ViT-B/16 – μ");
  EXPECT_EQ(cset, H5T_CSET_UTF8);
  EXPECT_EQ(read_double_attribute(path, "/", "seed"), 43.0);
  EXPECT_EQ(read_string_attribute(path, "/tasks/site/cos", "metric"), "cosine");
  EXPECT_EQ(read_string_attribute(path, "/config", "toml"), "[pca]\nvariance = 0.9\n");
}

TEST(IoResultsFile, EmptyMatrixAndErrors) {
  LocalTempDir dir;
  const std::string path = dir.path("r.h5");
  try {
    ResultsFile out(path);
    out.write_matrix("/m", wsc::core::Matrix(0, 4));
    out.write_ints("/leaf", {1});
    EXPECT_THROW(out.write_doubles("/leaf/child", {1.0}), wsc::io::HdfError);
    out.close();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_EQ(read_dataset(path, "/m").dims, (std::vector<hsize_t>{0, 4}));

  try {
    ResultsFile out(dir.path("no/such/dir/r.h5"));
    ADD_FAILURE() << "created a file in a missing directory";
  } catch (const wsc::io::HdfError& e) {
    EXPECT_NE(std::string(e.what()).find("r.h5"), std::string::npos) << e.what();
  }
}

// `wsc demo` writes its model file with ResultsFile: ModelFile must read it.
TEST(IoResultsFile, WritesModelFilesThatModelFileReads) {
  LocalTempDir dir;
  const std::string path = dir.path("demo.h5");
  wsc::core::Matrix x(4, 2);
  x << 1, 2, 3, 4, 5, 6, 7, 8;
  wsc::core::Matrix w(1, 2);
  w << 0.5, -0.5;
  try {
    ResultsFile out(path);
    out.write_matrix("/embeddings", x);
    out.write_matrix("/heads/plane/weight", w);
    out.write_doubles("/heads/plane/bias", {1.0});
    out.write_attribute_strings("/heads/plane/weight", "class_names", {"axial", "sagittal"});
    out.write_ints("/labels/site", {0, 2, -1, 1});
    out.write_attribute_strings("/labels/site", "class_names", {"A", "B", "Ç"});
    out.write_attribute_strings("/labels/site", "class_names", {"a", "b", "c"});  // replaces
    out.write_doubles("/labels/age", {30, 40, 50, 60});
    out.write_attribute_strings("/labels/age", "class_names", {});
    out.write_ints("/groups/patient", {1, 1, 2, 2});
    out.write_attribute("/", "model", std::string("demo model"));
    out.close();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  try {
    wsc::io::ModelFile file(path, nullptr);
    EXPECT_EQ(file.model_name(), "demo model");
    EXPECT_EQ(file.rows(), 4);
    EXPECT_EQ(file.dim(), 2);
    EXPECT_EQ(file.read_embeddings({1, 2})(1, 1), 6.0);
    const wsc::io::LabelColumn site = file.read_labels("site", 4);
    EXPECT_EQ(site.codes, (std::vector<std::int64_t>{0, 2, -1, 1}));
    EXPECT_EQ(site.class_names, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(file.read_labels("age", 4).class_names.empty());
    std::vector<std::string> names;
    const wsc::core::ProbeHead head = file.read_head("plane", 2, &names);
    EXPECT_EQ(head.classes(), 2);
    EXPECT_EQ(names, (std::vector<std::string>{"axial", "sagittal"}));
    EXPECT_EQ(file.read_groups("patient", 4), (std::vector<std::int64_t>{1, 1, 2, 2}));
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  std::string report;
  EXPECT_EQ(wsc::io::inspect_model_file(path, 0, report), 0) << report;
}

TEST(IoResultsFile, DestructorWithoutCloseDoesNotThrow) {
  LocalTempDir dir;
  const std::string path = dir.path("r.h5");
  EXPECT_NO_THROW({
    ResultsFile out(path);
    out.write_doubles("/x", {1.0, 2.0});
  });
  EXPECT_EQ(read_dataset(path, "/x").doubles, (std::vector<double>{1.0, 2.0}));
}

}  // namespace

// Unit tests of the configuration layer: TOML parsing, strictness, validation,
// overrides, path resolution, and the to_toml -> parse_config round trip.
#include "wsc/app/config.hpp"
#include "wsc/app/sweep.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using wsc::app::Config;
using wsc::app::ConfigError;
using wsc::app::MetadataSpec;
using Bin = wsc::core::BinMethod;
using Scheme = wsc::engine::PermutationScheme;
using Source = wsc::app::PrimarySource;
namespace fs = std::filesystem;

// The example from the README, verbatim (comments included).
const char* const kExample = R"(
[input]
embeddings = "model.h5"
# labels = "metadata.h5"          # optional second file for /labels and /groups

[primary]
task = "plane"                    # uses /heads/plane/weight (the model's own head)
# source = "probe"                # or: fit a probe for /labels/plane and use that

[[metadata]]
name = "scanner"                  # categorical: /labels/scanner

[[metadata]]
name = "spacing"                  # continuous: /labels/spacing
bins = 4                          # equal-width over [min, max]; binning = "quantile" optional

[pca]
variance = 0.99                   # k = max(min_components, k at this variance), at most d
min_components = 50               # components = K fixes k; components = 0 means no projection

[probe]
l2 = 1e-4                         # objective: mean cross-entropy + l2/2 * |W|^2 (bias free)
tol = 1e-8                        # on the gradient's max-norm
max_iter = 1000

[cv]
folds = 5                         # stratified; groups = "patient" makes them grouped

[permutation]
count = 1000
seed = 1
scheme = "free"                   # "free" | "within" (strata = "<labels name>") | "blocks" (blocks = "<groups name>")

[output]
dir = "results"
)";

// The smallest valid config: only the required keys.
const char* const kMinimal = R"(
[input]
embeddings = "model.h5"
[primary]
task = "plane"
[[metadata]]
name = "scanner"
)";

Config parse(const std::string& text, const std::vector<std::string>& overrides = {},
             const std::string& base_dir = "") {
  return wsc::app::parse_config(text, "config.toml", base_dir, overrides);
}

/// The ConfigError message of `fn`, or a test failure if it does not throw one.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a ConfigError, got another exception: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError, nothing was thrown";
  return {};
}

std::string parse_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return error_of([&] { parse(text, overrides); });
}

/// Checks a message is one line, starts with the origin and contains every part.
void expect_message(const std::string& message, std::initializer_list<std::string> parts,
                    const std::string& origin = "config.toml") {
  EXPECT_EQ(message.find('\n'), std::string::npos) << "multi-line message: " << message;
  EXPECT_EQ(message.rfind(origin, 0), 0u) << "message does not start with '" << origin << "': " << message;
  for (const auto& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.input.embeddings, b.input.embeddings);
  EXPECT_EQ(a.input.labels, b.input.labels);
  EXPECT_EQ(a.primary.task, b.primary.task);
  EXPECT_EQ(a.primary.source, b.primary.source);
  ASSERT_EQ(a.metadata.size(), b.metadata.size());
  for (std::size_t i = 0; i < a.metadata.size(); ++i) {
    SCOPED_TRACE("metadata " + std::to_string(i));
    EXPECT_EQ(a.metadata[i].name, b.metadata[i].name);
    EXPECT_EQ(a.metadata[i].bins, b.metadata[i].bins);
    EXPECT_EQ(a.metadata[i].binning, b.metadata[i].binning);
    EXPECT_EQ(a.metadata[i].classes, b.metadata[i].classes);
  }
  EXPECT_EQ(a.analysis.pca.variance, b.analysis.pca.variance);
  EXPECT_EQ(a.analysis.pca.min_components, b.analysis.pca.min_components);
  EXPECT_EQ(a.analysis.pca.components, b.analysis.pca.components);
  EXPECT_EQ(a.analysis.probe.l2, b.analysis.probe.l2);
  EXPECT_EQ(a.analysis.probe.solver.tol, b.analysis.probe.solver.tol);
  EXPECT_EQ(a.analysis.probe.solver.max_iter, b.analysis.probe.solver.max_iter);
  EXPECT_EQ(a.analysis.cv.folds, b.analysis.cv.folds);
  EXPECT_EQ(a.cv.groups, b.cv.groups);
  EXPECT_EQ(a.analysis.cv.seed, b.analysis.cv.seed);
  EXPECT_EQ(a.analysis.permutation.count, b.analysis.permutation.count);
  EXPECT_EQ(a.analysis.permutation.seed, b.analysis.permutation.seed);
  EXPECT_EQ(a.analysis.permutation.scheme, b.analysis.permutation.scheme);
  EXPECT_EQ(a.permutation.strata, b.permutation.strata);
  EXPECT_EQ(a.permutation.blocks, b.permutation.blocks);
  EXPECT_EQ(a.permutation.tree, b.permutation.tree);
  EXPECT_EQ(a.analysis.encodability.permutations, b.analysis.encodability.permutations);
  EXPECT_EQ(a.analysis.encodability.alpha, b.analysis.encodability.alpha);
  EXPECT_EQ(a.analysis.bootstrap.count, b.analysis.bootstrap.count);
  EXPECT_EQ(a.analysis.bootstrap.seed, b.analysis.bootstrap.seed);
  EXPECT_EQ(a.analysis.bootstrap.level, b.analysis.bootstrap.level);
  EXPECT_EQ(a.parallel.groups, b.parallel.groups);
  EXPECT_EQ(a.analysis.batch, b.analysis.batch);
  EXPECT_EQ(a.checkpoint.interval, b.checkpoint.interval);
  EXPECT_EQ(a.checkpoint.path, b.checkpoint.path);
  EXPECT_EQ(a.output.dir, b.output.dir);
  EXPECT_EQ(a.config_path, b.config_path);
}

/// A config built in code that uses every field.
Config full_config() {
  Config c;
  c.input.embeddings = "/data/model.h5";
  c.input.labels = "/data/meta \"quoted\" \\ ü.h5";
  c.primary.task = "plane";
  c.primary.source = Source::Probe;
  c.metadata.push_back(MetadataSpec{"scanner", 0, Bin::EqualWidth, 3});
  c.metadata.push_back(MetadataSpec{"spacing", 4, Bin::Quantile, 0});
  c.metadata.push_back(MetadataSpec{"age", 5, Bin::EqualWidth, 5});
  c.analysis.pca.variance = 0.1 + 0.2;  // not exactly representable in few digits
  c.analysis.pca.min_components = 7;
  c.analysis.pca.components = 12;
  c.analysis.probe.l2 = 1.0 / 3.0;
  c.analysis.probe.solver.tol = 1e-300;
  c.analysis.probe.solver.max_iter = 77;
  c.analysis.cv.folds = 3;
  c.cv.groups = "patient";
  c.analysis.cv.seed = 9223372036854775807ull;
  c.analysis.permutation.count = 0;
  c.analysis.permutation.seed = 42;
  c.analysis.permutation.scheme = Scheme::Within;
  c.permutation.strata = "site";
  c.analysis.encodability.permutations = 250;
  c.analysis.encodability.alpha = 0.01;
  c.analysis.bootstrap.count = 500;
  c.analysis.bootstrap.seed = 3;
  c.analysis.bootstrap.level = 0.9;
  c.parallel.groups = 4;
  c.analysis.batch = 32;
  c.checkpoint.interval = 12.5;
  c.checkpoint.path = "/scratch/run.wsc";
  c.output.dir = "/tmp/out\tdir";
  c.config_path = "config.toml";
  return c;
}

/// A fresh temporary directory, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wsc_config_test_XXXXXX").string();
    const char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------
// Parsing and defaults
// ---------------------------------------------------------------------------

TEST(AppConfig, ExampleParsesToExpectedStruct) {
  const Config c = parse(kExample);
  EXPECT_EQ(c.input.embeddings, "model.h5");
  EXPECT_EQ(c.input.labels, "");
  EXPECT_EQ(c.primary.task, "plane");
  EXPECT_EQ(c.primary.source, Source::File);
  ASSERT_EQ(c.metadata.size(), 2u);
  EXPECT_EQ(c.metadata[0].name, "scanner");
  EXPECT_EQ(c.metadata[0].bins, 0);
  EXPECT_EQ(c.metadata[0].binning, Bin::EqualWidth);
  EXPECT_EQ(c.metadata[0].classes, 0);
  EXPECT_EQ(c.metadata[1].name, "spacing");
  EXPECT_EQ(c.metadata[1].bins, 4);
  EXPECT_EQ(c.metadata[1].binning, Bin::EqualWidth);
  EXPECT_EQ(c.metadata[1].classes, 0);
  EXPECT_DOUBLE_EQ(c.analysis.pca.variance, 0.99);
  EXPECT_EQ(c.analysis.pca.min_components, 50);
  EXPECT_EQ(c.analysis.pca.components, -1);
  EXPECT_DOUBLE_EQ(c.analysis.probe.l2, 1e-4);
  EXPECT_DOUBLE_EQ(c.analysis.probe.solver.tol, 1e-8);
  EXPECT_EQ(c.analysis.probe.solver.max_iter, 1000);
  EXPECT_EQ(c.analysis.cv.folds, 5);
  EXPECT_EQ(c.cv.groups, "");
  EXPECT_EQ(c.analysis.cv.seed, 0u);
  EXPECT_EQ(c.analysis.permutation.count, 1000);
  EXPECT_EQ(c.analysis.permutation.seed, 1u);
  EXPECT_EQ(c.analysis.permutation.scheme, Scheme::Free);
  EXPECT_EQ(c.permutation.strata, "");
  EXPECT_EQ(c.permutation.blocks, "");
  EXPECT_EQ(c.output.dir, "results");
  EXPECT_EQ(c.config_path, "config.toml");
}

TEST(AppConfig, MinimalConfigGetsStructDefaults) {
  const Config c = parse(kMinimal);
  Config expected;
  expected.input.embeddings = "model.h5";
  expected.primary.task = "plane";
  expected.metadata.push_back(MetadataSpec{"scanner", 0, Bin::EqualWidth, 0});
  expected.config_path = "config.toml";
  expect_same(c, expected);
  EXPECT_EQ(c.analysis.pca.components, -1);
  EXPECT_EQ(c.output.dir, "results");
}

TEST(AppConfig, AllOptionalKeysAndExtensions) {
  const Config c = parse(R"(
[input]
embeddings = "model.h5"
labels = "metadata.h5"
[primary]
task = "plane"
source = "probe"
[[metadata]]
name = "scanner"
classes = 3
[[metadata]]
name = "spacing"
bins = 4
binning = "quantile"
[pca]
components = 0
[cv]
folds = 10
groups = "patient"
seed = 17
[permutation]
count = 0
seed = 9223372036854775807
scheme = "within"
strata = "site"
[encodability]
permutations = 0
alpha = 0.1
[bootstrap]
count = 200
seed = 5
level = 0.9
[parallel]
groups = 2
batch = 16
)");
  EXPECT_EQ(c.analysis.encodability.permutations, 0);
  EXPECT_EQ(c.analysis.encodability.alpha, 0.1);
  EXPECT_EQ(c.analysis.bootstrap.count, 200);
  EXPECT_EQ(c.analysis.bootstrap.seed, 5u);
  EXPECT_EQ(c.analysis.bootstrap.level, 0.9);
  EXPECT_EQ(c.parallel.groups, 2);
  EXPECT_EQ(c.analysis.batch, 16);
  EXPECT_EQ(c.input.labels, "metadata.h5");
  EXPECT_EQ(c.primary.source, Source::Probe);
  EXPECT_EQ(c.metadata[0].classes, 3);
  EXPECT_EQ(c.metadata[1].binning, Bin::Quantile);
  EXPECT_EQ(c.analysis.pca.components, 0);
  EXPECT_EQ(c.analysis.cv.folds, 10);
  EXPECT_EQ(c.cv.groups, "patient");
  EXPECT_EQ(c.analysis.cv.seed, 17u);
  EXPECT_EQ(c.analysis.permutation.count, 0);
  EXPECT_EQ(c.analysis.permutation.seed, 9223372036854775807ull);
  EXPECT_EQ(c.analysis.permutation.scheme, Scheme::Within);
  EXPECT_EQ(c.permutation.strata, "site");
}

TEST(AppConfig, BlocksScheme) {
  const Config c = parse(std::string(kMinimal) + "[permutation]\nscheme = \"blocks\"\nblocks = \"patient\"\n");
  EXPECT_EQ(c.analysis.permutation.scheme, Scheme::Blocks);
  EXPECT_EQ(c.permutation.blocks, "patient");
}

TEST(AppConfig, TreeScheme) {
  const Config c = parse(std::string(kMinimal) + "[permutation]\nscheme = \"tree\"\ntree = \"families\"\n");
  EXPECT_EQ(c.analysis.permutation.scheme, Scheme::Tree);
  EXPECT_EQ(c.permutation.tree, "families");
  EXPECT_EQ(c.permutation.blocks, "");
}

TEST(AppConfig, InlineArrayOfTablesIsAcceptedForMetadata) {
  const Config c = parse(R"(
metadata = [{name = "scanner"}, {name = "spacing", bins = 3}]
[input]
embeddings = "model.h5"
[primary]
task = "plane"
)");
  ASSERT_EQ(c.metadata.size(), 2u);
  EXPECT_EQ(c.metadata[1].bins, 3);
}

// ---------------------------------------------------------------------------
// Strictness: unknown keys and tables
// ---------------------------------------------------------------------------

TEST(AppConfig, UnknownKeyIsNamedWithKnownKeys) {
  const std::string message = parse_error(std::string(kMinimal) + "[pca]\nvarianse = 0.9\n");
  EXPECT_EQ(message,
            "config.toml: unknown key 'pca.varianse' (known: variance, min_components, components, sensitivity)");
}

TEST(AppConfig, SequentialStopping) {
  const Config c = parse(std::string(kMinimal) +
                         "[permutation]\nstop = \"decisions\"\nrisk = 0.01\ndecisions = [\"q_fdr\", \"p_perm\"]\n");
  EXPECT_EQ(c.analysis.permutation.stop, wsc::engine::PermutationStop::Decisions);
  EXPECT_EQ(c.analysis.permutation.risk, 0.01);
  EXPECT_EQ(c.analysis.permutation.decisions, (std::vector<std::string>{"q_fdr", "p_perm"}));
  EXPECT_EQ(parse(kMinimal).analysis.permutation.decisions, (std::vector<std::string>{"p_fwer"}));
  const std::string rule = "'permutation.decisions' must list one or more of \"p_fwer\", \"q_fdr\", \"p_perm\", each once";
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[permutation]\ndecisions = [\"p_fwer\", \"p_fwer\"]\n"),
            "config.toml: " + rule);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[permutation]\ndecisions = [\"fwer\"]\n"), "config.toml: " + rule);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[permutation]\ndecisions = []\n"), "config.toml: " + rule);
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\nstop = \"early\"\n"),
                 {"'permutation.stop' must be \"fixed\" or \"decisions\", got 'early'"});
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\nrisk = 0.5\n"),
                 {"'permutation.risk' must be in (0, 0.5), got 0.5"});
}

TEST(AppConfig, SensitivityListsK) {
  const Config c = parse(std::string(kMinimal) + "[pca]\nsensitivity = [50, 5, \"none\", 10]\n");
  EXPECT_EQ(c.analysis.sensitivity, (std::vector<int>{50, 5, 0, 10}));
  EXPECT_EQ(wsc::engine::sensitivity_order(c.analysis.sensitivity), (std::vector<int>{5, 10, 50, 0}));
  EXPECT_TRUE(parse(kMinimal).analysis.sensitivity.empty());
  const std::string rule =
      "'pca.sensitivity' must list distinct k >= 1, and at most one 0 or \"none\" (no projection), at most 64 of them";
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[pca]\nsensitivity = [5, 5]\n"), "config.toml: " + rule);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[pca]\nsensitivity = [0, \"none\"]\n"), "config.toml: " + rule);
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nsensitivity = [-1]\n"),
                 {"'pca.sensitivity' must be an integer in [0, 2147483647], got -1"});
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nsensitivity = 5\n"),
                 {"'pca.sensitivity' must be an array of integers, got integer"});
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nsensitivity = [5, \"all\"]\n"),
                 {"'pca.sensitivity' must list integers k >= 0 or \"none\", got string"});
  std::string many = "[pca]\nsensitivity = [1";
  for (int k = 2; k <= 65; ++k) many += ", " + std::to_string(k);
  EXPECT_EQ(parse_error(std::string(kMinimal) + many + "]\n"), "config.toml: " + rule);
}

TEST(AppConfig, UnknownTopLevelTable) {
  expect_message(parse_error(std::string(kMinimal) + "[plotting]\ncolor = 1\n"),
                 {"unknown table 'plotting'", "known: input, primary, metadata, pca, probe, cv, permutation, encodability, bootstrap, parallel, checkpoint, output"});
}

TEST(AppConfig, UnknownTopLevelKey) {
  expect_message(parse_error("verbose = true\n" + std::string(kMinimal)), {"unknown key 'verbose'"});
}

TEST(AppConfig, UnknownNestedTable) {
  expect_message(parse_error(std::string(kMinimal) + "[cv.extra]\nx = 1\n"), {"unknown table 'cv.extra'", "folds"});
}

TEST(AppConfig, UnknownKeyInMetadataEntry) {
  expect_message(parse_error(std::string(kMinimal) + "[[metadata]]\nname = \"spacing\"\nbin = 4\n"),
                 {"unknown key 'metadata.1.bin'", "known: name, bins, binning, classes"});
}

TEST(AppConfig, UnknownKeysInEverySection) {
  for (const std::string section :
       {"input", "primary", "probe", "cv", "permutation", "encodability", "bootstrap", "parallel", "checkpoint",
        "output"}) {
    SCOPED_TRACE(section);
    expect_message(parse_error(kMinimal, {section + ".bogus=1"}), {"unknown key '" + section + ".bogus'"});
  }
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

TEST(AppConfig, StringWhereIntegerExpected) {
  const std::string message = parse_error(std::string(kMinimal) + "[permutation]\ncount = \"many\"\n");
  EXPECT_EQ(message, "config.toml: 'permutation.count' must be an integer, got string");
}

TEST(AppConfig, FloatWhereIntegerExpected) {
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\ncount = 1e3\n"),
                 {"'permutation.count' must be an integer, got float"});
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nmin_components = 5.0\n"),
                 {"'pca.min_components' must be an integer, got float"});
}

TEST(AppConfig, NonNumberWhereFloatExpected) {
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nvariance = \"high\"\n"),
                 {"'pca.variance'", "must be a number", "got string"});
  expect_message(parse_error(std::string(kMinimal) + "[probe]\ntol = true\n"),
                 {"'probe.tol'", "must be a number", "got boolean"});
}

TEST(AppConfig, NonStringWhereStringExpected) {
  expect_message(parse_error("[input]\nembeddings = 3\n[primary]\ntask = \"plane\"\n[[metadata]]\nname = \"a\"\n"),
                 {"'input.embeddings' must be a string, got integer"});
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\nscheme = [\"free\"]\n"),
                 {"'permutation.scheme' must be a string, got array"});
  expect_message(parse_error(std::string(kMinimal) + "[output]\ndir = 2024-01-01\n"),
                 {"'output.dir' must be a string, got local date"});
}

TEST(AppConfig, IntegersAreAcceptedAsFloats) {
  const Config c = parse(std::string(kMinimal) + "[pca]\nvariance = 1\n[probe]\nl2 = 2\ntol = 1\n");
  EXPECT_EQ(c.analysis.pca.variance, 1.0);
  EXPECT_EQ(c.analysis.probe.l2, 2.0);
  EXPECT_EQ(c.analysis.probe.solver.tol, 1.0);
  // l2 = 0 passes the type check (integer as float) and fails the range check.
  expect_message(parse_error(std::string(kMinimal) + "[probe]\nl2 = 0\n"), {"'probe.l2' must be > 0"});
}

TEST(AppConfig, IntegersOutOfRangeForTheField) {
  expect_message(parse_error(std::string(kMinimal) + "[pca]\nmin_components = 3000000000\n"),
                 {"'pca.min_components'", "2147483647", "3000000000"});
  expect_message(parse_error(std::string(kMinimal) + "[cv]\nfolds = -3000000000\n"), {"'cv.folds'", "-3000000000"});
  expect_message(parse_error(std::string(kMinimal) + "[[metadata]]\nname = \"b\"\nbins = 4294967296\n"),
                 {"'metadata.1.bins'"});
}

TEST(AppConfig, SeedsAcceptTheNonNegativeInt64Range) {
  expect_message(parse_error(std::string(kMinimal) + "[cv]\nseed = -1\n"), {"'cv.seed'", "got -1"});
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\nseed = -5\n"), {"'permutation.seed'", "-5"});
  const Config c = parse(std::string(kMinimal) + "[cv]\nseed = 0\n[permutation]\nseed = 9223372036854775807\n");
  EXPECT_EQ(c.analysis.cv.seed, 0u);
  EXPECT_EQ(c.analysis.permutation.seed, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
}

TEST(AppConfig, SectionMustBeATable) {
  expect_message(parse_error("pca = 1\n" + std::string(kMinimal)), {"'pca' must be a table, got integer"});
}

TEST(AppConfig, MetadataMustBeAnArrayOfTables) {
  const std::string head = "[input]\nembeddings = \"m.h5\"\n[primary]\ntask = \"plane\"\n";
  expect_message(parse_error(head + "[metadata]\nname = \"scanner\"\n"),
                 {"'metadata' must be an array of tables", "got table"});
  expect_message(parse_error("metadata = \"scanner\"\n" + head), {"'metadata' must be an array of tables", "string"});
  expect_message(parse_error("metadata = [{name = \"a\"}, 3]\n" + head),
                 {"'metadata' must be an array of tables", "'metadata.1'", "integer"});
}

// ---------------------------------------------------------------------------
// Required keys
// ---------------------------------------------------------------------------

TEST(AppConfig, MissingEmbeddings) {
  expect_message(parse_error("[primary]\ntask = \"plane\"\n[[metadata]]\nname = \"a\"\n"),
                 {"missing required key 'input.embeddings'"});
  expect_message(parse_error("[input]\nlabels = \"l.h5\"\n[primary]\ntask = \"plane\"\n[[metadata]]\nname = \"a\"\n"),
                 {"missing required key 'input.embeddings'"});
}

TEST(AppConfig, MissingTask) {
  expect_message(parse_error("[input]\nembeddings = \"m.h5\"\n[[metadata]]\nname = \"a\"\n"),
                 {"missing required key 'primary.task'"});
}

TEST(AppConfig, MissingMetadata) {
  const std::string head = "[input]\nembeddings = \"m.h5\"\n[primary]\ntask = \"plane\"\n";
  expect_message(parse_error(head), {"[[metadata]]", "required"});
  expect_message(parse_error("metadata = []\n" + head), {"[[metadata]]", "required"});
  expect_message(parse_error(head + "[[metadata]]\nbins = 3\n"), {"missing required key 'metadata.0.name'"});
}

TEST(AppConfig, EmptyStringsForNamesAndPaths) {
  expect_message(parse_error("[input]\nembeddings = \"\"\n[primary]\ntask = \"p\"\n[[metadata]]\nname = \"a\"\n"),
                 {"'input.embeddings' must not be empty"});
  expect_message(parse_error("[input]\nembeddings = \"m\"\n[primary]\ntask = \"\"\n[[metadata]]\nname = \"a\"\n"),
                 {"'primary.task' must not be empty"});
  expect_message(parse_error(std::string(kMinimal) + "[[metadata]]\nname = \"\"\n"),
                 {"'metadata.1.name' must not be empty"});
  expect_message(parse_error(std::string(kMinimal) + "[cv]\ngroups = \"\"\n"), {"'cv.groups' must not be empty"});
  expect_message(parse_error(std::string(kMinimal) + "[output]\ndir = \"\"\n"), {"'output.dir' must not be empty"});
  expect_message(parse_error(std::string(kMinimal) + "[permutation]\nscheme = \"within\"\nstrata = \"\"\n"),
                 {"'permutation.strata' must not be empty"});
}

TEST(AppConfig, DuplicateMetadataNames) {
  expect_message(parse_error(std::string(kMinimal) + "[[metadata]]\nname = \"scanner\"\n"),
                 {"metadata 'scanner'", "twice"});
}

TEST(AppConfig, MetadataEqualToPrimaryTask) {
  expect_message(parse_error(std::string(kMinimal) + "[[metadata]]\nname = \"plane\"\n"),
                 {"metadata 'plane' is the primary task"});
}

// ---------------------------------------------------------------------------
// Value ranges and combinations (validate)
// ---------------------------------------------------------------------------

struct RangeCase {
  const char* toml;      // appended to kMinimal
  const char* expected;  // a substring of the message
};

TEST(AppConfig, RangeAndCombinationErrors) {
  const RangeCase cases[] = {
      {"[pca]\nvariance = 0\n", "'pca.variance' must be in (0, 1], got 0"},
      {"[pca]\nvariance = 1.5\n", "'pca.variance' must be in (0, 1], got 1.5"},
      {"[pca]\nvariance = -0.5\n", "'pca.variance'"},
      {"[pca]\nvariance = nan\n", "'pca.variance'"},
      {"[pca]\nmin_components = 0\n", "'pca.min_components' must be >= 1, got 0"},
      {"[pca]\ncomponents = -1\n", "'pca.components' must be >= 0"},
      {"[probe]\nl2 = 0.0\n", "'probe.l2' must be > 0"},
      {"[probe]\nl2 = -1e-3\n", "strictly convex"},
      {"[probe]\nl2 = inf\n", "'probe.l2' must be > 0 and finite"},
      {"[probe]\ntol = 0\n", "'probe.tol' must be > 0"},
      {"[probe]\nmax_iter = 0\n", "'probe.max_iter' must be in [1, 100000], got 0"},
      {"[probe]\nmax_iter = 2147483647\n", "'probe.max_iter' must be in [1, 100000], got 2147483647"},
      {"[cv]\nfolds = 1\n", "'cv.folds' must be >= 2, got 1"},
      {"[[metadata]]\nname = \"spacing\"\nbins = 1\n", "metadata 'spacing': bins must be >= 2 and <= 65536, got 1"},
      {"[[metadata]]\nname = \"spacing\"\nbins = -2\n", "metadata 'spacing': bins must be >= 2 and <= 65536, got -2"},
      {"[[metadata]]\nname = \"spacing\"\nbins = 4\nbinning = \"log\"\n", "metadata 'spacing': binning must be"},
      {"[[metadata]]\nname = \"site\"\nbinning = \"quantile\"\n", "metadata 'site': binning given without bins"},
      {"[[metadata]]\nname = \"site\"\nbinning = \"equal\"\n", "metadata 'site': binning given without bins"},
      {"[[metadata]]\nname = \"site\"\nbins = 0\nbinning = \"equal\"\n", "binning given without bins"},
      {"[[metadata]]\nname = \"site\"\nclasses = 1\n", "metadata 'site': classes must be 0"},
      {"[[metadata]]\nname = \"site\"\nbins = 4\nclasses = 3\n", "metadata 'site': classes (3) contradicts bins (4)"},
      {"[permutation]\ncount = -1\n", "'permutation.count' must be >= 0 and <= 2^40, got -1"},
      // Counts near 2^63 are refused before any arithmetic on them (a documented hard limit).
      {"[permutation]\ncount = 9223372036854775807\n",
       "'permutation.count' must be >= 0 and <= 2^40, got 9223372036854775807"},
      {"[permutation]\ncount = 1099511627777\n", "'permutation.count' must be >= 0 and <= 2^40, got 1099511627777"},
      {"[encodability]\npermutations = 9223372036854775807\n",
       "'encodability.permutations' must be >= 0 (0: no test) and <= 2^40, got 9223372036854775807"},
      {"[bootstrap]\ncount = 9223372036854775807\n",
       "'bootstrap.count' must be >= 0 (0: none) and <= 2^40, got 9223372036854775807"},
      {"[permutation]\nlook = 9223372036854775807\n", "'permutation.look' must be >= 0 (0: automatic) and <= 2^40"},
      {"[[metadata]]\nname = \"spacing\"\nbins = 2147483647\n",
       "metadata 'spacing': bins must be >= 2 and <= 65536, got 2147483647"},
      {"[[metadata]]\nname = \"site\"\nclasses = 2147483647\n",
       "metadata 'site': classes must be 0 (from the labels) or in [2, 65536], got 2147483647"},
      {"[permutation]\nscheme = \"shuffle\"\n", "'permutation.scheme' must be"},
      {"[permutation]\nscheme = \"within\"\n", "requires 'permutation.strata'"},
      {"[permutation]\nscheme = \"blocks\"\n", "requires 'permutation.blocks'"},
      {"[permutation]\nscheme = \"tree\"\n", "requires 'permutation.tree'"},
      {"[permutation]\nscheme = \"blocks\"\nblocks = \"b\"\ntree = \"t\"\n",
       "'permutation.tree' is only used with scheme \"tree\""},
      {"[permutation]\nscheme = \"tree\"\ntree = \"t\"\nblocks = \"b\"\n",
       "'permutation.blocks' is only used with scheme \"blocks\""},
      {"[permutation]\nstrata = \"site\"\n", "'permutation.strata' is only used with scheme \"within\""},
      {"[permutation]\nscheme = \"within\"\nstrata = \"a\"\nblocks = \"b\"\n",
       "'permutation.blocks' is only used with scheme \"blocks\""},
      {"[permutation]\nscheme = \"blocks\"\nblocks = \"b\"\nstrata = \"a\"\n",
       "'permutation.strata' is only used with scheme \"within\""},
      {"[encodability]\npermutations = -1\n", "'encodability.permutations' must be >= 0"},
      {"[encodability]\nalpha = 0\n", "'encodability.alpha' must be in (0, 1), got 0"},
      {"[encodability]\nalpha = 1\n", "'encodability.alpha' must be in (0, 1), got 1"},
      {"[bootstrap]\ncount = -5\n", "'bootstrap.count' must be >= 0"},
      {"[bootstrap]\nlevel = 1.0\n", "'bootstrap.level' must be in (0, 1)"},
      {"[bootstrap]\nlevel = nan\n", "'bootstrap.level' must be in (0, 1)"},
      {"[parallel]\ngroups = -1\n", "'parallel.groups' must be >= 0"},
      {"[parallel]\nbatch = 0\n", "'parallel.batch' must be in [1, 4096], got 0"},
      {"[checkpoint]\ninterval = -1\n", "'checkpoint.interval' must be >= 0 seconds"},
      {"[checkpoint]\ninterval = inf\n", "'checkpoint.interval' must be >= 0 seconds"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    expect_message(parse_error(std::string(kMinimal) + c.toml), {c.expected});
  }
  expect_message(parse_error("[input]\nembeddings = \"m\"\n[primary]\ntask = \"p\"\nsource = \"head\"\n"
                             "[[metadata]]\nname = \"a\"\n"),
                 {"'primary.source' must be \"file\" or \"probe\", got 'head'"});
}

TEST(AppConfig, ValidateOnCodeBuiltConfigs) {
  Config c;
  const std::string message = error_of([&] { wsc::app::validate(c); });
  expect_message(message, {"'input.embeddings'"}, "config");  // no origin: "config: ..."

  c.input.embeddings = "m.h5";
  c.primary.task = "plane";
  expect_message(error_of([&] { wsc::app::validate(c); }), {"[[metadata]]"}, "config");

  c.metadata.push_back(MetadataSpec{"scanner", 0, Bin::EqualWidth, 0});
  EXPECT_NO_THROW(wsc::app::validate(c));

  c.config_path = "x.toml";
  c.metadata[0].binning = Bin::Quantile;  // without bins
  expect_message(error_of([&] { wsc::app::validate(c); }), {"metadata 'scanner': binning given without bins"},
                 "x.toml");
  c.metadata[0].binning = Bin::EqualWidth;

  c.analysis.pca.components = -2;
  expect_message(error_of([&] { wsc::app::validate(c); }), {"'pca.components'"}, "x.toml");
  c.analysis.pca.components = -1;

  c.metadata.push_back(MetadataSpec{"", 0, Bin::EqualWidth, 0});
  expect_message(error_of([&] { wsc::app::validate(c); }), {"'metadata.1.name' must not be empty"}, "x.toml");
  c.metadata.pop_back();

  c.analysis.cv.seed = std::numeric_limits<std::uint64_t>::max();  // cannot be written as a TOML integer
  expect_message(error_of([&] { wsc::app::validate(c); }), {"'cv.seed'"}, "x.toml");
  c.analysis.cv.seed = 0;

  c.output.dir.clear();
  expect_message(error_of([&] { wsc::app::validate(c); }), {"'output.dir' must not be empty"}, "x.toml");
}

// ---------------------------------------------------------------------------
// Syntax errors
// ---------------------------------------------------------------------------

TEST(AppConfig, SyntaxErrorIsOneLineWithFileAndLine) {
  const std::string message = parse_error("[input]\nembeddings = \"m.h5\"\n[pca\nvariance = 0.5\n");
  expect_message(message, {"config.toml:3:", "syntax error"});

  const std::string missing_value = parse_error("[input]\nembeddings = \n");
  expect_message(missing_value, {"config.toml:2:", "syntax error"});

  const std::string duplicate = parse_error("[input]\nembeddings = \"a\"\nembeddings = \"b\"\n");
  expect_message(duplicate, {"config.toml:3:", "already exists"});

  const std::string table_twice = parse_error(std::string(kMinimal) + "[primary]\nsource = \"probe\"\n");
  expect_message(table_twice, {"config.toml:8:", "syntax error"});
}

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

TEST(AppConfig, OverridesReplaceValues) {
  const Config c = parse(kExample, {"permutation.count=100", "pca.components=0", "output.dir=/tmp/x",
                                    "metadata.1.bins=6", "probe.l2=1e-2", "pca.variance=1"});
  EXPECT_EQ(c.analysis.permutation.count, 100);
  EXPECT_EQ(c.analysis.pca.components, 0);
  EXPECT_EQ(c.output.dir, "/tmp/x");  // not a TOML value: taken as a string
  EXPECT_EQ(c.metadata[1].bins, 6);
  EXPECT_EQ(c.analysis.probe.l2, 1e-2);
  EXPECT_EQ(c.analysis.pca.variance, 1.0);  // integer accepted as float
}

TEST(AppConfig, OverridesCreateMissingKeysAndTables) {
  const Config c = parse(kMinimal, {"input.labels=meta.h5", "cv.groups=patient", "permutation.scheme=within",
                                    "permutation.strata=site", "metadata.0.classes=4"});
  EXPECT_EQ(c.input.labels, "meta.h5");
  EXPECT_EQ(c.cv.groups, "patient");
  EXPECT_EQ(c.analysis.permutation.scheme, Scheme::Within);
  EXPECT_EQ(c.permutation.strata, "site");
  EXPECT_EQ(c.metadata[0].classes, 4);
}

TEST(AppConfig, OverrideValueForms) {
  // Quoted TOML string, whitespace around '=' and the key, later overrides win.
  const Config c = parse(kMinimal, {"output.dir=\"my dir\"", " cv.folds = 7 ", "cv.folds=8",
                                    "primary.task=true", "input.labels=2024-01-01"});
  EXPECT_EQ(c.output.dir, "my dir");
  EXPECT_EQ(c.analysis.cv.folds, 8);
  // A string key given text that parses as another TOML type keeps the text.
  EXPECT_EQ(c.primary.task, "true");
  EXPECT_EQ(c.input.labels, "2024-01-01");
  // A value that is not a single TOML value is a string.
  const Config d = parse(kMinimal, {"output.dir=1\nx = 2"});
  EXPECT_EQ(d.output.dir, "1\nx = 2");
  // Replacing a whole entry with an inline table.
  const Config e = parse(kMinimal, {"metadata.0={name = \"site\", bins = 3}"});
  EXPECT_EQ(e.metadata[0].name, "site");
  EXPECT_EQ(e.metadata[0].bins, 3);
}

TEST(AppConfig, OverrideTypeErrorsNameTheKey) {
  expect_message(parse_error(kMinimal, {"permutation.count=lots"}),
                 {"'permutation.count' must be an integer, got string"});
  expect_message(parse_error(kMinimal, {"cv.folds=2.5"}), {"'cv.folds' must be an integer, got float"});
  expect_message(parse_error(kMinimal, {"cv.folds=1"}), {"'cv.folds' must be >= 2, got 1"});
  expect_message(parse_error(kMinimal, {"metadata.0.name=plane"}), {"metadata 'plane' is the primary task"});
}

TEST(AppConfig, OverrideOfUnknownKeyIsCaughtByValidation) {
  expect_message(parse_error(kMinimal, {"pca.varianse=0.5"}), {"unknown key 'pca.varianse'", "known: variance"});
  expect_message(parse_error(kMinimal, {"plotting.color=red"}), {"unknown table 'plotting'"});
}

TEST(AppConfig, MalformedOverrides) {
  expect_message(parse_error(kMinimal, {"permutation.count"}), {"--set permutation.count", "key=value"});
  expect_message(parse_error(kMinimal, {"=5"}), {"--set =5", "empty key"});
  expect_message(parse_error(kMinimal, {"pca..variance=0.5"}), {"--set pca..variance=0.5", "empty component"});
  expect_message(parse_error(kExample, {"metadata.5.bins=2"}),
                 {"--set metadata.5.bins=2: there are only 2 [[metadata]] entries"});
  expect_message(parse_error(kMinimal, {"metadata.1.bins=2"}),
                 {"--set metadata.1.bins=2: there is only 1 [[metadata]] entry"});
  expect_message(parse_error(kMinimal, {"metadata.99999999999999999999999.bins=2"}), {"only 1 [[metadata]] entry"});
  expect_message(parse_error(kMinimal, {"metadata.first.bins=2"}), {"--set metadata.first.bins=2", "not an index"});
  expect_message(parse_error(kMinimal, {"input.embeddings.x=2"}),
                 {"--set input.embeddings.x=2", "'input.embeddings' is a string, not a table"});
  const std::string no_metadata = "[input]\nembeddings = \"m\"\n[primary]\ntask = \"p\"\n";
  expect_message(parse_error(no_metadata, {"metadata.0.name=a"}), {"--set metadata.0.name=a", "no [[metadata]]"});
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

TEST(AppConfig, RelativePathsResolveAgainstBaseDir) {
  const Config c = parse(kMinimal, {"input.labels=../meta/labels.h5"}, "/data/exp");
  EXPECT_EQ(c.input.embeddings, "/data/exp/model.h5");
  EXPECT_EQ(c.input.labels, "/data/meta/labels.h5");
  EXPECT_EQ(c.output.dir, "/data/exp/results");

  const Config abs = parse(kMinimal, {"input.embeddings=/abs/m.h5", "output.dir=/abs/out"}, "/data/exp");
  EXPECT_EQ(abs.input.embeddings, "/abs/m.h5");
  EXPECT_EQ(abs.output.dir, "/abs/out");
  EXPECT_EQ(abs.input.labels, "");  // absent stays empty

  const Config none = parse(kMinimal, {}, "");
  EXPECT_EQ(none.input.embeddings, "model.h5");
}

TEST(AppConfig, LoadConfigResolvesAgainstTheFilesFolder) {
  TempDir dir;
  const fs::path file = dir.write("config.toml", std::string(kMinimal) + "[input.nested]\n");
  // The unknown table is reported with the file's path as origin.
  expect_message(error_of([&] { wsc::app::load_config(file.string(), {}); }), {"unknown table 'input.nested'"},
                 file.string());

  const fs::path good = dir.write("good.toml", kExample);
  const Config c = wsc::app::load_config(good.string(), {"permutation.count=10"});
  EXPECT_EQ(c.config_path, good.string());
  EXPECT_EQ(fs::path(c.input.embeddings), dir.path() / "model.h5");
  EXPECT_EQ(fs::path(c.output.dir), dir.path() / "results");
  EXPECT_EQ(c.analysis.permutation.count, 10);
}

TEST(AppConfig, LoadConfigMissingFile) {
  const std::string message = error_of([] { wsc::app::load_config("does_not_exist.toml", {}); });
  EXPECT_EQ(message, "cannot read config 'does_not_exist.toml': no such file");
}

// ---------------------------------------------------------------------------
// Output forms
// ---------------------------------------------------------------------------

TEST(AppConfig, ToTomlRoundTripsAFullConfig) {
  const Config original = full_config();
  ASSERT_NO_THROW(wsc::app::validate(original));
  const std::string text = wsc::app::to_toml(original);
  Config back;
  ASSERT_NO_THROW(back = parse(text)) << text;
  expect_same(back, original);
  EXPECT_EQ(wsc::app::to_toml(back), text);
}

TEST(AppConfig, ToTomlRoundTripsTheExampleAndBlocks) {
  for (const std::vector<std::string>& overrides :
       {std::vector<std::string>{}, std::vector<std::string>{"permutation.scheme=blocks", "permutation.blocks=pt",
                                                              "pca.components=0", "probe.tol=1e-12"}}) {
    const Config original = parse(kExample, overrides);
    const std::string text = wsc::app::to_toml(original);
    Config back;
    ASSERT_NO_THROW(back = parse(text)) << text;
    expect_same(back, original);
  }
}

TEST(AppConfig, ToJsonHasAllFieldsWithResolvedPaths) {
  const Config c = parse(kExample, {"input.labels=meta.h5", "cv.seed=3"}, "/data/exp");
  const nlohmann::json j = wsc::app::to_json(c);
  EXPECT_EQ(j.at("config_path"), "config.toml");
  EXPECT_EQ(j.at("input").at("embeddings"), "/data/exp/model.h5");
  EXPECT_EQ(j.at("input").at("labels"), "/data/exp/meta.h5");
  EXPECT_EQ(j.at("primary").at("task"), "plane");
  EXPECT_EQ(j.at("primary").at("source"), "file");
  ASSERT_EQ(j.at("metadata").size(), 2u);
  EXPECT_EQ(j.at("metadata")[1].at("name"), "spacing");
  EXPECT_EQ(j.at("metadata")[1].at("bins"), 4);
  EXPECT_EQ(j.at("metadata")[1].at("binning"), "equal");
  EXPECT_EQ(j.at("metadata")[1].at("classes"), 0);
  EXPECT_EQ(j.at("pca").at("variance"), 0.99);
  EXPECT_EQ(j.at("pca").at("min_components"), 50);
  EXPECT_EQ(j.at("pca").at("components"), -1);
  EXPECT_EQ(j.at("probe").at("l2"), 1e-4);
  EXPECT_EQ(j.at("probe").at("tol"), 1e-8);
  EXPECT_EQ(j.at("probe").at("max_iter"), 1000);
  EXPECT_EQ(j.at("cv").at("folds"), 5);
  EXPECT_EQ(j.at("cv").at("groups"), "");
  EXPECT_EQ(j.at("cv").at("seed"), 3u);
  EXPECT_EQ(j.at("permutation").at("count"), 1000);
  EXPECT_EQ(j.at("permutation").at("seed"), 1u);
  EXPECT_EQ(j.at("permutation").at("scheme"), "free");
  EXPECT_EQ(j.at("permutation").at("strata"), "");
  EXPECT_EQ(j.at("permutation").at("blocks"), "");
  EXPECT_EQ(j.at("permutation").at("tree"), "");
  EXPECT_EQ(j.at("output").at("dir"), "/data/exp/results");
}

// ---------------------------------------------------------------------------
// The key table
// ---------------------------------------------------------------------------

/// The JSON echo of key `dotted` ("pca.variance"; "metadata.bins": the first entry's).
nlohmann::json echoed(const Config& c, const std::string& dotted) {
  const nlohmann::json j = wsc::app::to_json(c);
  const auto dot = dotted.find('.');
  const std::string section = dotted.substr(0, dot);
  const std::string key = dotted.substr(dot + 1);
  if (section == "metadata") return j.at("metadata").at(0).at(key);
  return j.at(section).at(key);
}

TEST(AppConfig, EveryKeyOfTheTableRoundTripsThroughToToml) {
  // Per key, overrides that move it off its default (with what it needs).
  const std::map<std::string, std::vector<std::string>> off_default = {
      {"input.embeddings", {"input.embeddings=other.h5"}},
      {"input.labels", {"input.labels=meta.h5"}},
      {"primary.task", {"primary.task=organ"}},
      {"primary.source", {"primary.source=probe"}},
      {"metadata.name", {"metadata.0.name=site"}},
      {"metadata.bins", {"metadata.0.bins=3"}},
      {"metadata.binning", {"metadata.0.bins=3", "metadata.0.binning=quantile"}},
      {"metadata.classes", {"metadata.0.classes=3"}},
      {"pca.variance", {"pca.variance=0.5"}},
      {"pca.min_components", {"pca.min_components=7"}},
      {"pca.components", {"pca.components=0"}},
      {"pca.sensitivity", {"pca.sensitivity=[5, 10, 0]"}},
      {"probe.l2", {"probe.l2=0.01"}},
      {"probe.tol", {"probe.tol=1e-6"}},
      {"probe.max_iter", {"probe.max_iter=10"}},
      {"cv.folds", {"cv.folds=3"}},
      {"cv.groups", {"cv.groups=patient"}},
      {"cv.seed", {"cv.seed=9"}},
      {"permutation.count", {"permutation.count=10"}},
      {"permutation.seed", {"permutation.seed=2"}},
      {"permutation.stop", {"permutation.stop=decisions"}},
      {"permutation.risk", {"permutation.risk=0.01"}},
      {"permutation.decisions", {"permutation.decisions=[\"p_fwer\", \"q_fdr\"]"}},
      {"permutation.look", {"permutation.look=256"}},
      {"permutation.scheme", {"permutation.scheme=blocks", "permutation.blocks=patient"}},
      {"permutation.strata", {"permutation.scheme=within", "permutation.strata=site"}},
      {"permutation.blocks", {"permutation.scheme=blocks", "permutation.blocks=patient"}},
      {"permutation.tree", {"permutation.scheme=tree", "permutation.tree=families"}},
      {"encodability.permutations", {"encodability.permutations=0"}},
      {"encodability.alpha", {"encodability.alpha=0.1"}},
      {"bootstrap.count", {"bootstrap.count=10"}},
      {"bootstrap.seed", {"bootstrap.count=10", "bootstrap.seed=3"}},
      {"bootstrap.level", {"bootstrap.count=10", "bootstrap.level=0.9"}},
      {"parallel.groups", {"parallel.groups=2"}},
      {"parallel.batch", {"parallel.batch=16"}},
      {"checkpoint.interval", {"checkpoint.interval=60"}},
      {"checkpoint.path", {"checkpoint.path=/tmp/run.wsc"}},
      {"output.dir", {"output.dir=out"}},
  };
  const std::vector<std::string> keys = wsc::app::config_keys();
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size()) << "a key is declared twice";
  std::set<std::string> covered;
  for (const auto& entry : off_default) covered.insert(entry.first);
  EXPECT_EQ(covered, std::set<std::string>(keys.begin(), keys.end())) << "every key needs a round-trip case";

  const Config base = parse(kMinimal);
  for (const std::string& key : keys) {
    SCOPED_TRACE(key);
    const auto it = off_default.find(key);
    if (it == off_default.end()) continue;
    const Config changed = parse(kMinimal, it->second);
    EXPECT_NE(echoed(changed, key), echoed(base, key)) << "the case leaves the key at its default";
    const std::string text = wsc::app::to_toml(changed);
    Config back;
    ASSERT_NO_THROW(back = parse(text)) << text;
    EXPECT_EQ(wsc::app::to_json(back), wsc::app::to_json(changed)) << text;
    EXPECT_EQ(wsc::app::to_toml(back), text);
  }
}

TEST(AppConfig, EveryKeyOfTheTableIsEchoedToJson) {
  const nlohmann::json j = wsc::app::to_json(parse(kMinimal));
  std::size_t echoed_keys = 0;
  for (const auto& section : j.items()) {
    if (section.key() == "config_path") continue;
    const nlohmann::json& keys = section.key() == "metadata" ? section.value().at(0) : section.value();
    echoed_keys += keys.size();
  }
  EXPECT_EQ(echoed_keys, wsc::app::config_keys().size());
  for (const std::string& key : wsc::app::config_keys()) {
    SCOPED_TRACE(key);
    EXPECT_NO_THROW((void)echoed(parse(kMinimal), key));
  }
}

TEST(AppConfig, UnknownKeyListsComeFromTheTable) {
  // Sections and their keys, in the table's order.
  std::vector<std::string> sections;
  std::map<std::string, std::vector<std::string>> known;
  for (const std::string& dotted : wsc::app::config_keys()) {
    const auto dot = dotted.find('.');
    const std::string section = dotted.substr(0, dot);
    if (sections.empty() || sections.back() != section) sections.push_back(section);
    known[section].push_back(dotted.substr(dot + 1));
  }
  const auto listed = [](const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  EXPECT_EQ(parse_error(std::string(kMinimal) + "[plotting]\n"),
            "config.toml: unknown table 'plotting' (known: " + listed(sections) + ")");
  for (const std::string& section : sections) {
    SCOPED_TRACE(section);
    const std::string where = section == "metadata" ? "metadata.0" : section;
    EXPECT_EQ(parse_error(kMinimal, {where + ".bogus=1"}),
              "config.toml: unknown key '" + where + ".bogus' (known: " + listed(known[section]) + ")");
  }
}

TEST(AppConfig, ChoiceSpellings) {
  using wsc::app::bin_method_from;
  using wsc::app::primary_source_from;
  EXPECT_STREQ(wsc::app::to_string(Source::File), "file");
  EXPECT_STREQ(wsc::app::to_string(Source::Probe), "probe");
  EXPECT_EQ(primary_source_from("file"), Source::File);
  EXPECT_EQ(primary_source_from("probe"), Source::Probe);
  EXPECT_EQ(primary_source_from("File"), std::nullopt);
  EXPECT_STREQ(wsc::app::to_string(Bin::EqualWidth), "equal");
  EXPECT_STREQ(wsc::app::to_string(Bin::Quantile), "quantile");
  EXPECT_EQ(bin_method_from("equal"), Bin::EqualWidth);
  EXPECT_EQ(bin_method_from("quantile"), Bin::Quantile);
  EXPECT_EQ(bin_method_from("equal-width"), std::nullopt);
  EXPECT_STREQ(wsc::engine::to_string(Scheme::Free), "free");
  EXPECT_STREQ(wsc::engine::to_string(Scheme::Within), "within");
  EXPECT_STREQ(wsc::engine::to_string(Scheme::Blocks), "blocks");
  EXPECT_EQ(wsc::engine::permutation_scheme_from("blocks"), Scheme::Blocks);
  EXPECT_STREQ(wsc::engine::to_string(Scheme::Tree), "tree");
  EXPECT_EQ(wsc::engine::permutation_scheme_from("tree"), Scheme::Tree);
  EXPECT_EQ(wsc::engine::permutation_scheme_from(""), std::nullopt);

  // Each spelling reads into its value and is echoed as written.
  const Config probe = parse(kMinimal, {"primary.source=probe", "metadata.0.bins=3", "metadata.0.binning=quantile",
                                        "permutation.scheme=within", "permutation.strata=site"});
  EXPECT_EQ(probe.primary.source, Source::Probe);
  EXPECT_EQ(probe.metadata[0].binning, Bin::Quantile);
  EXPECT_EQ(probe.analysis.permutation.scheme, Scheme::Within);
  EXPECT_EQ(echoed(probe, "primary.source"), "probe");
  EXPECT_EQ(echoed(probe, "metadata.binning"), "quantile");
  EXPECT_EQ(echoed(probe, "permutation.scheme"), "within");
  const std::string text = wsc::app::to_toml(probe);
  for (const char* line : {"source = \"probe\"\n", "binning = \"quantile\"\n", "scheme = \"within\"\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }

  // Other spellings are refused with the list of choices.
  EXPECT_EQ(parse_error(kMinimal, {"permutation.scheme=Free"}),
            "config.toml: 'permutation.scheme' must be \"free\", \"within\", \"blocks\" or \"tree\", got 'Free'");
  EXPECT_EQ(parse_error(kMinimal, {"primary.source="}),
            "config.toml: 'primary.source' must be \"file\" or \"probe\", got ''");
  EXPECT_EQ(parse_error(kMinimal, {"metadata.0.bins=3", "metadata.0.binning=log"}),
            "config.toml: metadata 'scanner': binning must be \"equal\" or \"quantile\", got 'log'");
}

TEST(AppConfig, TheEngineSettingsAreTheConfigs) {
  // The config holds the engine's settings as they are: defaults included.
  const Config c = parse(kMinimal, {"parallel.batch=16", "probe.max_iter=50"});
  const wsc::engine::AnalysisSettings defaults;
  EXPECT_EQ(c.analysis.batch, 16);
  EXPECT_EQ(c.analysis.probe.solver.max_iter, 50);
  EXPECT_EQ(c.analysis.probe.solver.float_hessian, defaults.probe.solver.float_hessian);
  EXPECT_EQ(c.analysis.keep_null_limit, defaults.keep_null_limit);
}

}  // namespace

// ---------------------------------------------------------------------------
// Hostile nesting: refused before the recursive parser sees it
// ---------------------------------------------------------------------------

namespace {

std::string nested(int depth, const std::string& open, const std::string& close, const std::string& inner) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += open;
  text += inner;
  for (int i = 0; i < depth; ++i) text += close;
  return text;
}

TEST(AppConfig, NestingDepthIsScannedOutsideStringsAndComments) {
  using wsc::app::toml_nesting_overflow_line;
  EXPECT_EQ(toml_nesting_overflow_line(kExample), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = " + nested(8, "[", "]", "1") + "\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = " + nested(9, "[", "]", "1") + "\n"), 1);
  EXPECT_EQ(toml_nesting_overflow_line("a = 1\n\nx = " + nested(5, "[", "]", nested(5, "{y = ", "}", "1")) + "\n"),
            3);
  // Brackets in strings (every form) and comments do not count.
  const std::string brackets = nested(20, "[", "]", "");
  EXPECT_EQ(toml_nesting_overflow_line("a = \"" + brackets + "\"\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("a = '" + brackets + "'\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("a = \"\"\"\n" + brackets + "\n\"\"\"\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("a = '''" + brackets + "'''\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("a = \"\\\"" + brackets + "\"\n"), 0);  // an escaped quote
  EXPECT_EQ(toml_nesting_overflow_line("# " + brackets + "\n"), 0);
  // Dotted keys: each dot is one more table; dots in values and quoted keys do not count.
  EXPECT_EQ(toml_nesting_overflow_line("a.b.c.d.e.f.g.h.i = 1\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = 1\na.b.c.d.e.f.g.h.i.j = 1\n"), 2);
  EXPECT_EQ(toml_nesting_overflow_line("[a.b.c.d.e.f.g.h.i.j]\n"), 1);
  EXPECT_EQ(toml_nesting_overflow_line("[[a.b.c.d.e.f.g.h.i]]\n"), 1);
  EXPECT_EQ(toml_nesting_overflow_line("[[a.b.c.d.e.f.g]]\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = {a.b.c.d = 1, e.f.g.h.i.j.k.l.m = 2}\n"), 1);
  EXPECT_EQ(toml_nesting_overflow_line("x = {a.b.c.d = 1, e.f.g.h = 2}\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 1.0]\n"
                                       "t = 1979-05-27T07:32:00.999\n"),
            0);
  EXPECT_EQ(toml_nesting_overflow_line("\"a.b.c.d.e.f.g.h.i.j\".k = 1\n"), 0);
  EXPECT_EQ(toml_nesting_overflow_line("x = [\n  1.5,\n  2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 1.5\n]\n"), 0);
  // Lines inside multi-line strings are counted.
  EXPECT_EQ(toml_nesting_overflow_line("a = \"\"\"\n\n\"\"\"\nx = " + nested(9, "[", "]", "") + "\n"), 4);
}

TEST(AppConfig, JsonReadBackNestsAtMost32Levels) {
  using wsc::app::parse_json;
  EXPECT_EQ(parse_json(nested(32, "[", "]", "1"), "s.json").dump(), nested(32, "[", "]", "1"));
  EXPECT_EQ(parse_json("{\"a\": " + nested(31, "{\"b\":", "}", "1") + "}", "s.json").size(), 1u);
  // Brackets in strings do not count.
  EXPECT_EQ(parse_json("[\"" + nested(40, "[", "]", "") + "\"]", "s.json").size(), 1u);
  for (const std::string& deep : {nested(33, "[", "]", "1"), nested(100000, "[", "]", ""),
                                  "{\"config\": " + nested(100000, "{\"a\": ", "}", "1") + "}"}) {
    std::string message;
    try {
      (void)parse_json(deep, "s.json");
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
    EXPECT_EQ(message, "s.json: JSON nested deeper than 32 levels");
  }
}

TEST(AppConfig, DeepNestingIsRefusedWithoutCrashing) {
  // 1000 levels overflowed the parser's stack before they were refused.
  const std::string arrays = "x = " + nested(1000, "[", "]", "1") + "\n";
  expect_message(parse_error(std::string(kMinimal) + arrays),
                 {"config.toml:8:", "nested deeper than 8 levels"});
  const std::string tables = "x = " + nested(1000, "{a = ", "}", "1") + "\n";
  expect_message(parse_error(std::string(kMinimal) + tables), {"config.toml:8:", "nested deeper than 8 levels"});
  // Dotted keys 100000 deep (the parser took minutes over them).
  std::string dotted = "a";
  for (int i = 0; i < 100000; ++i) dotted += ".a";
  expect_message(parse_error(std::string(kMinimal) + "[x]\n" + dotted + " = 1\n"),
                 {"config.toml:9:", "nested deeper than 8 levels"});
  expect_message(parse_error(std::string(kMinimal) + "[" + dotted + "]\n"), {"config.toml:8:", "nested deeper"});
  // An unterminated deep array is refused the same way.
  expect_message(parse_error(std::string(kMinimal) + "x = " + std::string(100000, '[') + "\n"),
                 {"config.toml:8:", "nested deeper than 8 levels"});
  // The same in an override value (not taken as a string).
  expect_message(parse_error(kMinimal, {"pca.sensitivity=" + nested(1000, "[", "]", "1")}),
                 {"--set pca.sensitivity=[[[", "nested deeper than 8 levels"});
  expect_message(parse_error(kMinimal, {"metadata.0=" + nested(1000, "{name = ", "}", "\"a\"")}),
                 {"--set metadata.0={name = ", "nested deeper than 8 levels"});
  // Real nesting still parses.
  const Config c = parse(kMinimal, {"metadata.0={name = \"site\", bins = 3}"});
  EXPECT_EQ(c.metadata[0].bins, 3);
  // A config file read from disk, and a sweep manifest.
  const TempDir dir;
  const fs::path file = dir.write("deep.toml", std::string(kMinimal) + arrays);
  expect_message(error_of([&] { wsc::app::load_config(file.string(), {}); }),
                 {":8:", "nested deeper than 8 levels"}, file.string());
  const fs::path manifest =
      dir.write("sweep.toml", "config = \"c.toml\"\nmodels = " + nested(1000, "[", "]", "") + "\n");
  expect_message(error_of([&] { wsc::app::load_manifest(manifest.string()); }),
                 {manifest.string() + ":2: tables and arrays nested deeper than 8 levels"}, manifest.string());
}

}  // namespace

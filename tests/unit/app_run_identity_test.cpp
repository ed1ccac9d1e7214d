// The run fingerprint (what it sees, what it ignores, independence of the row
// partition), and chunks of a split run: I/N parsing, ranges that tile
// [0, total) at batch boundaries, merging chunk states into the whole run's.
#include "wsc/app/run_identity.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using wsc::app::ChunkSpec;
using wsc::engine::IndexRange;
using wsc::engine::RunState;

using wsc::app::fingerprint_of;
using wsc::app::rows_hash;
using wsc::core::RowMatrix;

RowMatrix Embeddings(wsc::core::Index rows, wsc::core::Index dim) {
  RowMatrix x(rows, dim);
  for (wsc::core::Index i = 0; i < rows; ++i) {
    for (wsc::core::Index j = 0; j < dim; ++j) x(i, j) = std::sin(static_cast<double>(1 + i * dim + j));
  }
  return x;
}

/// rows_hash of x cut at `cuts` (ascending, inside (0, rows)), XOR-combined.
std::uint64_t PartitionedRowsHash(const RowMatrix& x, const std::vector<wsc::core::Index>& cuts) {
  std::uint64_t combined = 0;
  wsc::core::Index begin = 0;
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const wsc::core::Index end = k < cuts.size() ? cuts[k] : x.rows();
    const RowMatrix part = x.middleRows(begin, end - begin);
    combined ^= rows_hash(part, begin);
    begin = end;
  }
  return combined;
}

TEST(Fingerprint, RowsHashDoesNotDependOnThePartition) {
  const RowMatrix x = Embeddings(37, 5);
  const std::uint64_t whole = rows_hash(x, 0);
  EXPECT_NE(whole, 0u);
  for (const auto& cuts : std::vector<std::vector<wsc::core::Index>>{
           {}, {1}, {18}, {36}, {1, 20}, {12, 24}, {9, 18, 27}, {1, 2, 3, 4, 5, 30}}) {
    EXPECT_EQ(PartitionedRowsHash(x, cuts), whole) << cuts.size() << " cuts";
  }
  // An empty block (a rank without rows) contributes nothing.
  EXPECT_EQ(rows_hash(RowMatrix(0, 5), 37), 0u);
}

TEST(Fingerprint, RowsHashSeesEveryBitAndEveryRowIndex) {
  const RowMatrix x = Embeddings(12, 4);
  const std::uint64_t base = rows_hash(x, 0);
  RowMatrix one_ulp = x;
  one_ulp(7, 2) = std::nextafter(one_ulp(7, 2), 2.0);
  EXPECT_NE(rows_hash(one_ulp, 0), base);
  RowMatrix swapped = x;
  swapped.row(3).swap(swapped.row(8));
  EXPECT_NE(rows_hash(swapped, 0), base);  // rows are hashed with their index
  EXPECT_NE(rows_hash(x, 1), base);        // the same rows at other indices
  RowMatrix signed_zero = x;
  signed_zero(0, 0) = 0.0;
  RowMatrix minus_zero = x;
  minus_zero(0, 0) = -0.0;
  EXPECT_NE(rows_hash(signed_zero, 0), rows_hash(minus_zero, 0));  // bytes, not values
  // Equal rows do not cancel out in the XOR.
  RowMatrix equal_rows(2, 3);
  equal_rows.setConstant(0.5);
  EXPECT_NE(rows_hash(equal_rows, 0), 0u);
}

wsc::engine::AnalysisInput SmallInput() {
  wsc::engine::AnalysisInput input;
  input.rows = 6;
  input.dim = 4;
  input.primary_task = "diagnosis";
  wsc::engine::TaskLabels sex;
  sex.name = "sex";
  sex.classes = 2;
  sex.class_names = {"f", "m"};
  sex.labels = {0, 1, 1, 0, -1, 1};
  input.metadata.push_back(sex);
  return input;
}

TEST(Fingerprint, ResultDecidingConfigAndInputsOnly) {
  const wsc::app::Config config;
  const wsc::engine::AnalysisInput input = SmallInput();
  const std::uint64_t base = fingerprint_of(config, input, 1234);
  EXPECT_EQ(fingerprint_of(config, input, 1234), base);

  // Where things go and how ranks are arranged: the same run.
  wsc::app::Config moved = config;
  moved.output.dir = "elsewhere";
  moved.checkpoint.path = "elsewhere/state.wsc";
  moved.checkpoint.interval = 5.0;
  moved.parallel.groups = 3;
  moved.input.embeddings = "/copy/of/model.h5";
  moved.config_path = "/other/analysis.toml";
  EXPECT_EQ(fingerprint_of(moved, input, 1234), base);

  // What decides the result: another run.
  wsc::app::Config seed = config;
  seed.analysis.permutation.seed = 2;
  EXPECT_NE(fingerprint_of(seed, input, 1234), base);
  wsc::app::Config batch = config;
  batch.analysis.batch = 32;  // a permuted head's arithmetic depends on its batch
  EXPECT_NE(fingerprint_of(batch, input, 1234), base);
  EXPECT_NE(fingerprint_of(config, input, 1235), base);  // the rows
  wsc::engine::AnalysisInput label = input;
  label.metadata[0].labels[4] = 0;
  EXPECT_NE(fingerprint_of(config, label, 1234), base);
  wsc::engine::AnalysisInput names = input;
  names.metadata[0].class_names = {"fm", ""};  // same bytes, other split
  EXPECT_NE(fingerprint_of(config, names, 1234), base);
}

TEST(Chunks, ParseAcceptsAndRefuses) {
  const ChunkSpec c = wsc::app::parse_chunk("3/8");
  EXPECT_EQ(c.index, 3);
  EXPECT_EQ(c.count, 8);
  for (const std::string bad : {"8/8", "-1/4", "1", "a/b", "1/0", "1/2x", "/2", "2/"}) {
    EXPECT_THROW(wsc::app::parse_chunk(bad), std::invalid_argument) << bad;
  }
}

TEST(Chunks, RangesTileAndAlign) {
  for (std::int64_t total : {0, 1, 7, 100, 1000, 1001}) {
    for (int n : {1, 2, 3, 7, 16}) {
      for (std::int64_t align : {1, 4, 64}) {
        std::int64_t at = 0;
        for (int i = 0; i < n; ++i) {
          const IndexRange r = wsc::app::chunk_range(total, ChunkSpec{i, n}, align);
          EXPECT_EQ(r.begin, at) << total << " " << n << " " << align;
          EXPECT_GE(r.end, r.begin);
          if (i + 1 < n) {
            EXPECT_EQ(r.end % align, 0);
          }
          at = r.end;
        }
        EXPECT_EQ(at, total);
      }
    }
  }
  // Near-equal sizes without alignment.
  EXPECT_EQ(wsc::app::chunk_range(10, ChunkSpec{1, 3}).begin, 3);
  EXPECT_EQ(wsc::app::chunk_range(10, ChunkSpec{1, 3}).end, 6);
}

/// A complete chunk state over permutations [b, e) with 2 cells, encodability
/// [eb, ee) of one task and no bootstrap.
RunState chunk(std::int64_t b, std::int64_t e, std::int64_t eb, std::int64_t ee) {
  RunState s;
  s.fingerprint = 42;
  s.permutations = {b, e};
  s.encodability = {eb, ee};
  s.bootstrap = {0, 0};
  s.permutations_done = e - b;
  s.encodability_done = ee - eb;
  s.observed_abs = {0.5, 0.25};
  s.cells = 2;
  s.keep_cells = true;
  s.exceed_cell = {b, 2 * b};
  s.exceed_max = {e, 2 * e};
  for (std::int64_t k = b; k < e; ++k) {
    s.null_max.push_back(static_cast<double>(k));
    s.null_cells.push_back(static_cast<double>(k));
    s.null_cells.push_back(static_cast<double>(-k));
  }
  s.score_null.assign(1, {});
  for (std::int64_t k = eb; k < ee; ++k) s.score_null[0].push_back(static_cast<double>(k) / 10.0);
  s.permutation_fits = e - b;
  s.permutation_max_iterations = b;
  s.encodability_fits = 3 * (ee - eb);
  return s;
}

TEST(Chunks, MergeConcatenatesAndAdds) {
  const RunState m = wsc::app::merge_chunk_states({chunk(0, 4, 0, 2), chunk(4, 6, 2, 3), chunk(6, 10, 3, 5)}, 1000);
  EXPECT_EQ(m.permutations, (IndexRange{0, 10}));
  EXPECT_EQ(m.encodability, (IndexRange{0, 5}));
  EXPECT_EQ(m.permutations_done, 10);
  EXPECT_EQ(m.encodability_done, 5);
  EXPECT_EQ(m.exceed_cell, (std::vector<std::int64_t>{0 + 4 + 6, 0 + 8 + 12}));
  EXPECT_EQ(m.exceed_max, (std::vector<std::int64_t>{4 + 6 + 10, 8 + 12 + 20}));
  ASSERT_EQ(m.null_max.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(m.null_max[static_cast<std::size_t>(k)], k);
    EXPECT_EQ(m.null_cells[static_cast<std::size_t>(2 * k + 1)], -k);
  }
  EXPECT_EQ(m.score_null[0], (std::vector<double>{0.0, 0.1, 0.2, 0.3, 0.4}));
  EXPECT_EQ(m.permutation_fits, 10);
  EXPECT_EQ(m.permutation_max_iterations, 6);
  EXPECT_EQ(m.encodability_fits, 15);
  EXPECT_TRUE(m.keep_cells);
  // Too many values to keep for the whole run: the cells are dropped.
  const RunState small = wsc::app::merge_chunk_states({chunk(0, 4, 0, 2), chunk(4, 10, 2, 5)}, 19);
  EXPECT_FALSE(small.keep_cells);
  EXPECT_TRUE(small.null_cells.empty());
}

void expect_refused(const std::vector<RunState>& chunks, const std::string& part) {
  try {
    (void)wsc::app::merge_chunk_states(chunks, 1000);
    ADD_FAILURE() << "accepted; expected: " << part;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Chunks, MergeRefusals) {
  expect_refused({}, "no chunks");
  expect_refused({chunk(0, 4, 0, 2), chunk(5, 10, 2, 5)}, "does not continue");
  expect_refused({chunk(4, 10, 2, 5)}, "do not start at index 0");
  RunState incomplete = chunk(4, 10, 2, 5);
  incomplete.permutations_done = 3;
  expect_refused({chunk(0, 4, 0, 2), incomplete}, "chunk 1 is incomplete");
  RunState foreign = chunk(4, 10, 2, 5);
  foreign.fingerprint = 7;
  expect_refused({chunk(0, 4, 0, 2), foreign}, "another config or input");
  RunState other_statistic = chunk(4, 10, 2, 5);
  other_statistic.observed_abs[1] = 0.25000000000000006;
  expect_refused({chunk(0, 4, 0, 2), other_statistic}, "observed statistic");
}

}  // namespace

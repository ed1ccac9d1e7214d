// The rank layout does not change the answer: one group sharding the rows
// over every rank, one group per rank (every rank all rows), two groups, and
// a lone rank (MPI_COMM_SELF) give identical p-values (permutation b comes
// from (seed, b) alone) and the same statistics up to the solver tolerance.
// Also the automatic layout choice and its refusals.
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using wsc::core::Index;
using wsc::core::Matrix;
using wsc::core::RowMatrix;
using wsc::engine::AnalysisInput;
using wsc::engine::AnalysisResult;
using wsc::engine::AnalysisSettings;
using wsc::engine::Layout;
using wsc::engine::LayoutPlan;

struct Data {
  RowMatrix x;
  wsc::core::ProbeHead primary;
  std::vector<std::int64_t> site, noise;
  std::vector<std::int64_t> patient;
};

/// N = 90 rows, d = 6: a 3-class primary head, a site label the embedding
/// encodes along the head's first direction, a label it does not encode.
Data make_data() {
  std::mt19937_64 gen(20261126);
  auto uniform = [&] { return (static_cast<double>(gen() >> 11) + 0.5) * 0x1.0p-53; };
  auto normal = [&] {
    const double u = uniform();
    const double v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  };
  const Index n = 90;
  const Index d = 6;
  Data data;
  data.x.resize(n, d);
  for (Index i = 0; i < n; ++i) {
    const std::int64_t site = i % 3;
    data.site.push_back(site);
    data.noise.push_back(static_cast<std::int64_t>(gen() % 2));
    data.patient.push_back(i / 3);
    for (Index k = 0; k < d; ++k) data.x(i, k) = normal();
    data.x(i, 0) += 1.2 * static_cast<double>(site);
    data.x(i, 1) += 0.4 * static_cast<double>(i % 2);
  }
  data.primary.weight = Matrix::Zero(3, d);
  data.primary.weight(0, 0) = -1.0;
  data.primary.weight(2, 0) = 1.0;
  data.primary.weight(1, 2) = 0.7;
  data.primary.bias = wsc::core::Vector::Zero(3);
  return data;
}

/// The rows a rank holds as position `part` of `parts` in its group.
AnalysisInput make_input(const Data& data, int parts, int part) {
  AnalysisInput in;
  in.rows = data.x.rows();
  in.dim = data.x.cols();
  const wsc::par::RowBlock block = wsc::par::block_of(in.rows, parts, part);
  in.row_begin = block.begin;
  in.x = wsc::core::RowMatrix(data.x.middleRows(block.begin, block.count));
  in.primary_task = "plane";
  in.primary_head = data.primary;
  in.primary_class_names = {"a", "b", "c"};
  in.metadata.push_back(wsc::engine::make_task_labels("site", "test", data.site, {}, {}));
  in.metadata.push_back(wsc::engine::make_task_labels("noise", "test", data.noise, {}, {}));
  in.cv_groups = data.patient;
  return in;
}

AnalysisSettings settings() {
  AnalysisSettings s;
  s.pca.components = 4;
  s.probe.l2 = 1e-2;
  s.probe.solver.tol = 1e-10;
  s.cv.folds = 3;
  s.permutation.count = 45;
  s.batch = 8;  // several work items, so the groups share them
  s.encodability.permutations = 19;
  s.bootstrap.count = 12;
  return s;
}

AnalysisResult run_with_groups(const Data& data, const wsc::par::Communicator& world, int groups) {
  LayoutPlan plan;
  plan.groups = groups;
  plan.group_size = world.size() / groups;
  const Layout layout(world, plan);
  return wsc::engine::run_analysis(make_input(data, plan.group_size, layout.group().rank()), settings(),
                                   layout, nullptr);
}

/// Largest absolute difference (0 for two empty matrices).
double max_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  if (a.size() == 0 || a.rows() != b.rows() || a.cols() != b.cols()) return 0.0;
  return (a - b).cwiseAbs().maxCoeff();
}

void expect_same_answer(const AnalysisResult& a, const AnalysisResult& b, const std::string& what) {
  SCOPED_TRACE(what);
  // p-values: exactly equal.
  EXPECT_EQ(a.p_perm, b.p_perm);
  EXPECT_EQ(a.p_fwer, b.p_fwer);
  EXPECT_EQ(a.q_fdr, b.q_fdr);
  ASSERT_EQ(a.metadata.size(), b.metadata.size());
  // Fits converge to tol 1e-10 on the gradient; heads then agree to about
  // tol / l2 = 1e-8, and so do cosines and AUROC-based scores.
  const double tol = 1e-7;
  for (std::size_t t = 0; t < a.metadata.size(); ++t) {
    EXPECT_EQ(a.metadata[t].p_encoded, b.metadata[t].p_encoded);
    EXPECT_EQ(a.metadata[t].verdict, b.metadata[t].verdict);
    EXPECT_LT(max_diff(a.metadata[t].cos, b.metadata[t].cos), tol);
    EXPECT_LT(max_diff(a.metadata[t].fold_cos_mean, b.metadata[t].fold_cos_mean), tol);
    EXPECT_LT(max_diff(a.metadata[t].boot_lo, b.metadata[t].boot_lo), tol);
    EXPECT_LT(max_diff(a.metadata[t].boot_hi, b.metadata[t].boot_hi), tol);
    ASSERT_EQ(a.metadata[t].score_null.size(), b.metadata[t].score_null.size());
    for (std::size_t e = 0; e < a.metadata[t].score_null.size(); ++e) {
      EXPECT_NEAR(a.metadata[t].score_null[e], b.metadata[t].score_null[e], tol) << "encodability " << e;
    }
  }
  ASSERT_EQ(a.null_max.size(), b.null_max.size());
  for (std::size_t k = 0; k < a.null_max.size(); ++k) {
    EXPECT_NEAR(a.null_max[k], b.null_max[k], tol) << "permutation " << k;
  }
  EXPECT_LT(max_diff(a.null_cells, b.null_cells), tol);
  EXPECT_LT(max_diff(a.boot_cells, b.boot_cells), tol);
  EXPECT_EQ(a.permutation_fits, b.permutation_fits);
  EXPECT_EQ(a.encodability_fits, b.encodability_fits);
}

TEST(EngineLayout, ForcedLayoutsGiveIdenticalPValues) {
  const wsc::par::Communicator world(MPI_COMM_WORLD);
  const Data data = make_data();
  const wsc::par::Communicator self(MPI_COMM_SELF);
  const AnalysisResult alone = wsc::engine::run_analysis(make_input(data, 1, 0), settings(), self, nullptr);
  // The example must exercise every part: a used, encoded site; fits converged.
  ASSERT_EQ(alone.metadata[0].verdict, wsc::engine::Verdict::EncodedUsed);
  ASSERT_EQ(alone.permutation_unconverged, 0);
  ASSERT_EQ(alone.null_cells.rows(), 45);
  ASSERT_EQ(alone.boot_cells.rows(), 12);

  const AnalysisResult one_group = run_with_groups(data, world, 1);
  expect_same_answer(alone, one_group, "one group of every rank");
  const AnalysisResult per_rank = run_with_groups(data, world, world.size());
  expect_same_answer(alone, per_rank, "one group per rank");
  EXPECT_EQ(per_rank.groups, world.size());
  if (world.size() % 2 == 0 && world.size() > 2) {
    expect_same_answer(alone, run_with_groups(data, world, 2), "two groups");
  }
}

TEST(EngineLayout, AutomaticChoice) {
  wsc::engine::LayoutRequest r;
  r.rows = 4800;
  r.dim = 128;
  r.ranks = 4;
  r.ranks_on_node = 4;
  r.available_bytes = 16e9;
  r.parallel_items = 100;
  // Rows fit everywhere: one group per rank.
  EXPECT_EQ(wsc::engine::plan_layout(r).groups, 4);
  // Fewer work items than ranks: no more groups than items.
  r.parallel_items = 2;
  EXPECT_EQ(wsc::engine::plan_layout(r).groups, 2);
  r.parallel_items = 1;
  EXPECT_EQ(wsc::engine::plan_layout(r).groups, 1);
  // Rows too large for every rank to hold them all: shard.
  r.parallel_items = 100;
  r.rows = 4'000'000;
  r.dim = 512;  // 16 GB as doubles
  const LayoutPlan sharded = wsc::engine::plan_layout(r);
  EXPECT_EQ(sharded.groups, 1);
  EXPECT_EQ(sharded.group_size, 4);
  EXPECT_NE(sharded.reason.find("sharded"), std::string::npos) << sharded.reason;
  // Half of them fit: two groups of two.
  r.rows = 2'000'000;  // 8 GB as doubles: 4 full copies (with labels and batches) exceed half of 64 GB, 2 x 2 ranks do not
  r.available_bytes = 64e9;
  EXPECT_EQ(wsc::engine::plan_layout(r).groups, 2);
}

TEST(EngineLayout, ForcedGroupsAreChecked) {
  wsc::engine::LayoutRequest r;
  r.rows = 100;
  r.dim = 4;
  r.ranks = 4;
  r.requested_groups = 4;
  EXPECT_EQ(wsc::engine::plan_layout(r).group_size, 1);
  for (int bad : {3, 5, -1}) {
    r.requested_groups = bad;
    try {
      (void)wsc::engine::plan_layout(r);
      ADD_FAILURE() << "groups = " << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("parallel.groups = " + std::to_string(bad)), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace

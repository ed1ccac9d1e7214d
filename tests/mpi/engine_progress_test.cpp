// Progress of run_analysis: every phase ("pca", "fits", "encodability",
// "permutations", "bootstrap") is reported on world rank 0 only, in order,
// first when it begins, with 0 <= done <= total, done never going back and a
// last report done == total; for one group of every rank and for one group
// per rank (the randomised phases then estimate over the groups).
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using wsc::core::Index;
using wsc::core::RowMatrix;
using wsc::engine::AnalysisInput;
using wsc::engine::AnalysisSettings;

struct Report {
  std::string phase;
  std::int64_t done;
  std::int64_t total;
};

constexpr Index kRows = 120;
constexpr Index kDim = 5;

/// 120 rows, d = 5: a 2-class primary (row i: class i mod 2) and a 3-class
/// site label, both shifting the rows; rows [block) of them.
AnalysisInput make_input(int parts, int part, bool primary_from_file) {
  std::mt19937_64 gen(20261130);
  std::normal_distribution<double> normal(0.0, 1.0);
  RowMatrix x(kRows, kDim);
  std::vector<std::int64_t> plane, site;
  for (Index i = 0; i < kRows; ++i) {
    plane.push_back(i % 2);
    site.push_back((i / 2) % 3);
    for (Index k = 0; k < kDim; ++k) x(i, k) = normal(gen);
    x(i, 0) += 1.5 * static_cast<double>(i % 2);
    x(i, 1) += 1.0 * static_cast<double>((i / 2) % 3);
  }
  AnalysisInput in;
  in.rows = kRows;
  in.dim = kDim;
  const wsc::par::RowBlock block = wsc::par::block_of(in.rows, parts, part);
  in.row_begin = block.begin;
  in.x = wsc::core::RowMatrix(x.middleRows(block.begin, block.count));
  in.primary_task = "plane";
  in.primary_from_file = primary_from_file;
  in.primary_head.weight = wsc::core::Matrix::Zero(2, kDim);
  in.primary_head.weight(0, 0) = -1.0;
  in.primary_head.weight(1, 0) = 1.0;
  in.primary_head.bias = wsc::core::Vector::Zero(2);
  in.primary_class_names = {"a", "b"};
  in.primary_labels = wsc::engine::make_task_labels("plane", "test", plane, {}, {});
  in.metadata.push_back(wsc::engine::make_task_labels("site", "test", site, {}, {}));
  in.metadata.push_back(wsc::engine::make_task_labels("parity", "test", plane, {}, {}));
  return in;
}

AnalysisSettings settings() {
  AnalysisSettings s;
  s.pca.components = 3;
  s.probe.l2 = 1e-2;
  s.cv.folds = 3;
  s.permutation.count = 21;
  s.batch = 4;  // several rounds per phase
  s.encodability.permutations = 7;
  s.bootstrap.count = 9;
  return s;
}

std::vector<Report> run_reporting(const wsc::par::Communicator& world, int groups, bool primary_from_file) {
  wsc::engine::LayoutPlan plan;
  plan.groups = groups;
  plan.group_size = world.size() / groups;
  const wsc::engine::Layout layout(world, plan);
  std::vector<Report> reports;
  const wsc::engine::ProgressFn progress = [&](const std::string& phase, std::int64_t done, std::int64_t total) {
    reports.push_back({phase, done, total});
  };
  (void)wsc::engine::run_analysis(make_input(plan.group_size, layout.group().rank(), primary_from_file), settings(),
                                  layout, progress);
  return reports;
}

void expect_every_phase(const std::vector<Report>& reports, bool primary_from_file, const std::string& what) {
  SCOPED_TRACE(what);
  const AnalysisSettings s = settings();
  const std::int64_t task_heads = 1 + s.cv.folds;
  const std::vector<std::string> phases{"pca", "fits", "encodability", "permutations", "bootstrap"};
  const std::vector<std::int64_t> totals{kRows, task_heads * (primary_from_file ? 2 : 3), s.encodability_count(),
                                         s.permutation.count, s.bootstrap.count};
  std::size_t at = 0;
  for (std::size_t p = 0; p < phases.size(); ++p) {
    SCOPED_TRACE(phases[p]);
    ASSERT_LT(at, reports.size());
    ASSERT_EQ(reports[at].phase, phases[p]) << "phases out of order";
    EXPECT_EQ(reports[at].done, 0) << "the first report is the phase's start";
    std::int64_t previous = 0;
    std::size_t count = 0;
    for (; at < reports.size() && reports[at].phase == phases[p]; ++at, ++count) {
      const Report& r = reports[at];
      EXPECT_EQ(r.total, totals[p]);
      EXPECT_GE(r.done, previous);
      EXPECT_LE(r.done, r.total);
      previous = r.done;
    }
    EXPECT_EQ(reports[at - 1].done, totals[p]) << "the last report ends the phase";
    EXPECT_GE(count, 2u) << "reported when it begins and when it ends";
  }
  EXPECT_EQ(at, reports.size()) << "no report after the last phase, no other phase";
}

TEST(EngineProgress, EveryPhaseOnRankZeroOnly) {
  const wsc::par::Communicator world(MPI_COMM_WORLD);
  for (const bool from_file : {true, false}) {
    for (const int groups : {1, world.size()}) {
      const std::vector<Report> reports = run_reporting(world, groups, from_file);
      const std::string what = std::string(from_file ? "primary from file" : "primary fitted") + ", " +
                               std::to_string(groups) + " group(s) of " + std::to_string(world.size() / groups);
      if (world.is_root()) {
        expect_every_phase(reports, from_file, what);
      } else {
        EXPECT_TRUE(reports.empty()) << what << ": rank " << world.rank() << " reported";
      }
      if (world.size() == 1) break;
    }
  }
}

}  // namespace

// The statistics of a run from its state, without MPI: p-values against
// their closed forms, the level alpha applied as p <= alpha everywhere,
// verdicts, bootstrap intervals.
#include "wsc/engine/finalise.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using wsc::core::Matrix;
using wsc::engine::AnalysisResult;
using wsc::engine::AnalysisSettings;
using wsc::engine::CellIndex;
using wsc::engine::IndexRange;
using wsc::engine::RunState;
using wsc::engine::TaskResult;
using wsc::engine::Verdict;
using wsc::engine::verdict_for;

/// Two metadata tasks: a 2 x 2 WSC matrix and a 2 x 1 one (6 cells).
AnalysisResult observed() {
  AnalysisResult r;
  TaskResult a, b;
  a.name = "site";
  a.cos = Matrix(2, 2);
  a.cos << 0.9, -0.1, 0.2, -0.5;
  a.score = 0.8;
  b.name = "sex";
  b.cos = Matrix(2, 1);
  b.cos << 0.05, -0.3;
  b.score = 0.55;
  r.metadata = {a, b};
  r.cells = CellIndex::of_tasks(r.metadata);
  return r;
}

/// m permutations done, e encodability permutations, n bootstrap resamples.
RunState state_for(const AnalysisResult& r, std::int64_t m, std::int64_t e, std::int64_t n) {
  RunState s;
  s.permutations = IndexRange{0, m};
  s.encodability = IndexRange{0, e};
  s.bootstrap = IndexRange{0, n};
  s.permutations_done = m;
  s.encodability_done = e;
  s.bootstrap_done = n;
  s.cells = static_cast<std::int64_t>(r.cells.size());
  r.cells.for_each([&](const wsc::engine::Cell& c) {
    s.observed_abs.push_back(std::fabs(r.metadata[c.task].cos(c.i, c.j)));
  });
  s.exceed_cell.assign(r.cells.size(), 0);
  s.exceed_max.assign(r.cells.size(), 0);
  s.null_max.assign(static_cast<std::size_t>(m), 0.0);
  s.score_null.assign(r.metadata.size(), std::vector<double>(static_cast<std::size_t>(e), 0.0));
  s.boot_cells.assign(static_cast<std::size_t>(n) * r.cells.size(), 0.0);
  return s;
}

TEST(Finalise, PermutationPValuesFollowTheirClosedForms) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 19, 0, 0);
  s.exceed_cell = {0, 19, 3, 1, 19, 2};
  s.exceed_max = {0, 19, 19, 5, 19, 19};
  AnalysisSettings settings;
  wsc::engine::finalise(s, settings, r);
  ASSERT_EQ(r.permutations, 19);
  const std::vector<double> p_perm = {1 / 20.0, 20 / 20.0, 4 / 20.0, 2 / 20.0, 20 / 20.0, 3 / 20.0};
  const std::vector<double> p_fwer = {1 / 20.0, 20 / 20.0, 20 / 20.0, 6 / 20.0, 20 / 20.0, 20 / 20.0};
  EXPECT_EQ(r.p_perm, p_perm);
  EXPECT_EQ(r.p_fwer, p_fwer);
  // Benjamini-Hochberg by hand: sorted p = .05 .1 .15 .2 1 1 (ranks 1..6):
  // p * 6 / rank = .3 .3 .3 .3 1.2 1, monotone from the top and capped at 1.
  const std::vector<double> q = {0.3, 1.0, 0.3, 0.3, 1.0, 0.3};
  ASSERT_EQ(r.q_fdr.size(), q.size());
  for (std::size_t c = 0; c < q.size(); ++c) EXPECT_NEAR(r.q_fdr[c], q[c], 1e-15) << "cell " << c;
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Finalise, APValueEqualToAlphaIsSignificant) {
  // Permutation p-values are discrete: with 19 permutations the smallest is
  // exactly 1/20 = 0.05, and a cell there must count at alpha = 0.05.
  AnalysisResult r = observed();
  RunState s = state_for(r, 19, 19, 0);
  s.exceed_max = {0, 19, 19, 19, 19, 19};
  s.exceed_cell = {0, 19, 19, 19, 19, 19};
  s.score_null[0].assign(19, 0.5);   // no exceedance: p_encoded = 1/20
  s.score_null[1].assign(19, 0.56);  // all exceed: p_encoded = 1
  AnalysisSettings settings;
  settings.encodability.alpha = 0.05;
  wsc::engine::finalise(s, settings, r);
  ASSERT_EQ(r.p_fwer[0], 0.05);
  EXPECT_TRUE(r.significant_fwer(0));
  EXPECT_FALSE(r.significant_fwer(1));
  EXPECT_EQ(r.metadata[0].p_encoded, 0.05);
  EXPECT_EQ(r.metadata[0].verdict, Verdict::EncodedUsed);
  EXPECT_EQ(r.metadata[1].p_encoded, 1.0);
  EXPECT_EQ(r.metadata[1].verdict, Verdict::NotEncoded);
  EXPECT_EQ(r.alpha, 0.05);

  // Just above alpha: not significant.
  settings.encodability.alpha = 0.049;
  AnalysisResult again = observed();
  wsc::engine::finalise(s, settings, again);
  EXPECT_FALSE(again.significant_fwer(0));
  EXPECT_EQ(again.metadata[0].verdict, Verdict::NotEncoded);
}

TEST(Finalise, EncodabilityCountsTiesAndIgnoresNaN) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 0, 4, 0);
  s.score_null[0] = {0.8, std::nan(""), 0.7, 0.81};  // a tie and a larger one count
  s.score_null[1] = {0.1, 0.2, 0.3, 0.4};
  r.metadata[1].score = std::nan("");                // no CV score: untested
  AnalysisSettings settings;
  wsc::engine::finalise(s, settings, r);
  EXPECT_EQ(r.metadata[0].p_encoded, 3.0 / 5.0);
  EXPECT_TRUE(std::isnan(r.metadata[1].p_encoded));
  EXPECT_EQ(r.metadata[1].verdict, Verdict::Untested);
  EXPECT_EQ(r.metadata[0].score_null.size(), 4u);
}

TEST(Finalise, WithoutPermutationsAnEncodedTaskIsOnlyEncoded) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 0, 19, 0);
  AnalysisSettings settings;
  wsc::engine::finalise(s, settings, r);
  EXPECT_EQ(r.permutations, 0);
  EXPECT_EQ(r.metadata[0].verdict, Verdict::Encoded);
  EXPECT_FALSE(r.significant_fwer(0));
}

TEST(Finalise, BootstrapIntervalsArePercentilesOfEachCell) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 0, 0, 5);
  const std::size_t cells = r.cells.size();
  for (std::size_t b = 0; b < 5; ++b) {
    for (std::size_t c = 0; c < cells; ++c) s.boot_cells[b * cells + c] = static_cast<double>((b * 7 + c * 3) % 5) + 0.1 * static_cast<double>(c);
  }
  AnalysisSettings settings;
  settings.bootstrap.level = 0.5;  // the 25th and 75th percentiles
  wsc::engine::finalise(s, settings, r);
  ASSERT_EQ(r.bootstrap, 5);
  ASSERT_EQ(r.boot_cells.rows(), 5);
  r.cells.for_each([&](const wsc::engine::Cell& c) {
    // Each cell's five values are a permutation of {0..4} + 0.1 c: linear
    // interpolation puts the quartiles at 1 and 3.
    const double shift = 0.1 * static_cast<double>(c.index);
    EXPECT_NEAR(r.metadata[c.task].boot_lo(c.i, c.j), 1.0 + shift, 1e-12);
    EXPECT_NEAR(r.metadata[c.task].boot_hi(c.i, c.j), 3.0 + shift, 1e-12);
  });
}

TEST(Finalise, WarnsAboutUnconvergedPermutedFits) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 3, 0, 0);
  s.permutation_fits = 6;
  s.permutation_unconverged = 2;
  wsc::engine::finalise(s, AnalysisSettings{}, r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "2 of 6 permuted-label fits stopped without converging");
}

TEST(Finalise, RefusesAStateOfOtherCells) {
  AnalysisResult r = observed();
  RunState s = state_for(r, 3, 0, 0);
  s.cells = 5;
  EXPECT_THROW(wsc::engine::finalise(s, AnalysisSettings{}, r), std::invalid_argument);
}

TEST(Finalise, TailApproximationOfTheNullMaximaAndOfEachCell) {
  // m = 1000: null maxima 0.0005, 0.001, ..., 0.5 (evenly spaced), each
  // cell's null a scaled copy; the counts are those of these nulls.
  AnalysisResult r = observed();  // |cos| 0.9 0.1 0.2 0.5 0.05 0.3
  const std::int64_t m = 1000;
  RunState s = state_for(r, m, 0, 0);
  const std::size_t cells = r.cells.size();
  s.keep_cells = true;
  s.null_cells.assign(static_cast<std::size_t>(m) * cells, 0.0);
  const std::vector<double> cell_scale = {0.5, 0.1, 0.3, 0.45, 0.2, 0.25};
  for (std::int64_t b = 0; b < m; ++b) {
    const double u = static_cast<double>(b + 1) / static_cast<double>(m);
    s.null_max[static_cast<std::size_t>(b)] = 0.5 * u;
    for (std::size_t c = 0; c < cells; ++c) s.null_cells[static_cast<std::size_t>(b) * cells + c] = cell_scale[c] * u;
  }
  std::vector<std::vector<double>> column(cells);
  for (std::size_t c = 0; c < cells; ++c) {
    for (std::int64_t b = 0; b < m; ++b) {
      const double v = s.null_cells[static_cast<std::size_t>(b) * cells + c];
      column[c].push_back(v);
      if (v >= s.observed_abs[c]) ++s.exceed_cell[c];
      if (s.null_max[static_cast<std::size_t>(b)] >= s.observed_abs[c]) ++s.exceed_max[c];
    }
  }
  AnalysisSettings settings;
  wsc::engine::finalise(s, settings, r);

  const wsc::core::ParetoTailResult fwer = wsc::core::pareto_tail(s.null_max, s.observed_abs);
  ASSERT_TRUE(fwer.fit.accepted);
  EXPECT_EQ(r.fwer_tail.threshold, fwer.fit.threshold);
  EXPECT_EQ(r.fwer_tail.shape, fwer.fit.shape);
  EXPECT_EQ(r.fwer_tail.exceedances, fwer.fit.exceedances);
  ASSERT_EQ(r.p_fwer_tail.size(), cells);
  ASSERT_EQ(r.perm_tail.size(), cells);
  int approximate = 0;
  for (std::size_t c = 0; c < cells; ++c) {
    EXPECT_EQ(r.fwer_tail_approximate[c], fwer.values[c].approximate) << c;
    // Where the fit is not used: p_fwer itself, bit for bit.
    EXPECT_EQ(r.p_fwer_tail[c], fwer.values[c].approximate ? fwer.values[c].p : r.p_fwer[c]) << c;
    const wsc::core::ParetoTailResult one = wsc::core::pareto_tail(column[c], {s.observed_abs[c]});
    EXPECT_EQ(r.perm_tail_approximate[c], one.values[0].approximate) << c;
    EXPECT_EQ(r.p_perm_tail[c], one.values[0].approximate ? one.values[0].p : r.p_perm[c]) << c;
    approximate += r.fwer_tail_approximate[c] ? 1 : 0;
  }
  // Cell 3 (|cos| 0.5 = the largest null maximum, p_fwer 2/1001) is in the
  // tail: the fitted tail gives the uniform's 0.001 or so; cell 0 (0.9) lies
  // beyond its end point, where the fit would say 0: its p_fwer stands.
  // Cells below the threshold keep p_fwer.
  EXPECT_FALSE(r.fwer_tail_approximate[0]);
  EXPECT_EQ(r.p_fwer_tail[0], r.p_fwer[0]);
  EXPECT_TRUE(r.fwer_tail_approximate[3]);
  EXPECT_NEAR(r.p_fwer_tail[3], 0.0, 0.002);
  EXPECT_FALSE(r.fwer_tail_approximate[1]);
  EXPECT_EQ(approximate, 1);

  // Without the cells' null: no p_perm_tail.
  AnalysisResult no_cells = observed();
  s.keep_cells = false;
  s.null_cells.clear();
  wsc::engine::finalise(s, settings, no_cells);
  EXPECT_EQ(no_cells.p_fwer_tail, r.p_fwer_tail);
  EXPECT_TRUE(no_cells.perm_tail.empty());
  for (std::size_t c = 0; c < cells; ++c) {
    EXPECT_TRUE(std::isnan(no_cells.p_perm_tail[c]));
    EXPECT_FALSE(no_cells.perm_tail_approximate[c]);
  }

  // Without permutations: NaN, nothing approximate, no fit.
  AnalysisResult none = observed();
  wsc::engine::finalise(state_for(none, 0, 0, 0), settings, none);
  ASSERT_EQ(none.p_fwer_tail.size(), cells);
  for (std::size_t c = 0; c < cells; ++c) {
    EXPECT_TRUE(std::isnan(none.p_fwer_tail[c]));
    EXPECT_FALSE(none.fwer_tail_approximate[c]);
  }
  EXPECT_FALSE(none.fwer_tail.accepted);
}

TEST(Verdict, FollowsTheDecisionTable) {
  EXPECT_EQ(verdict_for(std::nan(""), 0.0, true, 0.05), Verdict::Untested);
  EXPECT_EQ(verdict_for(0.051, 0.0, true, 0.05), Verdict::NotEncoded);
  EXPECT_EQ(verdict_for(0.05, 0.0, false, 0.05), Verdict::Encoded);
  EXPECT_EQ(verdict_for(0.01, 0.05, true, 0.05), Verdict::EncodedUsed);
  EXPECT_EQ(verdict_for(0.01, 0.0501, true, 0.05), Verdict::EncodedNotUsed);
  EXPECT_EQ(verdict_for(0.01, INFINITY, true, 0.05), Verdict::EncodedNotUsed);
  EXPECT_STREQ(wsc::engine::to_string(Verdict::EncodedNotUsed), "encoded_not_used");
}

}  // namespace

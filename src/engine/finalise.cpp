#include "wsc/engine/finalise.hpp"

#include "wsc/core/metrics.hpp"
#include "wsc/core/pareto_tail.hpp"
#include "wsc/core/pvalues.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace wsc::engine {

namespace {

/// Permutations x cells, row-major, as a matrix.
core::Matrix as_matrix(const std::vector<double>& flat, std::int64_t rows, std::int64_t cols) {
  core::Matrix m(rows, cols);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) m(r, c) = flat[static_cast<std::size_t>(r * cols + c)];
  }
  return m;
}

/// The tail approximations of p_fwer and (with the cells' null) p_perm.
/// Where the fit is not used the permutation p-value is copied from the
/// counts, so the two columns agree there to the last bit.
void finalise_tail(const RunState& g, AnalysisResult& result) {
  const std::size_t cells = result.cells.size();
  const double nan = std::nan("");
  result.p_fwer_tail.assign(cells, nan);
  result.p_perm_tail.assign(cells, nan);
  result.fwer_tail_approximate.assign(cells, false);
  result.perm_tail_approximate.assign(cells, false);
  result.fwer_tail = core::ParetoTailFit{};
  result.perm_tail.clear();
  if (result.permutations == 0) return;
  const core::ParetoTailResult fwer = core::pareto_tail(result.null_max, g.observed_abs);
  result.fwer_tail = fwer.fit;
  for (std::size_t c = 0; c < cells; ++c) {
    result.fwer_tail_approximate[c] = fwer.values[c].approximate;
    result.p_fwer_tail[c] = fwer.values[c].approximate ? fwer.values[c].p : result.p_fwer[c];
  }
  if (result.null_cells.size() == 0) return;
  std::vector<double> column(static_cast<std::size_t>(result.null_cells.rows()));
  for (std::size_t c = 0; c < cells; ++c) {
    for (core::Index b = 0; b < result.null_cells.rows(); ++b) {
      column[static_cast<std::size_t>(b)] = result.null_cells(b, static_cast<core::Index>(c));
    }
    const core::ParetoTailResult one = core::pareto_tail(column, {g.observed_abs[c]});
    result.perm_tail.push_back(one.fit);
    result.perm_tail_approximate[c] = one.values[0].approximate;
    result.p_perm_tail[c] = one.values[0].approximate ? one.values[0].p : result.p_perm[c];
  }
}

void finalise_permutations(const RunState& g, AnalysisResult& result) {
  const std::int64_t cells = static_cast<std::int64_t>(result.cells.size());
  result.permutations = g.permutations.size();
  result.permutation_fits = g.permutation_fits;
  result.permutation_unconverged = g.permutation_unconverged;
  result.permutation_max_iterations = static_cast<int>(g.permutation_max_iterations);
  result.permutation_max_grad = g.permutation_max_grad;
  result.null_max = g.null_max;
  if (g.keep_cells) result.null_cells = as_matrix(g.null_cells, g.permutations.size(), cells);
  if (result.permutation_unconverged > 0) {
    result.warnings.push_back(std::to_string(result.permutation_unconverged) + " of " +
                              std::to_string(result.permutation_fits) +
                              " permuted-label fits stopped without converging");
  }
  const core::NullAccumulator null = core::NullAccumulator::from_counts(
      g.observed_abs, g.exceed_cell, g.exceed_max, g.permutations.size());
  result.p_perm = null.p_perm();
  result.p_fwer = null.p_fwer();
  result.q_fdr = core::bh_qvalues(result.p_perm);
  result.p_perm_interval.assign(static_cast<std::size_t>(cells), core::PInterval{});
  result.p_fwer_interval.assign(static_cast<std::size_t>(cells), core::PInterval{});
  for (std::size_t c = 0; c < static_cast<std::size_t>(cells); ++c) {
    if (std::isnan(g.observed_abs[c])) continue;
    result.p_perm_interval[c] = core::p_interval(g.exceed_cell[c], g.permutations.size(), core::kPIntervalError);
    result.p_fwer_interval[c] = core::p_interval(g.exceed_max[c], g.permutations.size(), core::kPIntervalError);
  }
  finalise_tail(g, result);

  // Each k of [pca] sensitivity: its own family of cells.
  SensitivityResult& sens = result.sensitivity;
  const auto ncells = static_cast<std::size_t>(cells);
  sens.p_perm.clear();
  sens.p_fwer.clear();
  sens.q_fdr.clear();
  sens.null_max = g.sensitivity_null_max;
  for (std::size_t s = 0; s < sens.size(); ++s) {
    const auto at = [&](const auto& v) {
      const auto begin = v.begin() + static_cast<std::ptrdiff_t>(s * ncells);
      return std::vector<typename std::decay_t<decltype(v)>::value_type>(begin, begin + static_cast<std::ptrdiff_t>(ncells));
    };
    const core::NullAccumulator k_null = core::NullAccumulator::from_counts(
        at(g.sensitivity_observed_abs), at(g.sensitivity_exceed_cell), at(g.sensitivity_exceed_max),
        g.permutations.size());
    const std::vector<double> p = k_null.p_perm();
    const std::vector<double> fwer = k_null.p_fwer();
    const std::vector<double> q = core::bh_qvalues(p);
    sens.p_perm.insert(sens.p_perm.end(), p.begin(), p.end());
    sens.p_fwer.insert(sens.p_fwer.end(), fwer.begin(), fwer.end());
    sens.q_fdr.insert(sens.q_fdr.end(), q.begin(), q.end());
  }
}

void finalise_encodability(const RunState& g, AnalysisResult& result) {
  result.encodability_permutations = g.encodability.size();
  result.encodability_fits = g.encodability_fits;
  for (std::size_t t = 0; t < result.metadata.size(); ++t) {
    TaskResult& r = result.metadata[t];
    r.score_null = g.score_null[t];
    std::int64_t exceed = 0;
    for (double v : r.score_null) {
      if (v >= r.score) ++exceed;  // NaN never counts; a tie does
    }
    const std::int64_t e = g.encodability.size();
    r.p_encoded = (std::isnan(r.score) || e == 0)
                      ? std::nan("")
                      : static_cast<double>(1 + exceed) / static_cast<double>(e + 1);
    r.p_encoded_interval = std::isnan(r.score) ? core::PInterval{} : core::p_interval(exceed, e, core::kPIntervalError);
  }
}

void finalise_bootstrap(const RunState& g, double level, AnalysisResult& result) {
  const std::int64_t nboot = g.bootstrap.size();
  const std::int64_t cells = static_cast<std::int64_t>(result.cells.size());
  result.bootstrap = nboot;
  if (nboot == 0 || cells == 0) return;
  result.boot_cells = as_matrix(g.boot_cells, nboot, cells);
  const double tail = 0.5 * (1.0 - level);
  for (std::size_t t = 0; t < result.metadata.size(); ++t) {
    TaskResult& r = result.metadata[t];
    r.boot_lo.resize(r.cos.rows(), r.cos.cols());
    r.boot_hi.resize(r.cos.rows(), r.cos.cols());
    result.cells.for_each_in(t, [&](const Cell& c) {
      std::vector<double> v(static_cast<std::size_t>(nboot));
      for (std::int64_t b = 0; b < nboot; ++b) {
        v[static_cast<std::size_t>(b)] = result.boot_cells(b, static_cast<core::Index>(c.index));
      }
      r.boot_lo(c.i, c.j) = core::percentile(v, tail);
      r.boot_hi(c.i, c.j) = core::percentile(std::move(v), 1.0 - tail);
    });
  }
}

}  // namespace

core::StopRule stop_rule(const AnalysisSettings& settings) {
  core::StopRule rule;
  rule.alpha = settings.encodability.alpha;
  rule.risk = settings.permutation.risk;
  const auto& d = settings.permutation.decisions;
  rule.p_fwer = std::find(d.begin(), d.end(), "p_fwer") != d.end();
  rule.q_fdr = std::find(d.begin(), d.end(), "q_fdr") != d.end();
  rule.p_perm = std::find(d.begin(), d.end(), "p_perm") != d.end();
  return rule;
}

SequentialResult sequential_stop(const RunState& g, const AnalysisSettings& settings) {
  SequentialResult stop;
  const std::size_t cells = g.observed_abs.size();
  stop.cell_settled.assign(cells, false);
  stop.settled_at.assign(cells, 0);
  if (g.look <= 0 || g.permutations.begin != 0) {
    throw std::invalid_argument("sequential_stop: a state of looks from index 0 is needed");
  }
  const core::StopRule rule = stop_rule(settings);
  const std::int64_t done = g.permutations_done;
  std::vector<std::int64_t> cell(cells, 0), max(cells, 0);
  const std::int64_t segments = (done + g.look - 1) / g.look;  // the last may be partial (the cap)
  for (std::int64_t s = 0; s < segments; ++s) {
    const auto at = static_cast<std::size_t>(s) * cells;
    for (std::size_t c = 0; c < cells; ++c) {
      cell[c] += g.segment_exceed_cell[at + c];
      max[c] += g.segment_exceed_max[at + c];
    }
    const std::int64_t m = std::min((s + 1) * g.look, done);
    stop.looks = s + 1;
    stop.permutations = m;
    stop.cell_settled = core::settled_cells(g.observed_abs, cell, max, m, s + 1, rule);
    stop.settled = true;
    for (std::size_t c = 0; c < cells; ++c) {
      if (stop.cell_settled[c] && stop.settled_at[c] == 0) stop.settled_at[c] = m;
      stop.settled = stop.settled && stop.cell_settled[c];
    }
    if (stop.settled) break;
  }
  return stop;
}

namespace {

/// The state as it was after the first `m` permutations (m at a look).
RunState truncated(const RunState& g, std::int64_t m) {
  RunState t = g;
  const std::size_t cells = g.observed_abs.size();
  const std::size_t kcells = g.sensitivity_observed_abs.size();
  const auto segments = static_cast<std::size_t>((m + g.look - 1) / g.look);
  const auto prefix = [&](const std::vector<std::int64_t>& seg, std::size_t width, std::vector<std::int64_t>& out) {
    out.assign(width, 0);
    for (std::size_t s = 0; s < segments; ++s) {
      for (std::size_t c = 0; c < width; ++c) out[c] += seg[s * width + c];
    }
  };
  prefix(g.segment_exceed_cell, cells, t.exceed_cell);
  prefix(g.segment_exceed_max, cells, t.exceed_max);
  prefix(g.segment_sensitivity_exceed_cell, kcells, t.sensitivity_exceed_cell);
  prefix(g.segment_sensitivity_exceed_max, kcells, t.sensitivity_exceed_max);
  t.permutations.end = m;
  t.permutations_done = m;
  t.null_max.resize(static_cast<std::size_t>(m));
  if (t.keep_cells) t.null_cells.resize(static_cast<std::size_t>(m) * cells);
  if (g.sensitivity_ks > 0) t.sensitivity_null_max.resize(static_cast<std::size_t>(m * g.sensitivity_ks));
  return t;
}

}  // namespace

Verdict verdict_for(double p_encoded, double min_p_fwer, bool permuted, double alpha) {
  if (std::isnan(p_encoded)) return Verdict::Untested;
  if (p_encoded > alpha) return Verdict::NotEncoded;
  if (!permuted) return Verdict::Encoded;
  return min_p_fwer <= alpha ? Verdict::EncodedUsed : Verdict::EncodedNotUsed;
}

void finalise(const RunState& whole, const AnalysisSettings& settings, AnalysisResult& result) {
  const std::size_t cells = result.cells.size();
  // Stopped on decisions: the statistics of the permutations up to the stop.
  // (A chunk's state, not starting at index 0, is only ever saved and merged.)
  const bool sequential = whole.look > 0 && whole.permutations.begin == 0 && whole.permutations.size() > 0;
  RunState stopped;
  if (sequential) {
    if (whole.segment_exceed_cell.size() < static_cast<std::size_t>((whole.permutations_done + whole.look - 1) / whole.look) * cells) {
      throw std::invalid_argument("finalise: the state's look segments do not cover its permutations");
    }
    result.sequential = sequential_stop(whole, settings);
    stopped = truncated(whole, result.sequential.permutations);
  }
  const RunState& state = sequential ? stopped : whole;
  const std::size_t ks = result.sensitivity.size();
  if (state.cells != static_cast<std::int64_t>(cells) || state.observed_abs.size() != cells ||
      state.score_null.size() != result.metadata.size() || state.sensitivity_ks != static_cast<std::int64_t>(ks) ||
      state.sensitivity_observed_abs.size() != ks * cells || state.sensitivity_exceed_cell.size() != ks * cells ||
      state.sensitivity_exceed_max.size() != ks * cells ||
      state.sensitivity_null_max.size() != ks * static_cast<std::size_t>(state.permutations.size())) {
    throw std::invalid_argument("finalise: the state's cells or tasks are not the result's");
  }
  result.alpha = settings.encodability.alpha;
  finalise_permutations(state, result);
  finalise_encodability(state, result);
  finalise_bootstrap(state, settings.bootstrap.level, result);

  const bool permuted = result.permutations > 0;
  for (std::size_t t = 0; t < result.metadata.size(); ++t) {
    double min_fwer = std::numeric_limits<double>::infinity();
    result.cells.for_each_in(t, [&](const Cell& c) {
      if (permuted && !std::isnan(result.p_fwer[c.index])) min_fwer = std::min(min_fwer, result.p_fwer[c.index]);
    });
    TaskResult& r = result.metadata[t];
    r.verdict = verdict_for(r.p_encoded, min_fwer, permuted, settings.encodability.alpha);
  }
}

}  // namespace wsc::engine

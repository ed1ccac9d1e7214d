#include "wsc/engine/run_state.hpp"

#include <cmath>
#include <sstream>
#include <string>

#include "wsc/core/checked.hpp"
#include "wsc/engine/settings.hpp"

namespace wsc::engine {

namespace {

std::string n(std::int64_t v) { return std::to_string(v); }

/// A double as a person writes it: "0", "1", "0.25", "nan".
std::string num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

/// A problem with `name` holding `size` values where `expected` belong.
std::string size_problem(const char* name, std::size_t size, std::int64_t expected) {
  if (expected >= 0 && size == static_cast<std::size_t>(expected)) return {};
  return std::string(name) + " holds " + std::to_string(size) + " values, " +
         (expected < 0 ? std::string("more than can be") : n(expected)) + " expected";
}

/// Counts of at most `most` each (exceedances among the permutations done).
std::string count_problem(const char* name, const std::vector<std::int64_t>& counts, std::int64_t most) {
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] < 0 || counts[i] > most)
      return std::string(name) + "[" + std::to_string(i) + "] = " + n(counts[i]) + " is outside [0, " + n(most) + "]";
  }
  return {};
}

/// Values in [lo, hi] (NaN outside).
std::string value_problem(const char* name, const std::vector<double>& values, double lo, double hi) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] >= lo && values[i] <= hi))
      return std::string(name) + "[" + std::to_string(i) + "] = " + num(values[i]) + " is outside [" + num(lo) +
             ", " + num(hi) + "]";
  }
  return {};
}

/// a * b, or -1 when it overflows (no size matches it then).
std::int64_t product(std::int64_t a, std::int64_t b) { return core::checked_mul(a, b).value_or(-1); }

}  // namespace

std::string state_problem(const RunState& s) {
  // |cos| is at most 1; rounding may put it a few ulps above.
  constexpr double kAbsCos = 1.0 + 1e-12;
  const auto range_problem = [](const char* name, const IndexRange& r, std::int64_t done) -> std::string {
    if (r.begin < 0 || r.end < r.begin || r.end > kMaxResamples)
      return std::string(name) + " range [" + n(r.begin) + ", " + n(r.end) + ") is impossible";
    if (done < 0 || done > r.size())
      return std::string(name) + " done = " + n(done) + " is outside [0, " + n(r.size()) + "]";
    return {};
  };
  for (const std::string& p : {range_problem("permutations", s.permutations, s.permutations_done),
                               range_problem("encodability", s.encodability, s.encodability_done),
                               range_problem("bootstrap", s.bootstrap, s.bootstrap_done)}) {
    if (!p.empty()) return p;
  }
  if (s.cells < 0 || s.cells > std::int64_t{kMaxClasses} * kMaxClasses) return "cells = " + n(s.cells) + " is impossible";
  if (s.sensitivity_ks < 0 || s.sensitivity_ks > 64) return "sensitivity k count " + n(s.sensitivity_ks) + " is impossible";
  if (s.look < 0 || s.look > kMaxResamples) return "look = " + n(s.look) + " is impossible";
  const std::int64_t perms = s.permutations.size();
  const std::int64_t k_cells = product(s.sensitivity_ks, s.cells);
  const std::int64_t segments = s.look > 0 ? core::ceil_div(perms, s.look) : 0;
  for (const std::string& p : {
           size_problem("observed_abs", s.observed_abs.size(), s.cells),
           size_problem("exceed_cell", s.exceed_cell.size(), s.cells),
           size_problem("exceed_max", s.exceed_max.size(), s.cells),
           size_problem("null_max", s.null_max.size(), perms),
           size_problem("null_cells", s.null_cells.size(), s.keep_cells ? product(perms, s.cells) : 0),
           size_problem("sensitivity_observed_abs", s.sensitivity_observed_abs.size(), k_cells),
           size_problem("sensitivity_exceed_cell", s.sensitivity_exceed_cell.size(), k_cells),
           size_problem("sensitivity_exceed_max", s.sensitivity_exceed_max.size(), k_cells),
           size_problem("sensitivity_null_max", s.sensitivity_null_max.size(), product(perms, s.sensitivity_ks)),
           size_problem("segment_exceed_cell", s.segment_exceed_cell.size(), product(segments, s.cells)),
           size_problem("segment_exceed_max", s.segment_exceed_max.size(), product(segments, s.cells)),
           size_problem("segment_sensitivity_exceed_cell", s.segment_sensitivity_exceed_cell.size(),
                        product(segments, k_cells)),
           size_problem("segment_sensitivity_exceed_max", s.segment_sensitivity_exceed_max.size(),
                        product(segments, k_cells)),
           size_problem("boot_cells", s.boot_cells.size(), product(s.bootstrap.size(), s.cells)),
           count_problem("exceed_cell", s.exceed_cell, s.permutations_done),
           count_problem("exceed_max", s.exceed_max, s.permutations_done),
           count_problem("sensitivity_exceed_cell", s.sensitivity_exceed_cell, s.permutations_done),
           count_problem("sensitivity_exceed_max", s.sensitivity_exceed_max, s.permutations_done),
           count_problem("segment_exceed_cell", s.segment_exceed_cell, s.look),
           count_problem("segment_exceed_max", s.segment_exceed_max, s.look),
           count_problem("segment_sensitivity_exceed_cell", s.segment_sensitivity_exceed_cell, s.look),
           count_problem("segment_sensitivity_exceed_max", s.segment_sensitivity_exceed_max, s.look),
           value_problem("observed_abs", s.observed_abs, 0.0, kAbsCos),
           value_problem("null_max", s.null_max, 0.0, kAbsCos),
           value_problem("null_cells", s.null_cells, -kAbsCos, kAbsCos),
           value_problem("sensitivity_observed_abs", s.sensitivity_observed_abs, 0.0, kAbsCos),
           value_problem("sensitivity_null_max", s.sensitivity_null_max, 0.0, kAbsCos),
           value_problem("boot_cells", s.boot_cells, -kAbsCos, kAbsCos),
       }) {
    if (!p.empty()) return p;
  }
  if (s.score_null.size() > static_cast<std::size_t>(kMaxClasses))
    return "score_null holds " + std::to_string(s.score_null.size()) + " tasks";
  for (const std::vector<double>& scores : s.score_null) {
    std::string p = size_problem("score_null", scores.size(), s.encodability.size());
    // A macro AUROC; NaN where a fold lacked a class.
    for (std::size_t i = 0; i < scores.size() && p.empty(); ++i) {
      if (!std::isnan(scores[i]) && !(scores[i] >= 0.0 && scores[i] <= 1.0))
        p = "score_null[" + std::to_string(i) + "] = " + num(scores[i]) + " is outside [0, 1]";
    }
    if (!p.empty()) return p;
  }
  if (s.permutation_fits < 0 || s.permutation_unconverged < 0 || s.permutation_max_iterations < 0 ||
      s.encodability_fits < 0 || !(s.permutation_max_grad >= 0.0))
    return "a fit counter is negative";
  return {};
}

}  // namespace wsc::engine

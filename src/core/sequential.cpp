#include "wsc/core/sequential.hpp"

#include "wsc/core/pvalues.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace wsc::core {

double look_error(double risk, std::int64_t look) {
  if (look < 1) throw std::invalid_argument("look_error: looks count from 1, got " + std::to_string(look));
  const double j = static_cast<double>(look);
  return risk / (j * (j + 1.0));
}

namespace {

/// -1: settled below or at alpha, +1: settled above, 0: not settled.
int side(const PInterval& i, double alpha) {
  if (i.hi <= alpha) return -1;
  if (i.lo > alpha) return 1;
  return 0;
}

}  // namespace

std::vector<bool> settled_cells(const std::vector<double>& observed, const std::vector<std::int64_t>& exceed_cell,
                                const std::vector<std::int64_t>& exceed_max, std::int64_t m, std::int64_t look,
                                const StopRule& rule) {
  const std::size_t cells = observed.size();
  if (exceed_cell.size() != cells || exceed_max.size() != cells) {
    throw std::invalid_argument("settled_cells: counts of " + std::to_string(exceed_cell.size()) + " and " +
                                std::to_string(exceed_max.size()) + " cells for " + std::to_string(cells));
  }
  std::vector<bool> settled(cells, true);
  if (m <= 0) {
    for (std::size_t c = 0; c < cells; ++c) settled[c] = std::isnan(observed[c]);
    return settled;
  }
  const double error = look_error(rule.risk, look);
  std::size_t tested = 0;
  for (double v : observed) tested += std::isnan(v) ? 0 : 1;
  // q_fdr: BH is monotone in every p, so its decisions are settled where
  // they agree with every p at its lower and at its upper limit (limits
  // holding jointly: the look's error shared by the cells).
  std::vector<double> p_lo(cells, std::nan("")), p_hi(cells, std::nan(""));
  if (rule.q_fdr && tested > 0) {
    const double shared = error / static_cast<double>(tested);
    for (std::size_t c = 0; c < cells; ++c) {
      if (std::isnan(observed[c])) continue;
      const PInterval i = p_interval(exceed_cell[c], m, shared);
      p_lo[c] = i.lo;
      p_hi[c] = i.hi;
    }
  }
  const std::vector<double> q_lo = rule.q_fdr ? bh_qvalues(p_lo) : std::vector<double>{};
  const std::vector<double> q_hi = rule.q_fdr ? bh_qvalues(p_hi) : std::vector<double>{};
  for (std::size_t c = 0; c < cells; ++c) {
    if (std::isnan(observed[c])) continue;
    bool ok = true;
    if (rule.p_fwer) ok = ok && side(p_interval(exceed_max[c], m, error), rule.alpha) != 0;
    if (rule.p_perm) ok = ok && side(p_interval(exceed_cell[c], m, error), rule.alpha) != 0;
    if (rule.q_fdr) ok = ok && ((q_lo[c] <= rule.alpha) == (q_hi[c] <= rule.alpha));
    settled[c] = ok;
  }
  return settled;
}

}  // namespace wsc::core

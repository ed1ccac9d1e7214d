#include "rounds.hpp"

#include "wsc/core/checked.hpp"

#include <algorithm>
#include <stdexcept>

namespace wsc::engine::detail {

namespace {

/// Sums a large buffer over groups in pieces (bounded message size).
void combine_in_pieces(const Layout& layout, double* data, std::size_t count) {
  const std::size_t piece = std::size_t{1} << 20;
  for (std::size_t at = 0; at < count; at += piece) {
    layout.combine(data + at, std::min(piece, count - at));
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

PhaseProgress::PhaseProgress(const ProgressFn& fn, const par::Communicator& world, std::string phase,
                             std::int64_t total)
    : fn_(world.is_root() ? fn : ProgressFn{}), phase_(std::move(phase)), total_(total) {}

void PhaseProgress::update(std::int64_t done) {
  if (fn_) fn_(phase_, done, total_);
}

void PhaseProgress::update_share(std::int64_t part_done, std::int64_t part_total) {
  if (!fn_) return;
  if (part_done >= part_total) return update(total_);
  update(static_cast<std::int64_t>(static_cast<double>(total_) * static_cast<double>(part_done) /
                                   static_cast<double>(part_total)));
}

Checkpointer::Checkpointer(const Layout& layout, const RunControl& control, const RunState& local)
    : layout_(layout), control_(control), local_(local), last_(std::chrono::steady_clock::now()) {}

RunState Checkpointer::capture() const {
  RunState g = local_;
  g.fingerprint = control_.fingerprint;
  g.description = control_.description;
  combine_in_pieces(layout_, g.null_max.data(), g.null_max.size());
  combine_in_pieces(layout_, g.null_cells.data(), g.null_cells.size());
  combine_in_pieces(layout_, g.boot_cells.data(), g.boot_cells.size());
  combine_in_pieces(layout_, g.sensitivity_null_max.data(), g.sensitivity_null_max.size());
  for (auto& scores : g.score_null) combine_in_pieces(layout_, scores.data(), scores.size());
  std::vector<std::int64_t> counts(g.exceed_cell);
  counts.insert(counts.end(), g.exceed_max.begin(), g.exceed_max.end());
  counts.insert(counts.end(), g.sensitivity_exceed_cell.begin(), g.sensitivity_exceed_cell.end());
  counts.insert(counts.end(), g.sensitivity_exceed_max.begin(), g.sensitivity_exceed_max.end());
  for (auto* v : {&g.segment_exceed_cell, &g.segment_exceed_max, &g.segment_sensitivity_exceed_cell,
                  &g.segment_sensitivity_exceed_max}) {
    counts.insert(counts.end(), v->begin(), v->end());
  }
  counts.push_back(g.permutation_fits);
  counts.push_back(g.permutation_unconverged);
  counts.push_back(g.encodability_fits);
  layout_.combine(counts.data(), counts.size());
  const auto nc = static_cast<std::ptrdiff_t>(g.exceed_cell.size());
  std::copy(counts.begin(), counts.begin() + nc, g.exceed_cell.begin());
  std::copy(counts.begin() + nc, counts.begin() + 2 * nc, g.exceed_max.begin());
  const auto ns = static_cast<std::ptrdiff_t>(g.sensitivity_exceed_cell.size());
  auto at = counts.begin() + 2 * nc;
  std::copy(at, at + ns, g.sensitivity_exceed_cell.begin());
  std::copy(at + ns, at + 2 * ns, g.sensitivity_exceed_max.begin());
  at += 2 * ns;
  for (auto* v : {&g.segment_exceed_cell, &g.segment_exceed_max, &g.segment_sensitivity_exceed_cell,
                  &g.segment_sensitivity_exceed_max}) {
    std::copy(at, at + static_cast<std::ptrdiff_t>(v->size()), v->begin());
    at += static_cast<std::ptrdiff_t>(v->size());
  }
  g.permutation_fits = at[0];
  g.permutation_unconverged = at[1];
  g.encodability_fits = at[2];
  if (layout_.groups() > 1) {
    g.permutation_max_iterations = layout_.world().max(g.permutation_max_iterations);
    g.permutation_max_grad = layout_.world().max(g.permutation_max_grad);
  }
  return g;
}

void Checkpointer::round() {
  const bool stop = control_.stop_requested && control_.stop_requested();
  const bool due = layout_.world().is_root() && control_.save && control_.checkpoint_seconds > 0 &&
                   seconds_since(last_) >= control_.checkpoint_seconds;
  const std::int64_t what = layout_.world().max(static_cast<std::int64_t>(stop ? 2 : due ? 1 : 0));
  if (what == 0) return;
  save();
  if (what == 2) throw Interrupted("stopped on request; the state was saved");
}

void Checkpointer::save() {
  if (!control_.save) return;
  const RunState g = capture();
  bool ok = true;
  std::string message;
  if (layout_.world().is_root()) {
    try {
      control_.save(g);
    } catch (const std::exception& e) {
      ok = false;
      message = e.what();
    }
  }
  layout_.world().agree(ok, message);
  last_ = std::chrono::steady_clock::now();
}

RunState start_state(const PhaseRanges& ranges, const std::vector<double>& observed_abs,
                     const std::vector<double>& sensitivity_abs, std::int64_t ks, std::int64_t look, std::size_t tasks,
                     std::int64_t keep_null_limit, const RunControl& control, bool world_root) {
  const auto cells = static_cast<std::int64_t>(observed_abs.size());
  RunState local;
  local.permutations = ranges.permutations;
  local.encodability = ranges.encodability;
  local.bootstrap = ranges.bootstrap;
  local.cells = cells;
  local.keep_cells = core::saturating_mul(ranges.permutations.size(), cells) <= keep_null_limit;
  local.observed_abs = observed_abs;
  local.exceed_cell.assign(observed_abs.size(), 0);
  local.exceed_max.assign(observed_abs.size(), 0);
  local.null_max.assign(core::size_from_count(ranges.permutations.size(), 1, 8, "permutation.count"), 0.0);
  if (local.keep_cells) {
    local.null_cells.assign(core::size_from_count(ranges.permutations.size(), cells, 8, "permutation.count"), 0.0);
  }
  const std::size_t encodability = core::size_from_count(ranges.encodability.size(), 1, 8, "encodability.permutations");
  local.score_null.assign(tasks, std::vector<double>(encodability, 0.0));
  if (cells > 0) {
    local.boot_cells.assign(core::size_from_count(ranges.bootstrap.size(), cells, 8, "bootstrap.count"), 0.0);
  }
  local.sensitivity_ks = ks;
  local.sensitivity_observed_abs = sensitivity_abs;
  local.sensitivity_exceed_cell.assign(sensitivity_abs.size(), 0);
  local.sensitivity_exceed_max.assign(sensitivity_abs.size(), 0);
  local.sensitivity_null_max.assign(core::size_from_count(ranges.permutations.size(), ks, 8, "permutation.count"), 0.0);
  local.look = look;
  if (look > 0) {
    if (ranges.permutations.begin % look != 0) {
      throw std::invalid_argument("the permutation range does not start at a look (every " + std::to_string(look) +
                                  " permutations)");
    }
    const auto segments = static_cast<std::size_t>(core::ceil_div(ranges.permutations.size(), look));
    local.segment_exceed_cell.assign(segments * observed_abs.size(), 0);
    local.segment_exceed_max.assign(segments * observed_abs.size(), 0);
    local.segment_sensitivity_exceed_cell.assign(segments * sensitivity_abs.size(), 0);
    local.segment_sensitivity_exceed_max.assign(segments * sensitivity_abs.size(), 0);
  }
  if (control.resume == nullptr) return local;

  const RunState& r = *control.resume;
  const bool fits = r.permutations == local.permutations && r.encodability == local.encodability &&
                    r.bootstrap == local.bootstrap && r.cells == cells && r.keep_cells == local.keep_cells &&
                    r.score_null.size() == local.score_null.size() &&
                    r.null_max.size() == local.null_max.size() &&
                    r.null_cells.size() == local.null_cells.size() &&
                    r.boot_cells.size() == local.boot_cells.size() &&
                    r.exceed_cell.size() == local.exceed_cell.size() &&
                    r.exceed_max.size() == local.exceed_max.size() &&
                    r.observed_abs.size() == local.observed_abs.size() && r.sensitivity_ks == ks &&
                    r.sensitivity_observed_abs.size() == sensitivity_abs.size() &&
                    r.sensitivity_exceed_cell.size() == sensitivity_abs.size() &&
                    r.sensitivity_exceed_max.size() == sensitivity_abs.size() &&
                    r.sensitivity_null_max.size() == local.sensitivity_null_max.size() && r.look == look &&
                    r.segment_exceed_cell.size() == local.segment_exceed_cell.size() &&
                    r.segment_exceed_max.size() == local.segment_exceed_max.size() &&
                    r.segment_sensitivity_exceed_cell.size() == local.segment_sensitivity_exceed_cell.size() &&
                    r.segment_sensitivity_exceed_max.size() == local.segment_sensitivity_exceed_max.size();
  if (!fits) throw std::invalid_argument("the saved state does not match this analysis (ranges or cells differ)");
  // Counts were made against the saved statistic: keep using it.
  local.observed_abs = r.observed_abs;
  local.sensitivity_observed_abs = r.sensitivity_observed_abs;
  local.permutations_done = r.permutations_done;
  local.encodability_done = r.encodability_done;
  local.bootstrap_done = r.bootstrap_done;
  if (world_root) {
    local = r;
  }
  return local;
}

}  // namespace wsc::engine::detail

// The randomised phases of an analysis: encodability null, permutation null,
// bootstrap. Each runs its index range in rounds (rounds.hpp) and adds what
// it finds to this group's share of the run state.
#include "phases.hpp"
#include "task_fits.hpp"

#include "wsc/core/permutation.hpp"
#include "wsc/core/pvalues.hpp"
#include "wsc/core/wsc_matrix.hpp"
#include "wsc/engine/distributed_fit.hpp"
#include "wsc/engine/finalise.hpp"

#include <algorithm>
#include <cmath>

namespace wsc::engine::detail {

namespace {

std::vector<std::vector<std::int64_t>> permutations_of(const PhaseContext& ctx, std::int64_t lo, std::int64_t hi) {
  std::vector<std::vector<std::int64_t>> perms;
  perms.reserve(static_cast<std::size_t>(hi - lo));
  for (std::int64_t b = lo; b < hi; ++b) {
    perms.push_back(permutation_for(ctx.input, ctx.settings.permutation, static_cast<std::uint64_t>(b)));
  }
  return perms;
}

/// Cross-validated macro AUROC of a batch of permuted labellings of task t
/// (folds fixed): scores of [lo, hi) into local.score_null[t].
void encodability_item(const PhaseContext& ctx, std::size_t t, const std::vector<std::vector<std::int64_t>>& perms,
                       std::int64_t row0, RunState& local) {
  const AnalysisInput& input = ctx.input;
  const int folds = ctx.settings.cv.folds;
  const TaskLabels& task = input.metadata[t];
  const std::vector<int>& fold = ctx.observed.metadata[t].quality.fold_of_row;
  std::vector<core::Labels> permuted, train;
  for (const auto& perm : perms) {
    permuted.push_back(core::permute(task.labels, perm));
    for (int f = 0; f < folds; ++f) train.push_back(training_labels(permuted.back(), fold, f));
  }
  const par::Communicator& comm = ctx.layout.group();
  std::vector<core::FitReport> reports;
  const std::vector<core::ProbeHead> heads =
      fit_group_probes(input.x, local_labels(train, input.row_begin, input.x.rows()), task.classes,
                       ctx.settings.probe, comm.sum_reduce(), ctx.invariants, &reports, nullptr,
                       &ctx.encodability_stats);
  local.encodability_fits += static_cast<std::int64_t>(heads.size());
  for (std::size_t k = 0; k < perms.size(); ++k) {
    std::vector<double> auroc;
    for (int f = 0; f < folds; ++f) {
      const TaskMetrics m = evaluate_rows(
          input.x, input.row_begin, permuted[k], heads[k * static_cast<std::size_t>(folds) + static_cast<std::size_t>(f)],
          [&](std::int64_t i) { return fold[static_cast<std::size_t>(i)] == f; }, comm);
      auroc.push_back(m.auroc);
    }
    local.score_null[t][static_cast<std::size_t>(row0) + k] = core::mean_sd(auroc).mean;
  }
}

/// This rank's rows of task t's labels under permutation b: row i takes the
/// label of row perm[i]. The permutation (N entries) lives only while the
/// rows are taken.
core::Labels permuted_local_labels(const PhaseContext& ctx, std::size_t t, std::int64_t b) {
  const AnalysisInput& input = ctx.input;
  const std::vector<std::int64_t> perm = permutation_for(input, ctx.settings.permutation, static_cast<std::uint64_t>(b));
  const core::Labels& labels = input.metadata[t].labels;
  core::Labels y(static_cast<std::size_t>(input.x.rows()));
  for (std::size_t i = 0; i < y.size(); ++i) {
    y[i] = labels[static_cast<std::size_t>(perm[static_cast<std::size_t>(input.row_begin) + i])];
  }
  return y;
}

/// One permutation's |cos| of every cell, and at each k of [pca]
/// sensitivity (k-major, ks x cells).
struct PermutedCells {
  std::vector<double> cells, sensitivity;
};

/// |cos| of every cell for each permutation of [lo, hi): one batched refit
/// of each metadata probe. Labels are made for this rank's rows only, one
/// task at a time.
std::vector<PermutedCells> permuted_cells(const PhaseContext& ctx, std::int64_t lo, std::int64_t hi,
                                          RunState& local) {
  const AnalysisInput& input = ctx.input;
  const AnalysisResult& obs = ctx.observed;
  const SensitivityResult& sens = obs.sensitivity;
  const auto count = static_cast<std::size_t>(hi - lo);
  const std::size_t ncells = obs.cells.size();
  std::vector<PermutedCells> out(count);
  for (PermutedCells& p : out) {
    p.cells.assign(ncells, 0.0);
    p.sensitivity.assign(sens.size() * ncells, 0.0);
  }
  for (std::size_t t = 0; t < input.metadata.size(); ++t) {
    std::vector<core::Labels> labels;
    labels.reserve(count);
    for (std::int64_t b = lo; b < hi; ++b) labels.push_back(permuted_local_labels(ctx, t, b));
    std::vector<core::FitReport> reports;
    const std::vector<core::ProbeHead> heads =
        fit_group_probes(input.x, labels, input.metadata[t].classes, ctx.settings.probe,
                         ctx.layout.group().sum_reduce(), ctx.invariants, &reports, nullptr, &ctx.permutation_stats);
    labels.clear();
    for (std::size_t k = 0; k < count; ++k) {
      ++local.permutation_fits;
      if (!reports[k].converged) ++local.permutation_unconverged;
      local.permutation_max_iterations = std::max<std::int64_t>(local.permutation_max_iterations, reports[k].iterations);
      local.permutation_max_grad = std::max(local.permutation_max_grad, reports[k].grad_max_norm);
      const core::Matrix cos = core::cosine_matrix(obs.primary.projected, core::project_head(heads[k].weight, obs.pca));
      obs.cells.for_each_in(t, [&](const Cell& c) { out[k].cells[c.index] = std::fabs(cos(c.i, c.j)); });
      for (std::size_t s = 0; s < sens.size(); ++s) {
        const core::Matrix at_k =
            core::cosine_matrix(sens.primary[s], core::project_head(heads[k].weight, sens.bases[s]));
        obs.cells.for_each_in(
            t, [&](const Cell& c) { out[k].sensitivity[s * ncells + c.index] = std::fabs(at_k(c.i, c.j)); });
      }
    }
  }
  return out;
}

/// Adds one round's permuted values to the counts against `observed`
/// (families of `cells` entries: one, or one per k) and writes each
/// permutation's max per family to `null_max` (row `row0 + k`, `families` wide).
void count_round(const std::vector<double>& observed, std::size_t cells, const std::vector<std::vector<double>>& permuted,
                 std::int64_t row0, std::vector<std::int64_t>& exceed_cell, std::vector<std::int64_t>& exceed_max,
                 std::vector<double>& null_max) {
  if (cells == 0) return;
  const std::size_t families = observed.size() / cells;
  for (std::size_t f = 0; f < families; ++f) {
    const auto begin = static_cast<std::ptrdiff_t>(f * cells);
    core::NullAccumulator counts(std::vector<double>(observed.begin() + begin, observed.begin() + begin + static_cast<std::ptrdiff_t>(cells)));
    for (std::size_t k = 0; k < permuted.size(); ++k) {
      const std::vector<double> one(permuted[k].begin() + begin, permuted[k].begin() + begin + static_cast<std::ptrdiff_t>(cells));
      counts.add(one);
      double mx = 0.0;
      for (double v : one) {
        if (!std::isnan(v)) mx = std::max(mx, v);
      }
      null_max[static_cast<std::size_t>(row0 + static_cast<std::int64_t>(k)) * families + f] = mx;
    }
    for (std::size_t c = 0; c < cells; ++c) {
      exceed_cell[f * cells + c] += counts.exceed_cell()[c];
      exceed_max[f * cells + c] += counts.exceed_max()[c];
    }
  }
}

/// The primary head's projection for each resample: the file's head, or the
/// primary probe refitted with the resample's weights.
std::vector<core::Matrix> bootstrap_primary(const PhaseContext& ctx, const std::vector<core::Vector>& weights) {
  const AnalysisInput& input = ctx.input;
  std::vector<core::Matrix> primary(weights.size(), ctx.observed.primary.projected);
  if (input.primary_from_file) return primary;
  const std::vector<core::Labels> labels(weights.size(),
                                         local_labels(input.primary_labels->labels, input.row_begin, input.x.rows()));
  const std::vector<core::ProbeHead> heads =
      fit_group_probes(input.x, labels, input.primary_labels->classes, ctx.settings.probe,
                       ctx.layout.group().sum_reduce(), ctx.invariants, nullptr, &weights, &ctx.bootstrap_stats);
  for (std::size_t k = 0; k < weights.size(); ++k) primary[k] = core::project_head(heads[k].weight, ctx.observed.pca);
  return primary;
}

/// Bootstrap multiplicities of resample b, keyed by (seed, b) alone: N rows
/// drawn with replacement, or, with CV groups (patients), as many groups
/// drawn with replacement, each bringing all its rows.
core::Vector bootstrap_weights(std::uint64_t seed, std::uint64_t b, std::int64_t rows,
                               const std::vector<std::int64_t>& groups) {
  // A stream of its own, apart from the permutations' (seed, b) streams.
  const std::uint64_t key = seed ^ 0x9e3779b97f4a7c15ULL;
  core::Vector w = core::Vector::Zero(static_cast<core::Index>(rows));
  if (groups.empty()) {
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto pick =
          core::keyed_uniform(key, b, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(rows));
      w(static_cast<core::Index>(pick)) += 1.0;
    }
    return w;
  }
  std::vector<std::int64_t> ids(groups);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<double> draws(ids.size(), 0.0);
  for (std::size_t g = 0; g < ids.size(); ++g) draws[core::keyed_uniform(key, b, g, ids.size())] += 1.0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto at = std::lower_bound(ids.begin(), ids.end(), groups[static_cast<std::size_t>(i)]);
    w(static_cast<core::Index>(i)) = draws[static_cast<std::size_t>(at - ids.begin())];
  }
  return w;
}

}  // namespace

void run_encodability(const PhaseContext& ctx, const IndexRange& range, RunState& local) {
  if (range.size() == 0 || ctx.input.metadata.empty()) return;
  PhaseProgress tracker(ctx.progress, ctx.layout.world(), "encodability", range.size());
  run_rounds(ctx.layout, range, local.encodability_done, ctx.items.encodability, tracker, ctx.checkpointer,
             [&](std::int64_t lo, std::int64_t hi) {
               const auto perms = permutations_of(ctx, lo, hi);
               for (std::size_t t = 0; t < ctx.input.metadata.size(); ++t) {
                 encodability_item(ctx, t, perms, lo - range.begin, local);
               }
             });
}

namespace {

/// Adds `from` to `to` element-wise.
void add_to(std::vector<std::int64_t>& to, const std::vector<std::int64_t>& from) {
  for (std::size_t i = 0; i < to.size(); ++i) to[i] += from[i];
}

/// The global counts of the look segments done, summed on world rank 0
/// segment by segment as they complete (so a run of L looks sends each
/// segment once), and the stop rule's verdict at each look.
class LookCounts {
 public:
  LookCounts(const PhaseContext& ctx, const RunState& local) : ctx_(ctx), local_(local) {
    cell_.assign(local.observed_abs.size(), 0);
    max_.assign(local.observed_abs.size(), 0);
  }

  /// Collective: are all decisions settled after the first `m` permutations (a look)?
  bool settled(std::int64_t m) {
    const std::size_t cells = cell_.size();
    const auto segments = static_cast<std::size_t>((m + local_.look - 1) / local_.look);
    std::vector<std::int64_t> counts;
    for (std::size_t s = summed_; s < segments; ++s) {
      const auto at = static_cast<std::ptrdiff_t>(s * cells);
      counts.insert(counts.end(), local_.segment_exceed_cell.begin() + at,
                    local_.segment_exceed_cell.begin() + at + static_cast<std::ptrdiff_t>(cells));
      counts.insert(counts.end(), local_.segment_exceed_max.begin() + at,
                    local_.segment_exceed_max.begin() + at + static_cast<std::ptrdiff_t>(cells));
    }
    ctx_.layout.combine(counts.data(), counts.size());
    for (std::size_t s = 0; s < segments - summed_; ++s) {
      for (std::size_t c = 0; c < cells; ++c) {
        cell_[c] += counts[2 * s * cells + c];
        max_[c] += counts[(2 * s + 1) * cells + c];
      }
    }
    summed_ = segments;
    // World rank 0 holds every share (a resumed state enters there), so it decides.
    std::int64_t all = 0;
    if (ctx_.layout.world().is_root()) {
      const std::vector<bool> settled = core::settled_cells(local_.observed_abs, cell_, max_, m,
                                                            static_cast<std::int64_t>(segments), stop_rule(ctx_.settings));
      all = std::all_of(settled.begin(), settled.end(), [](bool b) { return b; }) ? 1 : 0;
    }
    return ctx_.layout.world().max(all) == 1;
  }

 private:
  const PhaseContext& ctx_;
  const RunState& local_;
  std::vector<std::int64_t> cell_, max_;
  std::size_t summed_ = 0;
};

}  // namespace

void run_permutations(const PhaseContext& ctx, const IndexRange& range, RunState& local) {
  if (range.size() == 0) return;
  const auto cells = static_cast<std::size_t>(local.cells);
  const std::int64_t look = local.look;
  PhaseProgress tracker(ctx.progress, ctx.layout.world(), "permutations", range.size());
  const auto round = [&](std::int64_t lo, std::int64_t hi) {
    const std::vector<PermutedCells> permuted = permuted_cells(ctx, lo, hi, local);
    const std::int64_t row0 = lo - range.begin;
    std::vector<std::vector<double>> main, at_k;
    for (const PermutedCells& p : permuted) {
      main.push_back(p.cells);
      at_k.push_back(p.sensitivity);
    }
    // This round's counts, added to the totals and to its look segment.
    std::vector<std::int64_t> cell(cells, 0), max(cells, 0);
    std::vector<std::int64_t> k_cell(local.sensitivity_exceed_cell.size(), 0), k_max(k_cell.size(), 0);
    count_round(local.observed_abs, cells, main, row0, cell, max, local.null_max);
    count_round(local.sensitivity_observed_abs, cells, at_k, row0, k_cell, k_max, local.sensitivity_null_max);
    add_to(local.exceed_cell, cell);
    add_to(local.exceed_max, max);
    add_to(local.sensitivity_exceed_cell, k_cell);
    add_to(local.sensitivity_exceed_max, k_max);
    if (look > 0) {
      const auto segment = static_cast<std::size_t>(row0 / look);
      const auto add_segment = [&](std::vector<std::int64_t>& seg, const std::vector<std::int64_t>& v) {
        for (std::size_t c = 0; c < v.size(); ++c) seg[segment * v.size() + c] += v[c];
      };
      add_segment(local.segment_exceed_cell, cell);
      add_segment(local.segment_exceed_max, max);
      add_segment(local.segment_sensitivity_exceed_cell, k_cell);
      add_segment(local.segment_sensitivity_exceed_max, k_max);
    }
    if (local.keep_cells) {
      for (std::size_t k = 0; k < main.size(); ++k) {
        std::copy(main[k].begin(), main[k].end(),
                  local.null_cells.begin() + (row0 + static_cast<std::int64_t>(k)) * static_cast<std::ptrdiff_t>(cells));
      }
    }
  };
  if (look == 0) {
    run_rounds(ctx.layout, range, local.permutations_done, ctx.items.permutations, tracker, ctx.checkpointer, round);
    return;
  }
  // Look segments: no round crosses a look, so every layout and chunk cuts
  // the same batches; a whole run stops at the first look where every
  // decision is settled.
  LookCounts counts(ctx, local);
  while (true) {
    const std::int64_t at = range.begin + local.permutations_done;
    if (ctx.may_stop_early && at > range.begin && (at % look == 0 || at == range.end) && counts.settled(at)) break;
    if (at >= range.end) break;
    const std::int64_t segment_end = std::min(range.end, (at / look + 1) * look);
    run_rounds(ctx.layout, IndexRange{range.begin, segment_end}, local.permutations_done, ctx.items.permutations,
               tracker, ctx.checkpointer, round);
  }
}

void run_bootstrap(const PhaseContext& ctx, const IndexRange& range, RunState& local) {
  if (range.size() == 0 || local.cells == 0) return;
  const AnalysisInput& input = ctx.input;
  const CellIndex& cells = ctx.observed.cells;
  PhaseProgress tracker(ctx.progress, ctx.layout.world(), "bootstrap", range.size());
  run_rounds(ctx.layout, range, local.bootstrap_done, ctx.items.bootstrap, tracker, ctx.checkpointer,
             [&](std::int64_t lo, std::int64_t hi) {
               // This rank's rows of each resample's weights.
               std::vector<core::Vector> weights;
               for (std::int64_t b = lo; b < hi; ++b) {
                 weights.push_back(bootstrap_weights(ctx.settings.bootstrap.seed, static_cast<std::uint64_t>(b),
                                                     input.rows, input.cv_groups)
                                       .segment(static_cast<core::Index>(input.row_begin), input.x.rows()));
               }
               const std::vector<core::Matrix> primary = bootstrap_primary(ctx, weights);
               for (std::size_t t = 0; t < input.metadata.size(); ++t) {
                 const std::vector<core::Labels> labels(
                     weights.size(), local_labels(input.metadata[t].labels, input.row_begin, input.x.rows()));
                 const std::vector<core::ProbeHead> heads = fit_group_probes(
                     input.x, labels, input.metadata[t].classes, ctx.settings.probe,
                     ctx.layout.group().sum_reduce(), ctx.invariants, nullptr, &weights, &ctx.bootstrap_stats);
                 for (std::size_t k = 0; k < weights.size(); ++k) {
                   const core::Matrix cos =
                       core::cosine_matrix(primary[k], core::project_head(heads[k].weight, ctx.observed.pca));
                   const auto row = static_cast<std::size_t>(lo - range.begin) + k;
                   cells.for_each_in(t, [&](const Cell& c) {
                     local.boot_cells[row * cells.size() + c.index] = cos(c.i, c.j);
                   });
                 }
               }
             });
}

}  // namespace wsc::engine::detail

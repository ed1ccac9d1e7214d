#include "wsc/engine/analysis.hpp"

#include "phases.hpp"

#include "wsc/core/batched_newton.hpp"
#include "wsc/core/checked.hpp"
#include "wsc/core/exchangeability.hpp"
#include "wsc/core/permutation.hpp"
#include "wsc/engine/finalise.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace wsc::engine {

namespace {

/// Runs `phase` and records its wall time under `name`.
template <typename Phase>
void timed(AnalysisResult& result, const char* name, Phase&& phase) {
  const auto start = std::chrono::steady_clock::now();
  phase();
  result.timings.emplace_back(name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

/// The work of each phase with fits, and the GEMM rates measured here at
/// the shapes of the permutation batches (a tile of rows, d, B C columns).
std::vector<std::pair<std::string, FitPerformance>> performance_of(
    const AnalysisInput& input, const AnalysisSettings& settings, const ItemSizes& items,
    const std::vector<std::pair<std::string, double>>& timings,
    const std::vector<std::pair<std::string, core::BatchedFitStats>>& phases) {
  int max_classes = 2;
  for (const TaskLabels& task : input.metadata) max_classes = std::max(max_classes, task.classes);
  const core::Index d = input.x.cols();
  const core::Index tile = settings.probe.solver.tile_rows > 0 ? settings.probe.solver.tile_rows : core::tile_rows(d);
  const core::Index columns = std::max<core::Index>(1, items.permutations * max_classes);
  // Timed for 2% of the fits' kernel time (at most 0.2 s each), so short
  // runs pay next to nothing.
  double kernels = 0.0;
  for (const auto& [phase, stats] : phases) kernels += stats.evaluation_seconds + stats.hessian_seconds;
  const double budget = std::clamp(0.02 * kernels, 0.001, 0.2);
  const double rate_double = core::gemm_pair_rate(tile, d, columns, false, budget);
  const double rate_float = core::gemm_pair_rate(tile, d, 2 * columns, true, budget);
  std::vector<std::pair<std::string, FitPerformance>> out;
  for (const auto& [phase, stats] : phases) {
    if (stats.heads == 0) continue;
    FitPerformance p;
    p.stats = stats;
    p.gemm_rate_double = rate_double;
    p.gemm_rate_float = rate_float;
    for (const auto& [name, seconds] : timings) {
      if (name == phase || (phase == "observe" && name == "fit_and_cv")) p.seconds += seconds;
    }
    out.emplace_back(phase, p);
  }
  return out;
}

}  // namespace

ItemSizes item_sizes(const AnalysisInput& input, const AnalysisSettings& settings, int group_size) {
  int max_classes = 2;
  for (const TaskLabels& task : input.metadata) max_classes = std::max(max_classes, task.classes);
  if (input.primary_labels) max_classes = std::max(max_classes, input.primary_labels->classes);
  // From global sizes only, so every rank of a group agrees.
  const std::int64_t largest_block = (input.rows + group_size - 1) / std::max(group_size, 1);
  const std::int64_t batch = std::max<std::int64_t>(
      1, std::min<std::int64_t>(settings.batch, core::suggested_batch_heads(input.dim, max_classes)));
  ItemSizes s;
  s.permutations = batch;
  // A resample's weights and labels (12 bytes per row of the block) are held
  // for every head of a batch: at most about 128 MiB of them.
  s.bootstrap = std::max<std::int64_t>(
      1, std::min<std::int64_t>(
             batch, (std::int64_t{128} << 20) / std::max<std::int64_t>(1, core::saturating_mul(12, largest_block))));
  // About a batch of fold heads, with held-out probabilities of at most ~4M
  // doubles per item.
  const std::int64_t by_batch = std::max<std::int64_t>(1, batch / std::max(settings.cv.folds, 1));
  const std::int64_t by_memory =
      std::max<std::int64_t>(1, 4'000'000 / std::max<std::int64_t>(1, core::saturating_mul(input.rows, max_classes)));
  s.encodability = std::min(by_batch, by_memory);
  return s;
}

std::int64_t look_step(const AnalysisSettings& settings, const ItemSizes& items) {
  if (settings.permutation.stop != PermutationStop::Decisions) return 0;
  if (settings.permutation.look > 0) return settings.permutation.look;
  const std::int64_t item = std::max<std::int64_t>(1, items.permutations);
  return item * core::ceil_div(100, item);
}

std::vector<std::int64_t> permutation_for(const AnalysisInput& input, const PermutationSettings& permutation,
                                          std::uint64_t index) {
  switch (permutation.scheme) {
    case PermutationScheme::Within:
      return core::make_permutation_within(permutation.seed, index, input.permutation_strata);
    case PermutationScheme::Blocks:
      return core::make_block_permutation(permutation.seed, index, input.permutation_blocks);
    case PermutationScheme::Tree:
      return input.permutation_tree.permutation(permutation.seed, index);
    case PermutationScheme::Free: break;
  }
  return core::make_permutation(permutation.seed, index, input.rows);
}

std::vector<std::string> exchangeability_warnings(const AnalysisInput& input, const PermutationSettings& permutation) {
  std::vector<std::string> out;
  double log_count = 0.0;
  if (permutation.scheme == PermutationScheme::Blocks) {
    const core::BlockSizeClasses classes = core::block_size_classes(input.permutation_blocks);
    if (classes.fixed > 0) {
      out.push_back(std::to_string(classes.fixed) + " of " + std::to_string(classes.blocks) +
                    " permutation blocks are the only ones of their size and stay in place");
    }
    log_count = classes.log_permutations;
  } else if (permutation.scheme == PermutationScheme::Tree) {
    log_count = input.permutation_tree.log_permutations();
  } else {
    return out;
  }
  // Counts below permutation.count (< 2^63) are exact integers in a double.
  if (permutation.count > 0 && log_count < std::log(static_cast<double>(permutation.count)) - 1e-9) {
    out.push_back("permutation.scheme = \"" + std::string(to_string(permutation.scheme)) + "\" allows only " +
                  std::to_string(std::llround(std::exp(log_count))) +
                  " distinct permutations (the identity included), fewer than permutation.count = " +
                  std::to_string(permutation.count) + ": permutations repeat");
  }
  return out;
}

PhaseRanges whole_run(const AnalysisSettings& settings) {
  return {IndexRange{0, settings.permutation.count}, IndexRange{0, settings.encodability_count()},
          IndexRange{0, settings.bootstrap.count}};
}

AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const par::Communicator& comm, const ProgressFn& progress) {
  const Layout layout(comm);
  return run_analysis(input, settings, layout, progress);
}

AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings, const Layout& layout,
                            const ProgressFn& progress, const RunControl& control) {
  core::RowInvariants invariants;
  core::BatchedFitStats observe_stats, encodability_stats, permutation_stats, bootstrap_stats;
  AnalysisResult result =
      detail::observe(input, settings, layout, detail::FitShared{invariants, observe_stats}, progress);
  result.groups = layout.groups();
  result.group_size = layout.plan().group_size;
  result.layout_reason = layout.plan().reason;
  {
    const NodePlacement placement = node_placement(layout.plan());
    result.node_of_rank = layout.plan().node_of_rank;
    result.ranks_per_node = placement.ranks_per_node;
    result.group_nodes = placement.group_nodes;
    result.groups_spanning_nodes = placement.groups_spanning_nodes;
  }
  result.predicted_heads_per_second = layout.plan().predicted_heads_per_second;
  {
    LayoutRequest shape;
    shape.rows = input.rows;
    shape.dim = input.dim;
    shape.element_bytes = input.x.is_float() ? 4 : 8;
    shape.tasks = static_cast<int>(input.metadata.size());
    shape.classes = 2;
    for (const TaskLabels& task : input.metadata) shape.classes = std::max(shape.classes, task.classes);
    shape.batch = item_sizes(input, settings, layout.group().size()).permutations;
    const MemoryEstimate m = estimate_rank_memory(shape, layout.group().size());
    result.memory_rows = m.rows;
    result.memory_labels = m.labels;
    result.memory_batch = m.batch;
    result.memory_fixed = m.fixed;
  }

  // The randomised phases add to this group's share of the state (a resumed
  // state enters on world rank 0 only); the checkpointer sums the shares
  // over groups whenever a global view is needed.
  const PhaseRanges ranges = control.ranges.value_or(whole_run(settings));
  std::vector<double> observed_abs(result.cells.size());
  result.cells.for_each([&](const Cell& c) { observed_abs[c.index] = std::fabs(result.metadata[c.task].cos(c.i, c.j)); });
  const ItemSizes items = item_sizes(input, settings, layout.group().size());
  const std::int64_t look = look_step(settings, items);
  RunState local = detail::start_state(ranges, observed_abs, result.sensitivity.observed_abs(result.cells),
                                       static_cast<std::int64_t>(result.sensitivity.size()), look,
                                       input.metadata.size(), settings.keep_null_limit, control,
                                       layout.world().is_root());
  detail::Checkpointer checkpointer(layout, control, local);
  // Only a whole run stops early; a chunk runs its range and the merge applies the rule.
  const bool may_stop = look > 0 && !control.ranges.has_value();
  const detail::PhaseContext ctx{input,        settings,          layout,        result,
                                 items,        progress,          checkpointer,  invariants,
                                 encodability_stats, permutation_stats, bootstrap_stats, may_stop};

  timed(result, "encodability", [&] { detail::run_encodability(ctx, ranges.encodability, local); });
  timed(result, "permutations", [&] { detail::run_permutations(ctx, ranges.permutations, local); });
  timed(result, "bootstrap", [&] { detail::run_bootstrap(ctx, ranges.bootstrap, local); });

  if (layout.world().is_root()) {
    result.performance = performance_of(input, settings, items, result.timings,
                                        {{"observe", observe_stats},
                                         {"encodability", encodability_stats},
                                         {"permutations", permutation_stats},
                                         {"bootstrap", bootstrap_stats}});
  }

  // Everything over all groups; the final state is what a chunk reports.
  result.state = checkpointer.capture();
  finalise(result.state, settings, result);
  return result;
}

}  // namespace wsc::engine

#pragma once
// How the randomised phases advance (private to the engine): rounds of work
// items, one per rank group, after each of which progress is reported and
// the run may save its state or stop.
#include "wsc/engine/analysis.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace wsc::engine::detail {

/// Reports the progress of a phase (indices done of its range) on world rank 0.
class PhaseProgress {
 public:
  PhaseProgress(const ProgressFn& fn, const par::Communicator& world, std::string phase, std::int64_t total);
  void update(std::int64_t done);
  /// `part_done` of this rank's `part_total`, reported as that share of the
  /// phase's total (the ranks of a group go at about the same pace).
  void update_share(std::int64_t part_done, std::int64_t part_total);

 private:
  ProgressFn fn_;
  std::string phase_;
  std::int64_t total_;
};

/// The global view of the randomised phases' state, saved when due or when a
/// stop is requested. Collective: every rank calls round() at the same points.
class Checkpointer {
 public:
  Checkpointer(const Layout& layout, const RunControl& control, const RunState& local);

  /// The state summed over groups (on every rank).
  RunState capture() const;

  /// End of a round of work items: saves the state when the interval has
  /// passed (by world rank 0's clock) or any rank was asked to stop; after a
  /// stop, throws Interrupted on every rank.
  void round();

 private:
  void save();

  const Layout& layout_;
  const RunControl& control_;
  const RunState& local_;
  std::chrono::steady_clock::time_point last_;
};

/// This group's share of a run's state before any work: the ranges, the
/// observed statistic and zeroed accumulators; with `control.resume`, its
/// progress (every rank) and its accumulated values (world rank 0 only, so
/// that summing over groups counts them once). Throws std::invalid_argument
/// when the saved state does not fit.
/// `sensitivity_abs`: the observed |cos| at each k of [pca] sensitivity
/// (k-major, ks x cells; empty without it).
/// `look`: permutations between looks (0: permutation.stop = "fixed").
RunState start_state(const PhaseRanges& ranges, const std::vector<double>& observed_abs,
                     const std::vector<double>& sensitivity_abs, std::int64_t ks, std::int64_t look, std::size_t tasks,
                     std::int64_t keep_null_limit, const RunControl& control, bool world_root);

/// Runs the indices [range.begin + done, range.end) in work items of
/// `item` indices, item j of a round going to group j: rounds of one item
/// per group, after each of which `done` (the prefix finished) advances and
/// the checkpointer may save or stop. Progress is reported at the start and
/// after every round.
template <typename Work>
void run_rounds(const Layout& layout, const IndexRange& range, std::int64_t& done, std::int64_t item,
                PhaseProgress& progress, Checkpointer& checkpointer, Work work) {
  const std::int64_t groups = layout.groups();
  std::int64_t start = range.begin + done;
  progress.update(done);
  while (start < range.end) {
    const std::int64_t lo = start + layout.group_index() * item;
    if (lo < range.end) work(lo, std::min(lo + item, range.end));
    start = std::min(range.end, start + groups * item);
    done = start - range.begin;
    progress.update(done);
    checkpointer.round();
  }
}

}  // namespace wsc::engine::detail

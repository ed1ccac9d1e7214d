#pragma once
// How the ranks of a run are arranged: G groups of equal size S (G * S = R).
// Inside a group the embedding rows are sharded (each rank a contiguous
// block) and every fit is one collective over the group; the groups take
// disjoint sets of permutation indices, and what they found is combined over
// all ranks. Permutation b is drawn from (seed, b) alone, so the result does
// not depend on the layout.
#include "wsc/par/communicator.hpp"

#include <cstdint>
#include <string>

namespace wsc::engine {

/// What the automatic choice looks at.
struct LayoutRequest {
  std::int64_t rows = 0;           ///< N
  std::int64_t dim = 0;            ///< d
  int ranks = 1;                   ///< R
  int ranks_on_node = 1;           ///< ranks sharing one node's memory
  double available_bytes = 0.0;    ///< memory available on the node (0: unknown)
  int requested_groups = 0;        ///< 0: automatic; else forced (must divide R)
  std::int64_t parallel_items = 1; ///< independent work items (permutation batches)
};

struct LayoutPlan {
  int groups = 1;
  int group_size = 1;
  std::int64_t bytes_per_rank = 0;  ///< estimated peak of one rank in this layout
  std::string reason;               ///< one line for summary.json and the log
};

/// Estimated peak bytes of one rank holding `rows_per_rank` rows of dimension d.
std::int64_t estimated_rank_bytes(std::int64_t rows_per_rank, std::int64_t dim);

/// The layout: a forced group count is checked (1 <= G <= R, G divides R);
/// otherwise the most groups (the least sharding, no communication inside a
/// fit) such that every rank of a node fits in half the node's available
/// memory, and no more groups than there are work items. Throws
/// std::invalid_argument naming `parallel.groups` for an impossible request.
LayoutPlan plan_layout(const LayoutRequest& request);

/// The communicators of a plan: world and this rank's group (ranks
/// [g S, (g + 1) S) form group g, ranked in world order).
class Layout {
 public:
  /// Collective over world.
  Layout(const par::Communicator& world, const LayoutPlan& plan);
  /// One group holding every rank.
  explicit Layout(const par::Communicator& world);

  const par::Communicator& world() const { return *world_; }
  const par::Communicator& group() const { return group_; }
  int groups() const { return plan_.groups; }
  int group_index() const { return world_->rank() / plan_.group_size; }
  const LayoutPlan& plan() const { return plan_; }
  /// The rank that speaks for its group when results are combined.
  bool group_leader() const { return group_.is_root(); }

  /// Sums `data` over groups: each group's leader contributes its values,
  /// the other ranks zeros (their copies are the same as the leader's).
  /// Every rank gets the sum.
  void combine(double* data, std::size_t count) const;
  void combine(std::int64_t* data, std::size_t count) const;

 private:
  const par::Communicator* world_;
  LayoutPlan plan_;
  par::Communicator group_;
};

}  // namespace wsc::engine

#pragma once
// How the ranks of a run are arranged: G groups of equal size S (G * S = R).
// Inside a group the embedding rows are sharded (each rank a contiguous
// block) and every fit is one collective over the group; the groups take
// disjoint sets of permutation indices, and what they found is combined over
// all ranks. Permutation b is drawn from (seed, b) alone, so the result does
// not depend on the layout.
#include "wsc/engine/settings.hpp"
#include "wsc/par/communicator.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::engine {

/// What the automatic choice looks at.
struct LayoutRequest {
  std::int64_t rows = 0;           ///< N
  std::int64_t dim = 0;            ///< d
  int ranks = 1;                   ///< R
  int ranks_on_node = 1;           ///< ranks sharing one node's memory
  /// Ranks on each node (empty: one node holding every rank). A group size
  /// that does not divide every count would put a group across nodes.
  std::vector<int> ranks_per_node;
  double available_bytes = 0.0;    ///< memory available on the node (0: unknown)
  int requested_groups = 0;        ///< 0: automatic; else forced (must divide R)
  std::int64_t parallel_items = 1; ///< independent work items (permutation batches)
  int element_bytes = 8;           ///< 4: float32 rows (kept float), 8: float64
  int tasks = 1;                   ///< metadata tasks
  int classes = 10;                ///< the largest class count (a bound when not yet known)
  std::int64_t batch = 64;         ///< heads fitted together
  /// Measured costs (0: unknown, then only memory and work items decide):
  double gemm_rate = 0.0;          ///< flops/s of the passes' GEMMs on one rank
  double allreduce_latency = 0.0;  ///< seconds per allreduce call
  double allreduce_per_byte = 0.0; ///< seconds per byte of an allreduce
};

/// What one rank holds in a layout (bytes; estimate_rank_memory).
struct MemoryEstimate {
  double rows = 0.0;    ///< its block of rows at the file's precision
  double labels = 0.0;  ///< label columns, fold assignments, groups (N entries each, on every rank)
  double batch = 0.0;   ///< a batch's labels or weights of its rows, one permutation, tiles, held-out probabilities
  double fixed = 0.0;   ///< d x d matrices (covariance, its basis, PCA) and the runtime
  double total() const { return rows + labels + batch + fixed; }
};

struct LayoutPlan {
  int groups = 1;
  int group_size = 1;
  std::int64_t bytes_per_rank = 0;  ///< estimated peak of one rank in this layout
  MemoryEstimate memory;            ///< its parts
  double predicted_heads_per_second = 0.0;  ///< from the measured costs (0: not measured)
  std::string reason;               ///< one line for summary.json and the log
  /// Where the groups are (place_groups). Empty: group g is world ranks
  /// [g S, (g + 1) S), all on one node.
  std::vector<int> group_of_rank;   ///< per world rank: its group
  std::vector<int> rank_in_group;   ///< per world rank: its place in its group
  std::vector<int> node_of_rank;    ///< per world rank: its node (0, 1, ... in order of first rank)
  /// The group of world rank `rank` and its place in it.
  int group_of(int rank) const {
    return group_of_rank.empty() ? rank / group_size : group_of_rank[static_cast<std::size_t>(rank)];
  }
  int place_in_group(int rank) const {
    return rank_in_group.empty() ? rank % group_size : rank_in_group[static_cast<std::size_t>(rank)];
  }
};

/// How the groups of a plan sit on the nodes.
struct NodePlacement {
  int nodes = 1;
  std::vector<int> ranks_per_node;          ///< per node
  std::vector<std::vector<int>> group_nodes;  ///< per group: the nodes of its ranks, in rank order
  int groups_spanning_nodes = 0;            ///< groups with ranks on more than one node
};

/// Places the plan's groups on the nodes: `node_of_rank[r]` is the node of
/// world rank r (any ids; renumbered 0, 1, ... in order of first appearance).
/// The ranks, ordered by (node, world rank), are cut into consecutive groups
/// of S, so a group spans nodes only where a node's rank count is not a
/// multiple of S: every group lies on one node whenever the counts allow it,
/// and otherwise the fewest groups span nodes (each then across two
/// neighbouring pieces). Inside a group the ranks keep world order. Sets
/// plan.group_of_rank, rank_in_group and node_of_rank. Throws
/// std::invalid_argument when node_of_rank does not have G S entries.
void place_groups(LayoutPlan& plan, const std::vector<int>& node_of_rank);

/// The nodes, ranks per node and each group's nodes of a placed plan (one
/// node holding every rank for a plan that was not placed).
NodePlacement node_placement(const LayoutPlan& plan);

/// Estimated bytes of one rank when groups of `group_size` ranks share the
/// rows (see MemoryEstimate; the solver's own state is per tile and batch,
/// not per row).
MemoryEstimate estimate_rank_memory(const LayoutRequest& request, int group_size);

/// Predicted permuted heads per second of the whole run with `groups`
/// groups: per head about eight passes (evaluations and Hessian products) of 5 n d C flops at the measured GEMM rate over the group's
/// block of n = N / S rows, plus, when S > 1, one allreduce of a batch's
/// sums (B C (d + 1) doubles) per pass. 0 when the costs were not measured.
double predicted_heads_per_second(const LayoutRequest& request, int groups);

/// What every rank holds of a run's nulls (bytes), whatever the layout: per
/// permutation its max statistic (and one per sensitivity k), its cell values
/// while permutations x cells <= keep_null_limit, the exceedance counts of
/// each look; per encodability permutation a score per task; per bootstrap
/// resample its cell values. Twice that: the run state and the result (or a
/// checkpoint's payload) hold a copy each. Doubles, so counts up to
/// kMaxResamples never overflow.
struct NullEstimate {
  double permutations = 0.0;  ///< permutation.count's share
  double encodability = 0.0;  ///< encodability.permutations's share
  double bootstrap = 0.0;     ///< bootstrap.count's share
  double total() const { return permutations + encodability + bootstrap; }
};

/// `cells`: primary classes x the sum of the tasks' classes (a lower bound
/// when these are not yet known).
NullEstimate estimate_null_memory(const AnalysisSettings& settings, std::int64_t cells, int tasks);

/// "" when the nulls fit in `budget_bytes` per rank (<= 0: unknown, always
/// fits); otherwise one line naming the count that takes the most, e.g.
/// "permutation.count = 2147483647 needs about 32.0 GiB per rank for the
/// null; at most 268435456 fit (4.0 GiB per rank left after the rows)",
/// naming the part the other counts' nulls take when it is 1 MiB or more.
std::string null_memory_problem(const AnalysisSettings& settings, std::int64_t cells, int tasks,
                                double budget_bytes);

/// The layout: a forced group count is checked (1 <= G <= R, G divides R);
/// otherwise, among the group counts G (divisors of R, at most one group
/// per work item) whose ranks fit in half the node's available memory, the
/// one of the highest predicted throughput, more groups on a tie (within 2%:
/// no communication inside a fit); without measured costs the most groups
/// that fit. On several nodes only group sizes dividing every node's rank
/// count are weighed (each group then stays inside a node, its allreduce in
/// shared memory) unless none of them fits. The reason names the
/// alternative it was weighed against.
/// Throws std::invalid_argument naming `parallel.groups` for an impossible
/// request.
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
  int group_index() const { return plan_.group_of(world_->rank()); }
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

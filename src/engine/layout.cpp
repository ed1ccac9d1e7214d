#include "wsc/engine/layout.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace wsc::engine {

namespace {

std::string mib(double bytes) {
  std::ostringstream out;
  out << static_cast<std::int64_t>(std::ceil(bytes / (1024.0 * 1024.0))) << " MiB";
  return out.str();
}

}  // namespace

MemoryEstimate estimate_rank_memory(const LayoutRequest& request, int group_size) {
  const double rows = static_cast<double>(std::max<std::int64_t>(request.rows, 0));
  const double block = std::ceil(rows / std::max(group_size, 1));
  const double d = static_cast<double>(std::max<std::int64_t>(request.dim, 1));
  const double c = static_cast<double>(std::max(request.classes, 2));
  const double batch = static_cast<double>(std::max<std::int64_t>(request.batch, 1));
  MemoryEstimate m;
  m.rows = block * d * request.element_bytes;
  // Per task its labels and fold assignment (int), the primary's labels and
  // CV groups or exchangeability ids (int64).
  m.labels = rows * (8.0 * std::max(request.tasks, 1) + 16.0);
  // The larger of a permutation batch's labels of the block (int per head)
  // and a bootstrap batch's labels and weights (capped at 128 MiB), one
  // permutation or resample of all rows (int64 / double), held-out
  // probabilities of all rows, and the tiles of the passes.
  const double tile = 2048.0;
  m.batch = std::max(batch * block * 4.0, std::min(batch * block * 12.0, 128.0 * 1024 * 1024)) + rows * 16.0 +
            rows * c * 8.0 + tile * (d * 12.0 + 4.0 * batch * c * 8.0);
  m.fixed = 5.0 * d * d * 8.0 + 6.0 * batch * c * d * 8.0 + 64.0 * 1024 * 1024;
  return m;
}

namespace {

/// "512.0 MiB", "32.0 GiB", "16.0 TiB".
std::string binary_bytes(double bytes) {
  const char* unit = "MiB";
  double value = bytes / (1024.0 * 1024.0);
  if (value >= 1024.0) {
    value /= 1024.0;
    unit = "GiB";
  }
  if (value >= 1024.0) {
    value /= 1024.0;
    unit = "TiB";
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << value << " " << unit;
  return out.str();
}

/// Bytes per item of each count (the copies included, see NullEstimate).
struct NullPerItem {
  double permutation = 0.0, encodability = 0.0, bootstrap = 0.0;
};

NullPerItem null_per_item(const AnalysisSettings& settings, std::int64_t cells_in, int tasks) {
  const double cells = static_cast<double>(std::max<std::int64_t>(cells_in, 0));
  const double ks = static_cast<double>(settings.sensitivity.size());
  const double count = static_cast<double>(std::max<std::int64_t>(settings.permutation.count, 0));
  NullPerItem per;
  per.permutation = 8.0 * (1.0 + ks);
  if (count * cells <= static_cast<double>(settings.keep_null_limit)) per.permutation += 8.0 * cells;
  if (settings.permutation.stop == PermutationStop::Decisions) {
    // Two int64 counts per cell (and per k and cell) per look; an automatic look is >= 100.
    const double look = settings.permutation.look > 0 ? static_cast<double>(settings.permutation.look) : 100.0;
    per.permutation += 16.0 * cells * (1.0 + ks) / look;
  }
  per.encodability = 8.0 * std::max(tasks, 1);
  per.bootstrap = 8.0 * cells;
  per.permutation *= 2.0;
  per.encodability *= 2.0;
  per.bootstrap *= 2.0;
  return per;
}

}  // namespace

NullEstimate estimate_null_memory(const AnalysisSettings& settings, std::int64_t cells, int tasks) {
  const NullPerItem per = null_per_item(settings, cells, tasks);
  NullEstimate e;
  e.permutations = per.permutation * static_cast<double>(std::max<std::int64_t>(settings.permutation.count, 0));
  e.encodability = per.encodability * static_cast<double>(std::max<std::int64_t>(settings.encodability_count(), 0));
  e.bootstrap = per.bootstrap * static_cast<double>(std::max<std::int64_t>(settings.bootstrap.count, 0));
  return e;
}

std::string null_memory_problem(const AnalysisSettings& settings, std::int64_t cells, int tasks,
                                double budget_bytes) {
  if (!(budget_bytes > 0.0)) return {};
  const NullEstimate e = estimate_null_memory(settings, cells, tasks);
  if (e.total() <= budget_bytes) return {};
  const NullPerItem per = null_per_item(settings, cells, tasks);
  struct Share {
    const char* key;
    std::int64_t count;
    double bytes, per_item;
  };
  const Share shares[3] = {
      {"permutation.count", settings.permutation.count, e.permutations, per.permutation},
      {"encodability.permutations", settings.encodability.permutations, e.encodability, per.encodability},
      {"bootstrap.count", settings.bootstrap.count, e.bootstrap, per.bootstrap}};
  const Share* worst = &shares[0];
  for (const Share& s : shares) {
    if (s.bytes > worst->bytes) worst = &s;
  }
  const double left = std::max(0.0, budget_bytes - (e.total() - worst->bytes));
  const double fit = worst->per_item > 0.0 ? std::floor(left / worst->per_item) : 0.0;
  std::ostringstream out;
  out << worst->key << " = " << worst->count << " needs about " << binary_bytes(worst->bytes)
      << " per rank for the null; at most " << static_cast<std::int64_t>(std::min(fit, 9.0e18)) << " fit ("
      << binary_bytes(budget_bytes) << " per rank left after the rows";
  // The other nulls, when they take a noticeable part (>= 1 MiB).
  if (budget_bytes - left >= 1024.0 * 1024.0) {
    out << ", " << binary_bytes(budget_bytes - left) << " of it taken by the other nulls";
  }
  out << ")";
  return out.str();
}

double predicted_heads_per_second(const LayoutRequest& request, int groups) {
  if (!(request.gemm_rate > 0.0)) return 0.0;
  const int ranks = std::max(request.ranks, 1);
  const int size = ranks / std::max(groups, 1);
  const double block = std::ceil(static_cast<double>(request.rows) / size);
  const double d = static_cast<double>(std::max<std::int64_t>(request.dim, 1));
  const double c = static_cast<double>(std::max(request.classes, 2));
  const double batch = static_cast<double>(std::max<std::int64_t>(request.batch, 1));
  const double passes = 8.0;
  double pass = 5.0 * block * d * batch * c / request.gemm_rate;
  if (size > 1) pass += request.allreduce_latency + request.allreduce_per_byte * batch * c * (d + 1.0) * 8.0;
  return groups * batch / (passes * pass);
}

LayoutPlan plan_layout(const LayoutRequest& request) {
  const int ranks = std::max(request.ranks, 1);
  auto plan_for = [&](int groups) {
    LayoutPlan plan;
    plan.groups = groups;
    plan.group_size = ranks / groups;
    plan.memory = estimate_rank_memory(request, plan.group_size);
    plan.bytes_per_rank = static_cast<std::int64_t>(plan.memory.total());
    plan.predicted_heads_per_second = predicted_heads_per_second(request, groups);
    return plan;
  };
  auto describe = [&](LayoutPlan& plan, const std::string& why) {
    std::ostringstream out;
    out << plan.groups << (plan.groups == 1 ? " group of " : " groups of ") << plan.group_size
        << (plan.group_size == 1 ? " rank" : " ranks") << " (about " << mib(static_cast<double>(plan.bytes_per_rank))
        << " per rank";
    if (plan.predicted_heads_per_second > 0.0) {
      out << ", predicted " << std::setprecision(3) << plan.predicted_heads_per_second << " heads/s";
    }
    out << "): " << why;
    plan.reason = out.str();
  };

  if (request.requested_groups != 0) {
    const int g = request.requested_groups;
    if (g < 1 || g > ranks || ranks % g != 0) {
      throw std::invalid_argument("parallel.groups = " + std::to_string(g) +
                                  " is impossible with " + std::to_string(ranks) +
                                  (ranks == 1 ? " rank" : " ranks") +
                                  ": it must divide the rank count");
    }
    LayoutPlan plan = plan_for(g);
    describe(plan, "set by parallel.groups");
    return plan;
  }

  // Candidates: divisors of R, most groups first, at most one per work item.
  const double budget = request.available_bytes > 0 ? 0.5 * request.available_bytes : 0.0;
  const std::int64_t items = std::max<std::int64_t>(request.parallel_items, 1);
  // A group of S ranks stays inside a node when S divides every node's count.
  auto inside_nodes = [&](int group_size) {
    return std::all_of(request.ranks_per_node.begin(), request.ranks_per_node.end(),
                       [&](int n) { return n % group_size == 0; });
  };
  std::vector<LayoutPlan> fitting;
  std::vector<LayoutPlan> too_large;
  std::vector<LayoutPlan> spanning;  // fit, but their groups would span nodes
  for (int g = ranks; g >= 1; --g) {
    if (ranks % g != 0 || g > items) continue;
    LayoutPlan plan = plan_for(g);
    const double node = static_cast<double>(plan.bytes_per_rank) * std::max(request.ranks_on_node, 1);
    if (budget > 0 && node > budget) {
      too_large.push_back(plan);
    } else {
      (inside_nodes(plan.group_size) ? fitting : spanning).push_back(plan);
    }
  }
  // Groups across nodes only when no group inside a node fits.
  const bool left_spanning = !fitting.empty() && !spanning.empty();
  if (fitting.empty()) fitting.swap(spanning);
  if (fitting.empty()) {
    LayoutPlan plan = plan_for(1);
    describe(plan, "the rows must be sharded over every rank to fit in memory (and still may not)");
    return plan;
  }
  // The fastest that fits; more groups (listed first) on a tie within 2%.
  std::size_t best = 0;
  for (std::size_t i = 1; i < fitting.size(); ++i) {
    if (fitting[i].predicted_heads_per_second > 1.02 * fitting[best].predicted_heads_per_second) best = i;
  }
  LayoutPlan plan = fitting[best];
  std::ostringstream why;
  if (ranks == 1) {
    why << "a single rank";
  } else if (plan.groups == ranks) {
    why << "every rank holds all rows, so fits need no communication";
  } else if (plan.groups == 1 && items == 1) {
    why << "one work item, so the rows are sharded over every rank";
  } else if (!too_large.empty() && best == 0) {
    why << "more groups would not fit in memory (" << too_large.front().groups << " groups: about "
        << mib(static_cast<double>(too_large.front().bytes_per_rank)) << " per rank)";
  } else if (best > 0) {
    why << "faster than " << fitting.front().groups << " groups (predicted " << std::setprecision(3)
        << fitting.front().predicted_heads_per_second << " heads/s)";
  } else {
    why << (plan.groups == items ? "one group per work item" : "the largest group count that fits in memory");
  }
  // The alternative weighed against: sharding over more ranks per group.
  if (ranks > 1 && best + 1 < fitting.size()) {
    const LayoutPlan& other = fitting[best + 1];
    why << "; " << other.groups << (other.groups == 1 ? " group" : " groups") << " would need about "
        << mib(static_cast<double>(other.bytes_per_rank)) << " per rank";
    if (other.predicted_heads_per_second > 0.0) {
      why << " at a predicted " << std::setprecision(3) << other.predicted_heads_per_second << " heads/s";
    }
  }
  if (left_spanning) {
    why << "; group sizes not dividing every node's rank count left out (";
    for (std::size_t i = 0; i < spanning.size(); ++i) {
      why << (i == 0 ? "" : ", ") << spanning[i].group_size;
    }
    why << ": their groups would span nodes)";
  }
  describe(plan, why.str());
  return plan;
}

Layout::Layout(const par::Communicator& world, const LayoutPlan& plan)
    : world_(&world),
      plan_(plan),
      group_(world.split(plan.group_of(world.rank()), plan.place_in_group(world.rank()))) {
  if (plan.groups * plan.group_size != world.size()) {
    throw std::invalid_argument("layout of " + std::to_string(plan.groups) + " x " +
                                std::to_string(plan.group_size) + " does not match " +
                                std::to_string(world.size()) + " ranks");
  }
}

void place_groups(LayoutPlan& plan, const std::vector<int>& node_of_rank) {
  const std::size_t ranks = node_of_rank.size();
  if (plan.group_size < 1 || plan.groups < 1 ||
      static_cast<std::size_t>(plan.groups) * static_cast<std::size_t>(plan.group_size) != ranks) {
    throw std::invalid_argument("place_groups: " + std::to_string(ranks) + " ranks for a layout of " +
                                std::to_string(plan.groups) + " x " + std::to_string(plan.group_size));
  }
  // Nodes renumbered in order of their first rank.
  std::vector<int> ids;
  std::vector<int> node(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto it = std::find(ids.begin(), ids.end(), node_of_rank[r]);
    node[r] = static_cast<int>(it - ids.begin());
    if (it == ids.end()) ids.push_back(node_of_rank[r]);
  }
  std::vector<int> order(ranks);
  for (std::size_t r = 0; r < ranks; ++r) order[r] = static_cast<int>(r);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return node[static_cast<std::size_t>(a)] < node[static_cast<std::size_t>(b)];
  });
  plan.group_of_rank.assign(ranks, 0);
  plan.rank_in_group.assign(ranks, 0);
  for (std::size_t i = 0; i < ranks; ++i) {
    const auto r = static_cast<std::size_t>(order[i]);
    plan.group_of_rank[r] = static_cast<int>(i) / plan.group_size;
  }
  // Inside a group: world order (order is sorted by node, then world rank,
  // so a group spanning two nodes is not in world order by itself).
  for (int g = 0; g < plan.groups; ++g) {
    int place = 0;
    for (std::size_t r = 0; r < ranks; ++r) {
      if (plan.group_of_rank[r] == g) plan.rank_in_group[r] = place++;
    }
  }
  plan.node_of_rank = node;
}

NodePlacement node_placement(const LayoutPlan& plan) {
  NodePlacement p;
  const int ranks = plan.groups * plan.group_size;
  p.nodes = 1;
  for (const int n : plan.node_of_rank) p.nodes = std::max(p.nodes, n + 1);
  p.ranks_per_node.assign(static_cast<std::size_t>(p.nodes), 0);
  p.group_nodes.assign(static_cast<std::size_t>(plan.groups), {});
  std::vector<std::vector<int>> members(static_cast<std::size_t>(plan.groups),
                                        std::vector<int>(static_cast<std::size_t>(plan.group_size), 0));
  for (int r = 0; r < ranks; ++r) {
    const int n = plan.node_of_rank.empty() ? 0 : plan.node_of_rank[static_cast<std::size_t>(r)];
    ++p.ranks_per_node[static_cast<std::size_t>(n)];
    members[static_cast<std::size_t>(plan.group_of(r))][static_cast<std::size_t>(plan.place_in_group(r))] = n;
  }
  for (std::size_t g = 0; g < members.size(); ++g) {
    p.group_nodes[g] = members[g];
    if (std::any_of(members[g].begin(), members[g].end(), [&](int n) { return n != members[g].front(); })) {
      ++p.groups_spanning_nodes;
    }
  }
  return p;
}

namespace {
LayoutPlan single_group(const par::Communicator& world) {
  LayoutPlan plan;
  plan.groups = 1;
  plan.group_size = world.size();
  plan.reason = "one group of every rank";
  return plan;
}
}  // namespace

Layout::Layout(const par::Communicator& world) : Layout(world, single_group(world)) {}

void Layout::combine(double* data, std::size_t count) const {
  if (plan_.groups == 1) return;
  if (!group_leader()) std::fill(data, data + count, 0.0);
  world_->sum(data, count);
}

void Layout::combine(std::int64_t* data, std::size_t count) const {
  if (plan_.groups == 1) return;
  if (!group_leader()) std::fill(data, data + count, std::int64_t{0});
  world_->sum(data, count);
}

}  // namespace wsc::engine

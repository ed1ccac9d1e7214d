#include "wsc/engine/layout.hpp"

#include <algorithm>
#include <cmath>
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

std::int64_t estimated_rank_bytes(std::int64_t rows_per_rank, std::int64_t dim) {
  const double rows = static_cast<double>(std::max<std::int64_t>(rows_per_rank, 0));
  const double d = static_cast<double>(std::max<std::int64_t>(dim, 1));
  // The rows as doubles and one more copy of their size (squares or a float
  // copy in the solver, read buffers), the batched solver's work matrices
  // (capped at 256 MiB by core::suggested_batch_heads, about 6 KiB per row
  // at its default batch), the d x d covariance with its eigen-decomposition
  // workspace, and a fixed overhead for the runtime.
  const double bytes = 2.0 * rows * d * 8.0 + std::min(256.0 * 1024 * 1024, rows * 6144.0) +
                       3.0 * d * d * 8.0 + 64.0 * 1024 * 1024;
  return static_cast<std::int64_t>(bytes);
}

LayoutPlan plan_layout(const LayoutRequest& request) {
  const int ranks = std::max(request.ranks, 1);
  LayoutPlan plan;
  auto fill = [&](int groups) {
    plan.groups = groups;
    plan.group_size = ranks / groups;
    plan.bytes_per_rank = estimated_rank_bytes(
        (request.rows + plan.group_size - 1) / plan.group_size, request.dim);
  };
  auto describe = [&](const std::string& why) {
    std::ostringstream out;
    out << plan.groups << (plan.groups == 1 ? " group of " : " groups of ") << plan.group_size
        << (plan.group_size == 1 ? " rank" : " ranks") << " (about " << mib(static_cast<double>(plan.bytes_per_rank))
        << " per rank): " << why;
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
    fill(g);
    describe("set by parallel.groups");
    return plan;
  }

  // Candidates: divisors of R, most groups first.
  std::vector<int> divisors;
  for (int g = ranks; g >= 1; --g) {
    if (ranks % g == 0) divisors.push_back(g);
  }
  const double budget = request.available_bytes > 0 ? 0.5 * request.available_bytes : 0.0;
  const std::int64_t items = std::max<std::int64_t>(request.parallel_items, 1);
  for (int g : divisors) {
    if (g > items) continue;
    fill(g);
    const double node = static_cast<double>(plan.bytes_per_rank) * std::max(request.ranks_on_node, 1);
    if (budget > 0 && node > budget) continue;
    if (g == ranks && ranks > 1) {
      describe("every rank holds all rows, so fits need no communication");
    } else if (g == 1 && ranks > 1) {
      describe(items == 1 ? "one work item, so the rows are sharded over every rank"
                          : "the rows must be sharded over every rank to fit in memory");
    } else if (g == 1) {
      describe("a single rank");
    } else {
      describe(g > items ? "one group per work item"
                         : "the largest group count whose row blocks fit in memory");
    }
    return plan;
  }
  fill(1);
  describe("the rows must be sharded over every rank to fit in memory");
  return plan;
}

Layout::Layout(const par::Communicator& world, const LayoutPlan& plan)
    : world_(&world),
      plan_(plan),
      group_(world.split(world.rank() / plan.group_size, world.rank())) {
  if (plan.groups * plan.group_size != world.size()) {
    throw std::invalid_argument("layout of " + std::to_string(plan.groups) + " x " +
                                std::to_string(plan.group_size) + " does not match " +
                                std::to_string(world.size()) + " ranks");
  }
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

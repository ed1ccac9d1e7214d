// Where the rank groups go on the nodes (place_groups, node_placement): groups
// never span nodes when the nodes' rank counts allow it, otherwise as few as
// possible do; every group has S ranks with places 0..S-1 in world order.
#include "wsc/engine/layout.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <vector>

namespace {

using wsc::engine::LayoutPlan;
using wsc::engine::node_placement;
using wsc::engine::place_groups;

LayoutPlan plan_of(int groups, int group_size) {
  LayoutPlan plan;
  plan.groups = groups;
  plan.group_size = group_size;
  return plan;
}

// Every group has group_size members with places 0..S-1 in increasing world rank.
void expect_valid(const LayoutPlan& plan) {
  const int ranks = plan.groups * plan.group_size;
  for (int g = 0; g < plan.groups; ++g) {
    std::vector<int> members;
    for (int r = 0; r < ranks; ++r) {
      if (plan.group_of(r) == g) members.push_back(r);
    }
    ASSERT_EQ(static_cast<int>(members.size()), plan.group_size) << "group " << g;
    for (int i = 0; i < plan.group_size; ++i) EXPECT_EQ(plan.place_in_group(members[static_cast<std::size_t>(i)]), i);
  }
}

TEST(EngineNodePlacement, BlockDistributionKeepsWorldOrderGroups) {
  // srun's default: ranks 0,1 on the first node, 2,3 on the second.
  LayoutPlan plan = plan_of(2, 2);
  place_groups(plan, {0, 0, 2, 2});
  expect_valid(plan);
  EXPECT_EQ(plan.group_of_rank, (std::vector<int>{0, 0, 1, 1}));
  const auto p = node_placement(plan);
  EXPECT_EQ(p.nodes, 2);
  EXPECT_EQ(p.ranks_per_node, (std::vector<int>{2, 2}));
  EXPECT_EQ(p.group_nodes, (std::vector<std::vector<int>>{{0, 0}, {1, 1}}));
  EXPECT_EQ(p.groups_spanning_nodes, 0);
}

TEST(EngineNodePlacement, CyclicDistributionGroupsByNode) {
  // srun --distribution=cyclic: ranks 0,2 on node 0, 1,3 on node 1. Groups of
  // world blocks ({0,1}, {2,3}) would both span the nodes.
  LayoutPlan plan = plan_of(2, 2);
  place_groups(plan, {0, 1, 0, 1});
  expect_valid(plan);
  EXPECT_EQ(plan.group_of_rank, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(plan.rank_in_group, (std::vector<int>{0, 0, 1, 1}));
  const auto p = node_placement(plan);
  EXPECT_EQ(p.group_nodes, (std::vector<std::vector<int>>{{0, 0}, {1, 1}}));
  EXPECT_EQ(p.groups_spanning_nodes, 0);
}

TEST(EngineNodePlacement, NodeIdsAreRenumberedByFirstRank) {
  LayoutPlan plan = plan_of(3, 2);
  place_groups(plan, {7, 3, 7, 3, 5, 5});
  expect_valid(plan);
  EXPECT_EQ(plan.node_of_rank, (std::vector<int>{0, 1, 0, 1, 2, 2}));
  EXPECT_EQ(plan.group_of_rank, (std::vector<int>{0, 1, 0, 1, 2, 2}));
  EXPECT_EQ(node_placement(plan).groups_spanning_nodes, 0);
}

TEST(EngineNodePlacement, UnevenNodesSpanOnlyWhereUnavoidable) {
  // 3 + 3 ranks in groups of 2: one group must span the two nodes, not more.
  LayoutPlan plan = plan_of(3, 2);
  place_groups(plan, {0, 1, 0, 1, 0, 1});
  expect_valid(plan);
  const auto p = node_placement(plan);
  EXPECT_EQ(p.ranks_per_node, (std::vector<int>{3, 3}));
  EXPECT_EQ(p.groups_spanning_nodes, 1);
  // Groups of 3 on 3 + 3: none spans.
  LayoutPlan three = plan_of(2, 3);
  place_groups(three, {0, 1, 0, 1, 0, 1});
  expect_valid(three);
  EXPECT_EQ(node_placement(three).groups_spanning_nodes, 0);
  EXPECT_EQ(node_placement(three).group_nodes, (std::vector<std::vector<int>>{{0, 0, 0}, {1, 1, 1}}));
}

TEST(EngineNodePlacement, GroupLargerThanANodeSpansAndKeepsWorldOrder) {
  // One group of all 4 ranks on 2 nodes (cyclic): it must span; places in world order.
  LayoutPlan plan = plan_of(1, 4);
  place_groups(plan, {0, 1, 0, 1});
  expect_valid(plan);
  EXPECT_EQ(plan.rank_in_group, (std::vector<int>{0, 1, 2, 3}));
  const auto p = node_placement(plan);
  EXPECT_EQ(p.group_nodes, (std::vector<std::vector<int>>{{0, 1, 0, 1}}));
  EXPECT_EQ(p.groups_spanning_nodes, 1);
}

TEST(EngineNodePlacement, ManyRanksOneRankGroups) {
  LayoutPlan plan = plan_of(8, 1);
  place_groups(plan, {0, 1, 2, 3, 0, 1, 2, 3});
  expect_valid(plan);
  std::set<int> groups(plan.group_of_rank.begin(), plan.group_of_rank.end());
  EXPECT_EQ(groups.size(), 8u);
  EXPECT_EQ(node_placement(plan).ranks_per_node, (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(node_placement(plan).groups_spanning_nodes, 0);
}

TEST(EngineNodePlacement, UnplacedPlanIsOneNodeOfWorldBlocks) {
  const LayoutPlan plan = plan_of(2, 3);
  expect_valid(plan);
  EXPECT_EQ(plan.group_of(4), 1);
  EXPECT_EQ(plan.place_in_group(4), 1);
  const auto p = node_placement(plan);
  EXPECT_EQ(p.nodes, 1);
  EXPECT_EQ(p.ranks_per_node, (std::vector<int>{6}));
  EXPECT_EQ(p.groups_spanning_nodes, 0);
}

TEST(EngineNodePlacement, WrongRankCountIsRefused) {
  LayoutPlan plan = plan_of(2, 2);
  EXPECT_THROW(place_groups(plan, {0, 0, 1}), std::invalid_argument);
}

}  // namespace

namespace {

// 6 ranks, memory for groups of 2 (not of 1): 3 ranks per node hold S = 2's share.
wsc::engine::LayoutRequest six_ranks_needing_groups_of_two() {
  wsc::engine::LayoutRequest r;
  r.rows = 2'000'000;
  r.dim = 256;
  r.ranks = 6;
  r.ranks_on_node = 3;
  r.parallel_items = 100;
  const double two = wsc::engine::estimate_rank_memory(r, 2).total();
  const double one = wsc::engine::estimate_rank_memory(r, 1).total();
  r.available_bytes = 2.0 * 3.0 * two * 1.01;  // half of it: 3 ranks of S = 2
  EXPECT_GT(3.0 * one, 0.5 * r.available_bytes);
  return r;
}

}  // namespace

TEST(EngineNodePlacement, AutomaticLayoutKeepsGroupsInsideNodes) {
  wsc::engine::LayoutRequest r = six_ranks_needing_groups_of_two();
  // One node: the most groups that fit, 3 groups of 2.
  EXPECT_EQ(wsc::engine::plan_layout(r).group_size, 2);
  // Two nodes of 3 ranks: a group of 2 would span them; groups of 3 fit and stay inside.
  r.ranks_per_node = {3, 3};
  const LayoutPlan plan = wsc::engine::plan_layout(r);
  EXPECT_EQ(plan.group_size, 3);
  EXPECT_NE(plan.reason.find("left out (2, 6: their groups would span nodes)"), std::string::npos) << plan.reason;
  LayoutPlan placed = plan;
  place_groups(placed, {0, 0, 0, 1, 1, 1});
  EXPECT_EQ(node_placement(placed).groups_spanning_nodes, 0);
  // Three nodes of 2 ranks: groups of 2 stay inside them.
  r.ranks_per_node = {2, 2, 2};
  r.ranks_on_node = 2;
  EXPECT_EQ(wsc::engine::plan_layout(r).group_size, 2);
}

TEST(EngineNodePlacement, AutomaticLayoutSpansNodesOnlyWhenNothingElseFits) {
  wsc::engine::LayoutRequest r = six_ranks_needing_groups_of_two();
  r.ranks_per_node = {3, 3};
  // Memory for groups of 6 only: one group across both nodes.
  r.available_bytes = 2.0 * 3.0 * wsc::engine::estimate_rank_memory(r, 6).total() * 1.01;
  ASSERT_GT(3.0 * wsc::engine::estimate_rank_memory(r, 3).total(), 0.5 * r.available_bytes);
  const LayoutPlan plan = wsc::engine::plan_layout(r);
  EXPECT_EQ(plan.groups, 1);
  EXPECT_EQ(plan.group_size, 6);
}

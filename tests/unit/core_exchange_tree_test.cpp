// Multi-level exchangeability trees (FSL PALM's -eb): every permutation
// respects the tree, all allowed permutations are equally likely, invalid
// trees are refused naming the block.
#include "wsc/core/exchangeability.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::core {
namespace {

using wsc_test::invalid_argument_message;

using Ids = std::vector<std::int64_t>;

// ------------------------------------------------------------------------
// The test's own reading of a tree: PALM's rules written out directly.

struct Block {
  std::int64_t id = 0;
  std::vector<std::int64_t> rows;  ///< every row of the block, in row order
  std::vector<Block> subs;         ///< sub-blocks in increasing id order; none for a leaf
  bool exchanges() const { return id > 0 && subs.size() >= 2; }
};

Block read_block(const Ids& ids, std::size_t levels, std::size_t column, std::int64_t id,
                 const std::vector<std::int64_t>& rows) {
  Block b;
  b.id = id;
  b.rows = rows;
  if (column + 1 == levels) return b;
  std::map<std::int64_t, std::vector<std::int64_t>> split;
  for (std::int64_t r : rows) split[ids[static_cast<std::size_t>(r) * levels + column + 1]].push_back(r);
  for (const auto& [sub_id, sub_rows] : split) b.subs.push_back(read_block(ids, levels, column + 1, sub_id, sub_rows));
  return b;
}

Block read_tree(const Ids& ids, std::size_t rows, std::size_t levels) {
  std::vector<std::int64_t> all(rows);
  std::iota(all.begin(), all.end(), std::int64_t{0});
  return read_block(ids, levels, 0, ids[0], all);
}

std::set<std::int64_t> taken(const std::vector<std::int64_t>& perm, const std::vector<std::int64_t>& positions) {
  std::set<std::int64_t> out;
  for (std::int64_t i : positions) out.insert(perm[static_cast<std::size_t>(i)]);
  return out;
}

/// Whether `perm` fills the positions of `place` with the rows of `source`
/// as the tree allows: a leaf's rows in order; sub-blocks of an exchanging
/// block each from some sub-block of the source (one each); sub-blocks of
/// any other block from the source's sub-block of the same rank.
bool respects(const std::vector<std::int64_t>& perm, const Block& place, const Block& source) {
  if (place.rows.size() != source.rows.size()) return false;
  if (place.subs.empty()) {
    for (std::size_t t = 0; t < place.rows.size(); ++t) {
      if (perm[static_cast<std::size_t>(place.rows[t])] != source.rows[t]) return false;
    }
    return true;
  }
  if (place.subs.size() != source.subs.size()) return false;
  std::vector<bool> used(source.subs.size(), false);
  for (std::size_t j = 0; j < place.subs.size(); ++j) {
    std::size_t from = j;
    if (place.exchanges()) {
      const std::set<std::int64_t> got = taken(perm, place.subs[j].rows);
      from = source.subs.size();
      for (std::size_t k = 0; k < source.subs.size(); ++k) {
        const auto& r = source.subs[k].rows;
        if (got == std::set<std::int64_t>(r.begin(), r.end())) from = k;
      }
      if (from == source.subs.size() || used[from]) return false;
      used[from] = true;
    }
    if (!respects(perm, place.subs[j], source.subs[from])) return false;
  }
  return true;
}

bool respects(const std::vector<std::int64_t>& perm, const Block& root) {
  std::vector<std::int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != static_cast<std::int64_t>(i)) return false;
  }
  return respects(perm, root, root);
}

/// log of the number of permutations: sum of log k! over exchanging blocks.
double log_count(const Block& b) {
  double out = b.exchanges() ? std::lgamma(static_cast<double>(b.subs.size()) + 1.0) : 0.0;
  for (const Block& s : b.subs) out += log_count(s);
  return out;
}

// ------------------------------------------------------------------------
// Random valid trees.

struct Shape {
  bool positive = false;
  int leaf_rows = 0;         ///< a leaf's rows (last column)
  std::vector<Shape> subs;   ///< in id order
};

Shape random_shape(std::mt19937_64& rng, int column, int levels) {
  Shape s;
  s.positive = (rng() & 1U) != 0;
  if (column == levels - 1) {
    s.leaf_rows = 1 + static_cast<int>(rng() % 3);
    return s;
  }
  const int k = 1 + static_cast<int>(rng() % 3);
  if (s.positive) {
    // Exchanged sub-blocks: one shape, k copies.
    const Shape sub = random_shape(rng, column + 1, levels);
    s.subs.assign(static_cast<std::size_t>(k), sub);
  } else {
    for (int j = 0; j < k; ++j) s.subs.push_back(random_shape(rng, column + 1, levels));
    // In increasing id order negative ids come first.
    std::stable_sort(s.subs.begin(), s.subs.end(),
                     [](const Shape& a, const Shape& b) { return !a.positive && b.positive; });
  }
  return s;
}

/// Writes the rows of `s` (ids of columns 0..column already in `path`).
void write_rows(const Shape& s, std::mt19937_64& rng, std::vector<std::int64_t>& path, std::vector<Ids>& out) {
  if (s.subs.empty()) {
    for (int r = 0; r < s.leaf_rows; ++r) out.push_back(path);
    return;
  }
  // Increasing ids with the sub-blocks' signs and random gaps.
  const auto negatives = static_cast<std::int64_t>(
      std::count_if(s.subs.begin(), s.subs.end(), [](const Shape& x) { return !x.positive; }));
  std::int64_t magnitude = 1 + static_cast<std::int64_t>(rng() % 3);
  std::vector<std::int64_t> ids(s.subs.size());
  for (std::int64_t j = negatives; j-- > 0;) {
    ids[static_cast<std::size_t>(j)] = -magnitude;
    magnitude += 1 + static_cast<std::int64_t>(rng() % 3);
  }
  magnitude = 1 + static_cast<std::int64_t>(rng() % 3);
  for (std::size_t j = static_cast<std::size_t>(negatives); j < s.subs.size(); ++j) {
    ids[j] = magnitude;
    magnitude += 1 + static_cast<std::int64_t>(rng() % 3);
  }
  for (std::size_t j = 0; j < s.subs.size(); ++j) {
    path.push_back(ids[j]);
    write_rows(s.subs[j], rng, path, out);
    path.pop_back();
  }
}

struct RandomTree {
  Ids ids;  // row-major
  std::size_t rows = 0;
  std::size_t levels = 0;
};

RandomTree random_tree(std::mt19937_64& rng) {
  RandomTree t;
  t.levels = 1 + static_cast<std::size_t>(rng() % 4);
  const Shape root = random_shape(rng, 0, static_cast<int>(t.levels));
  std::vector<std::int64_t> path = {root.positive ? 1 + static_cast<std::int64_t>(rng() % 5)
                                                  : -1 - static_cast<std::int64_t>(rng() % 5)};
  std::vector<Ids> rows;
  write_rows(root, rng, path, rows);
  // Rows in random order: blocks need not be contiguous.
  std::shuffle(rows.begin(), rows.end(), rng);
  t.rows = rows.size();
  for (const Ids& r : rows) t.ids.insert(t.ids.end(), r.begin(), r.end());
  return t;
}

// ------------------------------------------------------------------------

TEST(ExchangeTree, EveryPermutationRespectsTheTree) {
  std::mt19937_64 rng(20150101);
  int valid = 0;
  int identity_only = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const RandomTree t = random_tree(rng);
    const Block reference = read_tree(t.ids, t.rows, t.levels);
    const double expected_log = log_count(reference);
    if (expected_log == 0.0) {
      // Nothing to exchange: refused.
      EXPECT_THROW(ExchangeTree(t.ids, static_cast<std::int64_t>(t.rows), static_cast<std::int64_t>(t.levels)),
                   std::invalid_argument);
      identity_only += 1;
      continue;
    }
    const ExchangeTree tree(t.ids, static_cast<std::int64_t>(t.rows), static_cast<std::int64_t>(t.levels));
    EXPECT_NEAR(tree.log_permutations(), expected_log, 1e-9);
    valid += 1;
    std::set<std::vector<std::int64_t>> distinct;
    for (std::uint64_t b = 0; b < 60; ++b) {
      const std::vector<std::int64_t> p = tree.permutation(static_cast<std::uint64_t>(trial), b);
      ASSERT_EQ(p.size(), t.rows);
      ASSERT_TRUE(respects(p, reference)) << "tree " << trial << ", index " << b;
      distinct.insert(p);
    }
    // Not stuck on one permutation (at least 2 allowed, 60 draws).
    EXPECT_GT(distinct.size(), 1u) << "tree " << trial;
  }
  EXPECT_GT(valid, 150);
  EXPECT_GT(identity_only, 0);
}

TEST(ExchangeTree, PalmWithinAndWholeBlockLayouts) {
  // PALM turns one column b of -eb with -within into [-1, +b, row] and with
  // -whole into [+1, -b, row]: the within- and whole-block permutations.
  const std::vector<std::int64_t> b = {3, 1, 3, 2, 1, 2, 1, 3, 2};
  Ids within;
  Ids whole;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const auto row = static_cast<std::int64_t>(i) + 1;
    within.insert(within.end(), {-1, b[i], row});
    whole.insert(whole.end(), {1, -b[i], row});
  }
  const ExchangeTree tw(within, 9, 3);
  const ExchangeTree th(whole, 9, 3);
  EXPECT_NEAR(tw.log_permutations(), 3 * std::log(6.0), 1e-12);
  EXPECT_NEAR(th.log_permutations(), std::log(6.0), 1e-12);
  std::set<std::vector<std::int64_t>> seen_within;
  std::set<std::vector<std::int64_t>> seen_whole;
  for (std::uint64_t k = 0; k < 3000; ++k) {
    const auto pw = tw.permutation(4, k);
    const auto ph = th.permutation(4, k);
    for (std::size_t i = 0; i < b.size(); ++i) {
      ASSERT_EQ(b[static_cast<std::size_t>(pw[i])], b[i]) << "within: a row left its block";
    }
    // Whole blocks: the rows at block c's positions are one block's rows in row order.
    for (std::int64_t c = 1; c <= 3; ++c) {
      std::vector<std::int64_t> got;
      for (std::size_t i = 0; i < b.size(); ++i) {
        if (b[i] == c) got.push_back(ph[i]);
      }
      ASSERT_TRUE(std::is_sorted(got.begin(), got.end()));
      for (std::int64_t r : got) ASSERT_EQ(b[static_cast<std::size_t>(r)], b[static_cast<std::size_t>(got[0])]);
    }
    seen_within.insert(pw);
    seen_whole.insert(ph);
  }
  EXPECT_EQ(seen_whole.size(), 6u);
  EXPECT_EQ(seen_within.size(), 216u);
}

/// All permutations of `rows` rows that respect the tree (brute force).
std::set<std::vector<std::int64_t>> allowed(const Block& root, std::size_t rows) {
  std::set<std::vector<std::int64_t>> out;
  std::vector<std::int64_t> p(rows);
  std::iota(p.begin(), p.end(), std::int64_t{0});
  do {
    if (respects(p, root)) out.insert(p);
  } while (std::next_permutation(p.begin(), p.end()));
  return out;
}

/// Draws draws_per * |allowed| permutations; each allowed one must occur
/// within 5 binomial standard deviations of its expected count, no other.
void expect_uniform(const Ids& ids, std::size_t rows, std::size_t levels, std::size_t expected_allowed) {
  const Block reference = read_tree(ids, rows, levels);
  const std::set<std::vector<std::int64_t>> all = allowed(reference, rows);
  ASSERT_EQ(all.size(), expected_allowed);
  const ExchangeTree tree(ids, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(levels));
  EXPECT_NEAR(std::exp(tree.log_permutations()), static_cast<double>(all.size()), 1e-6);
  const int m = 1000 * static_cast<int>(all.size());
  std::map<std::vector<std::int64_t>, int> counts;
  for (int b = 0; b < m; ++b) counts[tree.permutation(99, static_cast<std::uint64_t>(b))] += 1;
  const double p = 1.0 / static_cast<double>(all.size());
  const double sd = std::sqrt(m * p * (1.0 - p));
  EXPECT_EQ(counts.size(), all.size());
  for (const auto& [perm, c] : counts) {
    EXPECT_EQ(all.count(perm), 1u) << "a permutation the tree does not allow";
    EXPECT_NEAR(c, m * p, 5.0 * sd);
  }
}

TEST(ExchangeTree, AllAllowedPermutationsEquallyLikelyWithinSites) {
  // Root -1: the two sites stay. Site 1 (+) exchanges its two families (-) of
  // two rows each (rows inside a family keep their order); site 2 (-) keeps
  // family 1 (+, three rows shuffled freely) and family 2 (one row) in place.
  // 2 x 3! = 12 permutations. Rows interleaved.
  //            row: 0              1              2              3
  const Ids ids = {-1, 1, -1, 1,   -1, -2, 1, 1,   -1, 1, -2, 3,  -1, -2, 1, 2,
                   -1, 1, -1, 2,   -1, -2, 2, 1,   -1, 1, -2, 4,  -1, -2, 1, 3};
  expect_uniform(ids, 8, 4, 12);
}

TEST(ExchangeTree, AllAllowedPermutationsEquallyLikelyWholeSites) {
  // Root +1 exchanges two sites (-) of identical shape; each site keeps its
  // two families (+) in place, each family shuffles its two rows:
  // 2! x (2!)^4 = 32 permutations.
  //            row: 0            1            2            3
  const Ids ids = {1, -1, 1, 1,  1, -2, 1, 1,  1, -1, 2, 1,  1, -2, 2, 1,
                   1, -1, 1, 2,  1, -2, 1, 2,  1, -1, 2, 2,  1, -2, 2, 2};
  expect_uniform(ids, 8, 4, 32);
}

TEST(ExchangeTree, AllAllowedPermutationsEquallyLikelyNestedWholeBlocks) {
  // Root +1 exchanges two sites (+) that exchange their families (-); a family
  // is two leaves of one row: 2! x 2! x 2! = 8, every row kept with its family
  // partner in order.
  const Ids ids = {1, 5, -1, 1,  1, 5, -1, 2,  1, 5, -3, 1,  1, 5, -3, 2,
                   1, 7, -2, 1,  1, 7, -2, 2,  1, 7, -4, 1,  1, 7, -4, 2};
  expect_uniform(ids, 8, 4, 8);
}

TEST(ExchangeTree, PureFunctionOfSeedIndexAndTree) {
  std::mt19937_64 rng(7);
  RandomTree t;
  do {
    t = random_tree(rng);
  } while (t.rows < 12 || log_count(read_tree(t.ids, t.rows, t.levels)) < std::log(1000.0));
  const ExchangeTree a(t.ids, static_cast<std::int64_t>(t.rows), static_cast<std::int64_t>(t.levels));
  const ExchangeTree b(t.ids, static_cast<std::int64_t>(t.rows), static_cast<std::int64_t>(t.levels));
  int differ_index = 0;
  int differ_seed = 0;
  for (std::uint64_t k = 0; k < 50; ++k) {
    EXPECT_EQ(a.permutation(3, k), b.permutation(3, k));
    EXPECT_EQ(a.permutation(3, k), a.permutation(3, k));
    differ_index += a.permutation(3, k) != a.permutation(3, k + 1) ? 1 : 0;
    differ_seed += a.permutation(3, k) != a.permutation(4, k) ? 1 : 0;
  }
  EXPECT_GT(differ_index, 40);
  EXPECT_GT(differ_seed, 40);
}

TEST(ExchangeTree, InvalidTreesRefusedNamingTheBlock) {
  const auto msg = [](const Ids& ids, std::int64_t rows, std::int64_t levels) {
    return invalid_argument_message([&] { ExchangeTree(ids, rows, levels); });
  };
  std::string m;
  // An id of 0 has no sign.
  m = msg({-1, 1, 1, -1, 1, 2, -1, 0, 1, -1, 0, 2}, 4, 3);
  EXPECT_NE(m.find("row 2, column 1: block id 0"), std::string::npos) << m;
  // Column 0 is the whole sample.
  m = msg({1, 1, 1, 2, 2, 1, 2, 2}, 4, 2);
  EXPECT_NE(m.find("column 0 must hold one id"), std::string::npos) << m;
  EXPECT_NE(m.find("row 2 has 2"), std::string::npos) << m;
  // Exchanged sub-blocks of different sizes (3 rows and 2).
  m = msg({1, 2, 1, 1, 2, 2, 1, 2, 3, 1, 5, 1, 1, 5, 2}, 5, 3);
  EXPECT_NE(m.find("block [1] exchanges its sub-blocks"), std::string::npos) << m;
  EXPECT_NE(m.find("block [1, 2] has 3 rows, block [1, 5] has 2"), std::string::npos) << m;
  // Same sizes, different structure below: families of 2 + 2 rows against 1 + 3.
  m = msg({1, -1, -1, 1,  1, -1, -1, 2,  1, -1, -2, 1,  1, -1, -2, 2,
           1, -2, -1, 1,  1, -2, -2, 1,  1, -2, -2, 2,  1, -2, -2, 3}, 8, 4);
  EXPECT_NE(m.find("block [1] exchanges"), std::string::npos) << m;
  EXPECT_NE(m.find("block [1, -2, -2] has 3 rows, block [1, -1, -2] has 2"), std::string::npos) << m;
  // One site exchanges its families, the other keeps them in place.
  m = msg({1, -1, 1, 1,  1, -1, 2, 1,  1, 2, 1, 1,  1, 2, 2, 1}, 4, 4);
  EXPECT_NE(m.find("block [1, 2] exchanges its sub-blocks, block [1, -1] keeps them in place"), std::string::npos)
      << m;
  // One sub-block against two.
  m = msg({1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 2, 2}, 4, 3);
  EXPECT_NE(m.find("block [1, 1] has 1 sub-blocks, block [1, 2] has 2"), std::string::npos) << m;
  // Nothing can move: refused.
  m = msg({-1, -1, 1, -1, -1, 2, -1, -2, 1, -1, -2, 2}, 4, 3);
  EXPECT_NE(m.find("identity"), std::string::npos) << m;
  m = msg({1, 1, 1}, 3, 1);
  EXPECT_NE(m.find("identity"), std::string::npos) << m;
  // Shapes.
  EXPECT_NE(msg({1, 1, 1}, 2, 2).find("expected 2 x 2"), std::string::npos);
  EXPECT_NE(msg({}, 0, 2).find("at least one row"), std::string::npos);
}

TEST(ExchangeTree, SignOfLeavesAndSingleSubBlocksDoesNotMatter) {
  // Leaves (last column) never shuffle inside, whatever their sign; a block
  // with one sub-block exchanges nothing, so its sign does not enter its shape.
  const Ids ids = {1, 1, 7,  1, 1, 7,  1, -2, -3,  1, -2, -3};
  const ExchangeTree tree(ids, 4, 3);
  EXPECT_NEAR(tree.log_permutations(), std::log(2.0), 1e-12);
  std::set<std::vector<std::int64_t>> seen;
  for (std::uint64_t k = 0; k < 200; ++k) seen.insert(tree.permutation(1, k));
  EXPECT_EQ(seen, (std::set<std::vector<std::int64_t>>{{0, 1, 2, 3}, {2, 3, 0, 1}}));
}

}  // namespace
}  // namespace wsc::core

// Restricted permutations: within-stratum shuffles and whole-block moves.
#include "wsc/core/exchangeability.hpp"

#include "wsc/core/permutation.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>

namespace wsc::core {
namespace {

using wsc_test::invalid_argument_message;

bool is_permutation_of_iota(const std::vector<std::int64_t>& p) {
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != static_cast<std::int64_t>(i)) return false;
  }
  return true;
}

/// Pearson chi-square of counts against equal expected frequencies.
double chi_square_uniform(const std::map<std::vector<std::int64_t>, int>& counts, int categories,
                          int draws) {
  const double expected = static_cast<double>(draws) / categories;
  double chi2 = 0.0;
  int seen = 0;
  for (const auto& [key, c] : counts) {
    const double d = c - expected;
    chi2 += d * d / expected;
    seen += 1;
  }
  // Categories never drawn contribute (0 - expected)^2 / expected each.
  chi2 += (categories - seen) * expected;
  return chi2;
}

// Upper 1e-6 quantiles of the chi-square distribution (computed from the
// regularized incomplete gamma function): a correct generator exceeds them
// once in a million runs; a biased shuffle (off-by-one Fisher-Yates, modulo
// reduction with a tiny bound, a fixed member) gives values in the hundreds+.
constexpr double kChi2Dof23P1em6 = 70.55;
constexpr double kChi2Dof5P1em6 = 35.89;
constexpr double kChi2Dof35P1em6 = 89.95;

// ---------------------------------------------------------------- within

const std::vector<std::int64_t> kStrata = {2, 0, -1, 2, 0, 5, 2, -1, 5, 0, 2, 5, -3};

TEST(PermutationWithin, IsAPermutationThatKeepsStrata) {
  for (std::uint64_t b = 0; b < 200; ++b) {
    const auto p = make_permutation_within(17, b, kStrata);
    ASSERT_EQ(p.size(), kStrata.size());
    ASSERT_TRUE(is_permutation_of_iota(p));
    for (std::size_t i = 0; i < kStrata.size(); ++i) {
      const auto src = static_cast<std::size_t>(p[i]);
      EXPECT_EQ(kStrata[src], kStrata[i]) << "index " << b << " position " << i;
      if (kStrata[i] < 0) {
        EXPECT_EQ(p[i], static_cast<std::int64_t>(i)) << "missing row moved";
      }
    }
  }
}

TEST(PermutationWithin, EveryStratumActuallyMoves) {
  // Over many indices each stratum member receives every member of its stratum.
  std::map<std::size_t, std::set<std::int64_t>> received;
  for (std::uint64_t b = 0; b < 200; ++b) {
    const auto p = make_permutation_within(3, b, kStrata);
    for (std::size_t i = 0; i < kStrata.size(); ++i) received[i].insert(p[i]);
  }
  for (std::size_t i = 0; i < kStrata.size(); ++i) {
    const auto members = static_cast<std::size_t>(
        kStrata[i] < 0 ? 1 : std::count(kStrata.begin(), kStrata.end(), kStrata[i]));
    EXPECT_EQ(received[i].size(), members) << "position " << i;
  }
}

TEST(PermutationWithin, DeterministicInSeedAndIndex) {
  std::vector<std::int64_t> big(600);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::int64_t>(i % 7) - 1;
  const auto p = make_permutation_within(123, 5, big);
  EXPECT_EQ(p, make_permutation_within(123, 5, big));
  EXPECT_NE(p, make_permutation_within(123, 6, big));
  EXPECT_NE(p, make_permutation_within(124, 5, big));
  // Not the stream of the unrestricted permutation restricted by accident:
  // a single stratum covering everything is still a valid, different shuffle.
  const std::vector<std::int64_t> one(50, 0);
  EXPECT_TRUE(is_permutation_of_iota(make_permutation_within(9, 9, one)));
  EXPECT_NE(make_permutation_within(9, 9, one), make_permutation(9, 9, 50));
}

TEST(PermutationWithin, StratumArrangementIgnoresOtherStrata) {
  // Keyed by (seed, index, stratum): adding rows of other strata, or missing
  // rows, between the members of stratum 4 does not change how it is shuffled.
  const std::vector<std::int64_t> alone = {4, 4, 4, 4, 4};
  const std::vector<std::int64_t> mixed = {1, 4, -1, 4, 1, 4, 4, 2, 2, 4};
  const std::vector<std::size_t> at = {1, 3, 5, 6, 9};
  for (std::uint64_t b = 0; b < 50; ++b) {
    const auto pa = make_permutation_within(8, b, alone);
    const auto pm = make_permutation_within(8, b, mixed);
    for (std::size_t k = 0; k < at.size(); ++k) {
      EXPECT_EQ(pm[at[k]], static_cast<std::int64_t>(at[static_cast<std::size_t>(pa[k])]));
    }
  }
}

TEST(PermutationWithin, EdgeCases) {
  EXPECT_TRUE(make_permutation_within(1, 1, {}).empty());
  const std::vector<std::int64_t> all_missing = {-1, -1, -2};
  EXPECT_EQ(make_permutation_within(1, 1, all_missing), (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(PermutationWithin, SingletonStratumThrowsNamingIt) {
  const std::vector<std::int64_t> strata = {0, 0, 3, 1, 1, -1};
  const std::string msg = invalid_argument_message([&] { make_permutation_within(1, 0, strata); });
  EXPECT_NE(msg.find("stratum 3 has a single member"), std::string::npos) << msg;
  // A singleton among missing rows is still a singleton; a lone missing row is fine.
  EXPECT_THROW(make_permutation_within(1, 0, {-1, 7, -1}), std::invalid_argument);
  EXPECT_NO_THROW(make_permutation_within(1, 0, {-1, 7, 7}));
}

TEST(PermutationWithin, AllArrangementsOfAStratumEquallyLikely) {
  // Stratum 0 has 4 members spread among other strata and missing rows: 24
  // arrangements, ~1000 each over 24000 indices.
  const std::vector<std::int64_t> strata = {0, 1, -1, 0, 1, 0, -1, 0};
  const std::vector<std::size_t> at = {0, 3, 5, 7};
  const int m = 24000;
  std::map<std::vector<std::int64_t>, int> counts;
  for (int b = 0; b < m; ++b) {
    const auto p = make_permutation_within(2024, static_cast<std::uint64_t>(b), strata);
    std::vector<std::int64_t> arrangement;
    for (std::size_t k : at) arrangement.push_back(p[k]);
    counts[arrangement] += 1;
  }
  EXPECT_EQ(counts.size(), 24u);
  EXPECT_LT(chi_square_uniform(counts, 24, m), kChi2Dof23P1em6);
}

TEST(PermutationWithin, StrataShuffledIndependently) {
  // Two strata of 3 members: the pair of arrangements takes 36 values, ~1000
  // each over 36000 indices, if each stratum has its own random stream. A
  // stream shared by equal-size strata would put everything on the diagonal.
  const std::vector<std::int64_t> strata = {0, 1, 0, 1, 1, 0};
  const int m = 36000;
  std::map<std::vector<std::int64_t>, int> counts;
  for (int b = 0; b < m; ++b) {
    const auto p = make_permutation_within(31, static_cast<std::uint64_t>(b), strata);
    counts[{p[0], p[2], p[5], p[1], p[3], p[4]}] += 1;
  }
  EXPECT_EQ(counts.size(), 36u);
  EXPECT_LT(chi_square_uniform(counts, 36, m), kChi2Dof35P1em6);
}

// ---------------------------------------------------------------- blocks

/// Positions of each block, blocks in order of first appearance.
std::vector<std::vector<std::int64_t>> block_rows(const std::vector<std::int64_t>& blocks) {
  std::vector<std::int64_t> ids;
  std::vector<std::vector<std::int64_t>> rows;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto it = std::find(ids.begin(), ids.end(), blocks[i]);
    const auto k = static_cast<std::size_t>(it - ids.begin());
    if (it == ids.end()) {
      ids.push_back(blocks[i]);
      rows.emplace_back();
    }
    rows[k].push_back(static_cast<std::int64_t>(i));
  }
  return rows;
}

/// For each block slot j, which block's rows (in order) fill j's positions;
/// -1 if they are not exactly one block's rows in its order.
std::vector<std::int64_t> block_order(const std::vector<std::int64_t>& perm,
                                      const std::vector<std::vector<std::int64_t>>& rows) {
  std::vector<std::int64_t> order;
  for (const auto& positions : rows) {
    std::vector<std::int64_t> got;
    for (std::int64_t i : positions) got.push_back(perm[static_cast<std::size_t>(i)]);
    const auto it = std::find(rows.begin(), rows.end(), got);
    order.push_back(it == rows.end() ? -1 : static_cast<std::int64_t>(it - rows.begin()));
  }
  return order;
}

TEST(BlockPermutation, MovesWholeBlocksKeepingTheirOrder) {
  // Contiguous and interleaved layouts, ids not in appearance order.
  const std::vector<std::vector<std::int64_t>> layouts = {
      {5, 5, 5, 2, 2, 2, 9, 9, 9, 0, 0, 0},
      {1, 0, 1, 2, 0, 2, 1, 0, 2},
      {7, 3, 7, 3}};
  for (const auto& blocks : layouts) {
    const auto rows = block_rows(blocks);
    std::set<std::vector<std::int64_t>> orders;
    for (std::uint64_t b = 0; b < 300; ++b) {
      const auto p = make_block_permutation(11, b, blocks);
      ASSERT_EQ(p.size(), blocks.size());
      ASSERT_TRUE(is_permutation_of_iota(p));
      const auto order = block_order(p, rows);
      std::vector<std::int64_t> sorted = order;
      std::sort(sorted.begin(), sorted.end());
      std::vector<std::int64_t> iota(rows.size());
      std::iota(iota.begin(), iota.end(), std::int64_t{0});
      ASSERT_EQ(sorted, iota) << "a block was split or reordered at index " << b;
      orders.insert(order);
    }
    // All B! block orders occur (B <= 4 here; 300 draws).
    std::size_t factorial = 1;
    for (std::size_t k = 2; k <= rows.size(); ++k) factorial *= k;
    EXPECT_EQ(orders.size(), factorial);
  }
}

TEST(BlockPermutation, DeterministicInSeedAndIndex) {
  std::vector<std::int64_t> blocks(400);
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = static_cast<std::int64_t>(i / 4);
  const auto p = make_block_permutation(123, 5, blocks);
  EXPECT_EQ(p, make_block_permutation(123, 5, blocks));
  EXPECT_NE(p, make_block_permutation(123, 6, blocks));
  EXPECT_NE(p, make_block_permutation(124, 5, blocks));
}

TEST(BlockPermutation, PermuteConvention) {
  // y_perm[i] = y[perm[i]]: the labels of a block travel together.
  const std::vector<std::int64_t> blocks = {0, 0, 1, 1, 2, 2};
  const std::vector<int> y = {10, 11, 20, 21, 30, 31};
  for (std::uint64_t b = 0; b < 20; ++b) {
    const auto yp = permute(y, make_block_permutation(4, b, blocks));
    for (std::size_t i = 0; i < yp.size(); i += 2) {
      EXPECT_EQ(yp[i] % 10, 0);
      EXPECT_EQ(yp[i + 1], yp[i] + 1);
    }
  }
}

TEST(BlockPermutation, EqualSizesKeepTheirDraws) {
  // With all blocks of one size there is one size class (sub-stream 0): the
  // same permutations as before blocks of several sizes were allowed, so
  // earlier runs of scheme "blocks" are reproduced.
  const std::vector<std::int64_t> blocks = {5, 5, 2, 9, 2, 9, 0, 0};
  EXPECT_EQ(make_block_permutation(11, 0, blocks), (std::vector<std::int64_t>{6, 7, 0, 2, 1, 4, 3, 5}));
  EXPECT_EQ(make_block_permutation(11, 1, blocks), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(make_block_permutation(11, 7, blocks), (std::vector<std::int64_t>{2, 4, 3, 0, 5, 1, 6, 7}));
  EXPECT_EQ(make_block_permutation(11, 123, blocks), (std::vector<std::int64_t>{3, 5, 6, 0, 7, 1, 2, 4}));
}

TEST(BlockPermutation, UnequalSizesExchangeOnlyBlocksOfOneSize) {
  // Sizes: blocks 4, 6, 1 have 2 rows; 8 and 9 have 3; 7 alone has 1 row.
  // Interleaved rows. 3! x 2! = 12 arrangements, each ~1000 of 12000 draws.
  const std::vector<std::int64_t> blocks = {4, 8, 4, 6, 8, 9, 8, 1, 6, 9, 7, 1, 9};
  const auto rows = block_rows(blocks);  // slots: 4, 8, 6, 9, 1, 7
  const int m = 12000;
  std::map<std::vector<std::int64_t>, int> counts;
  for (int b = 0; b < m; ++b) {
    const auto p = make_block_permutation(5, static_cast<std::uint64_t>(b), blocks);
    ASSERT_TRUE(is_permutation_of_iota(p));
    const auto order = block_order(p, rows);
    for (std::size_t s = 0; s < order.size(); ++s) {
      ASSERT_GE(order[s], 0) << "a block was split or reordered at index " << b;
      ASSERT_EQ(rows[static_cast<std::size_t>(order[s])].size(), rows[s].size())
          << "blocks of different sizes exchanged at index " << b;
    }
    ASSERT_EQ(order[5], 5) << "block 7, alone in its size, moved";
    counts[order] += 1;
  }
  ASSERT_EQ(counts.size(), 12u);
  // Binomial bounds at 5 standard deviations for each of the 12 arrangements.
  const double p = 1.0 / 12.0;
  const double sd = std::sqrt(m * p * (1.0 - p));
  for (const auto& [order, c] : counts) {
    EXPECT_NEAR(c, m * p, 5.0 * sd);
  }
}

TEST(BlockPermutation, SizeClasses) {
  const std::vector<std::int64_t> blocks = {4, 8, 4, 6, 8, 9, 8, 1, 6, 9, 7, 1, 9};
  const BlockSizeClasses c = block_size_classes(blocks);
  EXPECT_EQ(c.blocks, 6);
  EXPECT_EQ(c.fixed, 1);
  EXPECT_NEAR(c.log_permutations, std::log(6.0 * 2.0), 1e-12);
  EXPECT_EQ(block_size_classes({0, 0, 1, 1}).fixed, 0);
  EXPECT_NEAR(block_size_classes({0, 0, 1, 1}).log_permutations, std::log(2.0), 1e-12);
}

TEST(BlockPermutation, NoTwoBlocksOfOneSizeThrowNamingBlocks) {
  const std::vector<std::int64_t> blocks = {4, 4, 8, 8, 8, 6};
  const std::string msg = invalid_argument_message([&] { make_block_permutation(1, 0, blocks); });
  EXPECT_NE(msg.find("no two blocks have the same size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block 4 has 2 rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block 8 has 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("identity"), std::string::npos) << msg;
  // One movable pair is enough.
  EXPECT_NO_THROW(make_block_permutation(1, 0, {4, 4, 8, 8, 8, 6, 6}));
}

TEST(BlockPermutation, NeedsAtLeastTwoBlocks) {
  EXPECT_THROW(make_block_permutation(1, 0, {3, 3, 3}), std::invalid_argument);
  EXPECT_THROW(make_block_permutation(1, 0, {}), std::invalid_argument);
  EXPECT_THROW(make_block_permutation(1, 0, {0, 0, -1, -1}), std::invalid_argument);
  EXPECT_NO_THROW(make_block_permutation(1, 0, {0, 1}));
}

TEST(BlockPermutation, AllBlockOrdersEquallyLikely) {
  // 3 blocks of 2 rows, interleaved: 6 orders, ~1000 each over 6000 indices.
  const std::vector<std::int64_t> blocks = {0, 1, 2, 2, 1, 0};
  const auto rows = block_rows(blocks);
  const int m = 6000;
  std::map<std::vector<std::int64_t>, int> counts;
  for (int b = 0; b < m; ++b) {
    counts[block_order(make_block_permutation(77, static_cast<std::uint64_t>(b), blocks), rows)] += 1;
  }
  EXPECT_EQ(counts.size(), 6u);
  EXPECT_LT(chi_square_uniform(counts, 6, m), kChi2Dof5P1em6);
}

}  // namespace
}  // namespace wsc::core

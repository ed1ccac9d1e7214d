#pragma once
// Restricted permutations for exchangeability structures (FSL PALM's
// within-block, whole-block and multi-level block permutation). Like make_permutation, each
// result is a pure function of (seed, permutation index, input vector), made
// with the counter-based Philox4x64 generator, so no result depends on ranks.
//
// Convention (as make_permutation): out[i] is the row taken to position i, and
// labels are permuted with core::permute, y_perm[i] = y[out[i]].
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wsc::core {

/// Permutation b that only moves rows within their stratum: rows with equal
/// strata[i] are shuffled among themselves (Fisher-Yates per stratum, keyed by
/// (seed, index, stratum)); rows with strata[i] < 0 (missing) stay in place.
/// Throws std::invalid_argument naming the stratum if a stratum has exactly one
/// member ("stratum 3 has a single member: it cannot be permuted").
///
/// Each stratum draws from its own Philox counters (keyed by its id), so the
/// arrangement of one stratum depends only on (seed, index, stratum id, the
/// stratum's member count), not on the other strata or on where the members
/// sit; members are taken in increasing row order.
std::vector<std::int64_t> make_permutation_within(std::uint64_t seed, std::uint64_t index,
                                                  const std::vector<std::int64_t>& strata);

/// Permutation b that moves whole exchangeability blocks (FSL PALM's whole-block
/// permutation, extended to blocks of unequal size): blocks[i] is row i's block
/// id; blocks of the same size are permuted among themselves as units, keeping
/// each block's internal row order, and each size class is permuted separately
/// (a block alone in its size stays in place). Rows of block k go to the
/// positions of the block it is swapped with. Result: out[i] = row taken to
/// position i.
///
/// Blocks are ordered by first appearance in `blocks`; a block's rows need not
/// be contiguous (its t-th row goes to the t-th position, in row order, of the
/// block it replaces). Size classes are numbered by the first appearance of
/// their first block; class c is shuffled from the Philox counters of sub-stream
/// c (so with all blocks of one size the draws are those of the single class 0).
/// Uniform over the prod_c B_c! arrangements.
///
/// Throws std::invalid_argument for a negative block id (there is no "missing"
/// row in a whole-block permutation), fewer than two blocks, or when no two
/// blocks have the same size (naming two blocks and their sizes): then every
/// permutation would be the identity.
std::vector<std::int64_t> make_block_permutation(std::uint64_t seed, std::uint64_t index,
                                                 const std::vector<std::int64_t>& blocks);

/// How the blocks of a whole-block permutation fall into size classes.
struct BlockSizeClasses {
  std::int64_t blocks = 0;        ///< distinct block ids
  std::int64_t fixed = 0;         ///< blocks alone in their size: they never move
  double log_permutations = 0.0;  ///< log of the number of distinct permutations, sum_c log(B_c!)
};
/// The size classes of `blocks` (no checks: negative ids count as blocks too).
BlockSizeClasses block_size_classes(const std::vector<std::int64_t>& blocks);

/// A multi-level exchangeability tree in FSL PALM's -eb layout (Winkler et al.
/// 2015, "Multi-level block permutation", NeuroImage 123): an integer matrix
/// [rows, levels], one column per level, the leftmost the whole sample.
///
/// A block is a set of rows sharing the ids of columns 0..c (so ids need only be
/// distinct among the sub-blocks of one block: "restart" and "continuous"
/// numbering mean the same). The sub-blocks of a block in column c < L-1 are the
/// distinct ids of column c+1 among its rows, taken in increasing id order. The
/// sign of a block's id says what happens to its sub-blocks:
///   - positive: they are exchanged as whole blocks (each sub-block's rows move
///     together to the place of another sub-block, keeping their arrangement
///     there), which requires all of them to have the same shape;
///   - negative: they stay in place; only what is inside them may move.
/// Independently, each sub-block is shuffled inside by the same rules one level
/// down. A block of the last column is a leaf: its rows move together, in row
/// order, and never among themselves (its sign has no effect; PALM's
/// "fixleaves"). A block with a single sub-block has nothing to exchange.
///
/// Shape, what whole-block exchange requires to match: a leaf's shape is its
/// row count; another block's is whether it exchanges its sub-blocks (positive
/// id and two or more of them) and the shapes of its sub-blocks in id order.
/// When sub-block A moves into B's place, the t-th leaf of A (depth-first, in
/// id order) takes the place of the t-th leaf of B, row by row.
///
/// The set of permutations this allows is a group; its size is the product of
/// k! over the blocks that exchange k sub-blocks. permutation() draws from it
/// uniformly: the arrangement inside each place (block) of the tree is one
/// keyed Fisher-Yates shuffle of its k sub-blocks, independent of all others.
class ExchangeTree {
 public:
  ExchangeTree() = default;

  /// Validates and builds the tree of `ids` (row-major, rows x levels).
  /// Throws std::invalid_argument with one line naming the offending block
  /// ("block [1, 2]" = the rows with id 1 in column 0 and 2 in column 1) when:
  /// ids.size() != rows * levels, levels < 1, rows < 1; an id is 0 (neither
  /// sign); column 0 does not hold one id for every row (PALM's single root);
  /// the sub-blocks of a positive block differ in shape; or no block exchanges
  /// anything (every permutation would be the identity).
  ExchangeTree(std::vector<std::int64_t> ids, std::int64_t rows, std::int64_t levels);

  bool empty() const { return nodes_.empty(); }
  std::int64_t rows() const { return rows_; }
  std::int64_t levels() const { return levels_; }
  const std::vector<std::int64_t>& ids() const { return ids_; }
  /// Blocks (all columns, leaves included) and blocks that exchange sub-blocks.
  std::int64_t blocks() const { return static_cast<std::int64_t>(nodes_.size()); }
  std::int64_t exchanging_blocks() const { return exchanging_; }
  /// log of the number of distinct permutations the tree allows.
  double log_permutations() const { return log_permutations_; }

  /// Permutation `index` under the tree: out[i] = the row taken to position i.
  /// A pure function of (seed, index, tree); the shuffle of the block numbered
  /// q (blocks numbered by a traversal fixed by the tree) draws from Philox
  /// sub-stream q only.
  std::vector<std::int64_t> permutation(std::uint64_t seed, std::uint64_t index) const;

 private:
  struct Node {
    std::int64_t id = 0;
    std::int64_t column = 0;
    std::size_t parent = 0;               ///< itself for the root
    bool exchange = false;                ///< positive id and >= 2 sub-blocks
    std::int64_t shape = 0;               ///< equal shapes, equal numbers
    std::int64_t size = 0;                ///< rows in the block
    std::vector<std::size_t> children;    ///< sub-blocks in increasing id order
    std::vector<std::int64_t> rows;       ///< a leaf's rows in row order (empty otherwise)
  };
  std::string describe(std::size_t node) const;
  std::string difference(std::size_t a, std::size_t b) const;

  std::vector<std::int64_t> ids_;
  std::int64_t rows_ = 0;
  std::int64_t levels_ = 0;
  std::vector<Node> nodes_;  ///< nodes_[0] is the root; parents before children
  std::int64_t exchanging_ = 0;
  double log_permutations_ = 0.0;
};

}  // namespace wsc::core

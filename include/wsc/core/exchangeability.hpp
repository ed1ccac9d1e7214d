#pragma once
// Restricted permutations for exchangeability structures (FSL PALM's
// within-block and whole-block permutation). Like make_permutation, each
// result is a pure function of (seed, permutation index, input vector), made
// with the counter-based Philox4x64 generator, so no result depends on ranks.
//
// Convention (as make_permutation): out[i] is the row taken to position i, and
// labels are permuted with core::permute, y_perm[i] = y[out[i]].
#include <cstdint>
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
/// permutation): blocks[i] is row i's block id; the blocks are permuted among
/// themselves as units, keeping each block's internal row order, which requires all
/// blocks to have the same size (throws std::invalid_argument naming two blocks of
/// different sizes otherwise) and at least two blocks. Rows of block k go to the
/// positions of the block it is swapped with. Result: out[i] = row taken to position i.
///
/// Blocks are ordered by first appearance in `blocks`; a block's rows need not
/// be contiguous (its t-th row goes to the t-th position, in row order, of the
/// block it replaces). Block ids must be non-negative (a negative id throws:
/// there is no "missing" row in a whole-block permutation). Uniform over the
/// B! block orders.
std::vector<std::int64_t> make_block_permutation(std::uint64_t seed, std::uint64_t index,
                                                 const std::vector<std::int64_t>& blocks);

}  // namespace wsc::core

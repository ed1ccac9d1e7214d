#include "wsc/core/exchangeability.hpp"

#include "keyed_words.hpp"

#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace wsc::core {

namespace {

using detail::bounded;
using detail::WordStream;

// Second counter word: separates these shuffles from make_permutation
// ("permute1"), keyed_uniform and keyed_normal, which share the key {seed, index}
// layout but use other tags.
constexpr std::uint64_t kWithinTag = 0x77697468696e3031ULL;  // "within01"
constexpr std::uint64_t kBlockTag = 0x626c6f636b733031ULL;   // "blocks01"

/// Fisher-Yates from the end on `items`; step i draws from counter
/// {i, tag, k, stream}, so no step depends on how many words others used.
void keyed_shuffle(std::vector<std::int64_t>& items, std::uint64_t seed, std::uint64_t index,
                   std::uint64_t tag, std::uint64_t stream) {
  for (std::size_t i = items.size(); i-- > 1;) {
    WordStream words(seed, index, static_cast<std::uint64_t>(i), tag, stream);
    const auto j = static_cast<std::size_t>(bounded(words, static_cast<std::uint64_t>(i) + 1));
    std::swap(items[i], items[j]);
  }
}

}  // namespace

std::vector<std::int64_t> make_permutation_within(std::uint64_t seed, std::uint64_t index,
                                                  const std::vector<std::int64_t>& strata) {
  const std::size_t n = strata.size();
  std::vector<std::int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  // Members of each stratum in increasing row order; std::map makes the
  // processing (and the error for several singletons) follow stratum id.
  std::map<std::int64_t, std::vector<std::int64_t>> members;
  for (std::size_t i = 0; i < n; ++i) {
    if (strata[i] >= 0) members[strata[i]].push_back(static_cast<std::int64_t>(i));
  }
  for (auto& [stratum, rows] : members) {
    if (rows.size() == 1) {
      throw std::invalid_argument("make_permutation_within: stratum " + std::to_string(stratum) +
                                  " has a single member: it cannot be permuted");
    }
    std::vector<std::int64_t> taken = rows;
    keyed_shuffle(taken, seed, index, kWithinTag, static_cast<std::uint64_t>(stratum));
    for (std::size_t k = 0; k < rows.size(); ++k) {
      perm[static_cast<std::size_t>(rows[k])] = taken[k];
    }
  }
  return perm;
}

std::vector<std::int64_t> make_block_permutation(std::uint64_t seed, std::uint64_t index,
                                                 const std::vector<std::int64_t>& blocks) {
  const std::size_t n = blocks.size();
  // Blocks in order of first appearance, each with its rows in row order.
  std::unordered_map<std::int64_t, std::size_t> slot_of;
  std::vector<std::int64_t> ids;
  std::vector<std::vector<std::int64_t>> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t id = blocks[i];
    if (id < 0) {
      throw std::invalid_argument("make_block_permutation: row " + std::to_string(i) +
                                  " has negative block id " + std::to_string(id));
    }
    const auto [it, inserted] = slot_of.emplace(id, ids.size());
    if (inserted) {
      ids.push_back(id);
      rows.emplace_back();
    }
    rows[it->second].push_back(static_cast<std::int64_t>(i));
  }
  if (ids.size() < 2) {
    throw std::invalid_argument(
        "make_block_permutation: whole-block permutation needs at least two blocks, got " +
        std::to_string(ids.size()));
  }
  for (std::size_t b = 1; b < ids.size(); ++b) {
    if (rows[b].size() != rows[0].size()) {
      throw std::invalid_argument("make_block_permutation: blocks must have equal sizes, but block " +
                                  std::to_string(ids[0]) + " has " + std::to_string(rows[0].size()) +
                                  " rows and block " + std::to_string(ids[b]) + " has " +
                                  std::to_string(rows[b].size()));
    }
  }
  // order[s] = the block (by appearance slot) whose rows move into slot s.
  std::vector<std::int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  keyed_shuffle(order, seed, index, kBlockTag, 0);
  std::vector<std::int64_t> perm(n);
  for (std::size_t s = 0; s < ids.size(); ++s) {
    const auto& source = rows[static_cast<std::size_t>(order[s])];
    for (std::size_t t = 0; t < rows[s].size(); ++t) {
      perm[static_cast<std::size_t>(rows[s][t])] = source[t];
    }
  }
  return perm;
}

}  // namespace wsc::core

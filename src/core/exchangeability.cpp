#include "wsc/core/exchangeability.hpp"

// Random123 is a system include (no warnings from it under -Werror), but keep
// the guard in case a toolchain does not honour SYSTEM include directories.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Random123/philox.h>
#pragma GCC diagnostic pop

#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace wsc::core {

namespace {

using Philox = r123::Philox4x64;

// Second counter word: separates these shuffles from make_permutation
// ("permute1"), keyed_uniform and keyed_normal, which share the key {seed, index}
// layout but use other tags.
constexpr std::uint64_t kWithinTag = 0x77697468696e3031ULL;  // "within01"
constexpr std::uint64_t kBlockTag = 0x626c6f636b733031ULL;   // "blocks01"

/// High and low 64 bits of a 64 x 64-bit product (as in permutation.cpp).
inline std::uint64_t mul_hi_lo(std::uint64_t a, std::uint64_t b, std::uint64_t* lo) {
#if defined(__SIZEOF_INT128__)
  __extension__ using U128 = unsigned __int128;
  const U128 p = static_cast<U128>(a) * static_cast<U128>(b);
  *lo = static_cast<std::uint64_t>(p);
  return static_cast<std::uint64_t>(p >> 64);
#else
  const std::uint64_t a_lo = a & 0xffffffffULL, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xffffffffULL, b_hi = b >> 32;
  const std::uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const std::uint64_t mid = (ll >> 32) + (lh & 0xffffffffULL) + (hl & 0xffffffffULL);
  *lo = (mid << 32) | (ll & 0xffffffffULL);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

/// Words for one counter head {c0, c1, *, c3} under key {k0, k1}: the four
/// words of each Philox block are used in turn, then the third counter word
/// is advanced (as permutation.cpp's WordStream, with the fourth counter word
/// free to carry a stratum id).
class WordStream {
 public:
  WordStream(std::uint64_t k0, std::uint64_t k1, std::uint64_t c0, std::uint64_t c1,
             std::uint64_t c3)
      : key_{{k0, k1}}, ctr_{{c0, c1, 0, c3}} {}

  std::uint64_t next() {
    if (used_ == 4) refill();
    return block_[used_++];
  }

 private:
  void refill() {
    block_ = Philox()(ctr_, key_);
    ctr_[2] += 1;
    used_ = 0;
  }

  Philox::key_type key_;
  Philox::ctr_type ctr_;
  Philox::ctr_type block_{};
  unsigned used_ = 4;
};

/// Uniform in [0, bound) without modulo bias (Lemire 2019).
std::uint64_t bounded(WordStream& words, std::uint64_t bound) {
  std::uint64_t lo = 0;
  std::uint64_t hi = mul_hi_lo(words.next(), bound, &lo);
  if (lo < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (lo < threshold) hi = mul_hi_lo(words.next(), bound, &lo);
  }
  return hi;
}

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

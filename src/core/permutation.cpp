#include "wsc/core/permutation.hpp"

// Random123 is a system include (no warnings from it under -Werror), but keep
// the guard in case a toolchain does not honour SYSTEM include directories.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Random123/philox.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace wsc::core {

namespace {

using Philox = r123::Philox4x64;

// Second counter word: separates the uses of one key, so a permutation, a
// keyed uniform and a keyed normal never share random words.
constexpr std::uint64_t kPermutationTag = 0x7065726d75746531ULL;  // "permute1"
constexpr std::uint64_t kUniformTag = 0x756e69666f726d31ULL;      // "uniform1"
constexpr std::uint64_t kNormalTag = 0x6e6f726d616c3031ULL;       // "normal01"

/// High and low 64 bits of a 64 x 64-bit product.
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

/// An endless supply of 64-bit words for one (key, counter head): the four
/// words of each Philox block are used in turn, then the third counter word
/// is advanced. Rejection sampling draws its extra words from here, so every
/// draw stays a pure function of (key, counter head).
class WordStream {
 public:
  WordStream(std::uint64_t k0, std::uint64_t k1, std::uint64_t c0, std::uint64_t c1)
      : key_{{k0, k1}}, ctr_{{c0, c1, 0, 0}} {}

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

/// Uniform in [0, bound) without modulo bias (Lemire 2019, "Fast random
/// integer generation in an interval"): the high word of x * bound, rejecting
/// the few x whose low word falls below 2^64 mod bound.
std::uint64_t bounded(WordStream& words, std::uint64_t bound) {
  std::uint64_t lo = 0;
  std::uint64_t hi = mul_hi_lo(words.next(), bound, &lo);
  if (lo < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (lo < threshold) hi = mul_hi_lo(words.next(), bound, &lo);
  }
  return hi;
}

/// A uniform double in (0, 1] from the top 53 bits of a word.
double unit_open_closed(std::uint64_t word) {
  return static_cast<double>((word >> 11) + 1) * 0x1.0p-53;
}

}  // namespace

std::vector<std::int64_t> make_permutation(std::uint64_t seed, std::uint64_t index,
                                           std::int64_t n) {
  if (n < 0) throw std::invalid_argument("make_permutation: negative length");
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  // Fisher-Yates from the end; step i draws from its own counter {i, tag},
  // so the permutation does not depend on how many words earlier steps used.
  for (std::int64_t i = n - 1; i >= 1; --i) {
    WordStream words(seed, index, static_cast<std::uint64_t>(i), kPermutationTag);
    const auto j = static_cast<std::int64_t>(bounded(words, static_cast<std::uint64_t>(i) + 1));
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

std::uint64_t keyed_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter,
                            std::uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("keyed_uniform: bound must be positive");
  WordStream words(seed, stream, counter, kUniformTag);
  return bounded(words, bound);
}

double keyed_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) {
  WordStream words(seed, stream, counter, kNormalTag);
  // u1 in (0, 1] keeps log(u1) finite.
  const double u1 = unit_open_closed(words.next());
  const double u2 = unit_open_closed(words.next());
  constexpr double two_pi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
}

}  // namespace wsc::core

#pragma once
// Private to the core: the counter-based word stream behind every keyed
// random draw (permutations, exchangeability, keyed uniforms and normals).
// Random123 Philox4x64 keyed by {k0, k1}; counter {c0, c1, step, c3}.

// Random123 is a system include (no warnings from it under -Werror), but keep
// the guard in case a toolchain does not honour SYSTEM include directories.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Random123/philox.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace wsc::core::detail {

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
/// draw stays a pure function of (key, counter head). The fourth counter word
/// is free for a sub-stream (e.g. a stratum id).
class WordStream {
 public:
  using Philox = r123::Philox4x64;

  WordStream(std::uint64_t k0, std::uint64_t k1, std::uint64_t c0, std::uint64_t c1,
             std::uint64_t c3 = 0)
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

/// Uniform in [0, bound) without modulo bias (Lemire 2019, "Fast random
/// integer generation in an interval"): the high word of x * bound, rejecting
/// the few x whose low word falls below 2^64 mod bound.
inline std::uint64_t bounded(WordStream& words, std::uint64_t bound) {
  std::uint64_t lo = 0;
  std::uint64_t hi = mul_hi_lo(words.next(), bound, &lo);
  if (lo < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (lo < threshold) hi = mul_hi_lo(words.next(), bound, &lo);
  }
  return hi;
}

}  // namespace wsc::core::detail

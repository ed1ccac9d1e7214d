#include "wsc/core/permutation.hpp"

#include "keyed_words.hpp"

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace wsc::core {

namespace {

using detail::bounded;
using detail::WordStream;

// Second counter word: separates the uses of one key, so a permutation, a
// keyed uniform and a keyed normal never share random words.
constexpr std::uint64_t kPermutationTag = 0x7065726d75746531ULL;  // "permute1"
constexpr std::uint64_t kUniformTag = 0x756e69666f726d31ULL;      // "uniform1"
constexpr std::uint64_t kNormalTag = 0x6e6f726d616c3031ULL;       // "normal01"

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

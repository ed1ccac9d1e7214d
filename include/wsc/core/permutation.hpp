#pragma once
// Permutations keyed by (seed, permutation index) with a counter-based
// generator (Random123 Philox4x64): any process makes permutation b alone,
// so results never depend on the rank count or the layout.
#include <cstdint>
#include <vector>

namespace wsc::core {

/// A uniformly random permutation of 0..n-1 (Fisher-Yates), a function of
/// (seed, index, n) only. Index 0 is a permutation like any other.
std::vector<std::int64_t> make_permutation(std::uint64_t seed, std::uint64_t index, std::int64_t n);

/// A uniform integer in [0, bound) from stream (seed, stream, counter); for
/// shuffles elsewhere (folds, demo data).
std::uint64_t keyed_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter,
                            std::uint64_t bound);

/// A standard normal from (seed, stream, counter) (Box-Muller on two uniforms).
double keyed_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter);

/// Applies a permutation to labels: out[i] = in[perm[i]].
template <typename T>
std::vector<T> permute(const std::vector<T>& in, const std::vector<std::int64_t>& perm) {
  std::vector<T> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[static_cast<std::size_t>(perm[i])];
  return out;
}

}  // namespace wsc::core

#pragma once
// Private to the core: the exponentials of the softmax, shared by the
// single-head objective (softmax_objective.cpp) and the batched solver
// (batched_newton.cpp) so that both compute bit-identical probabilities.
#include "wsc/core/types.hpp"

#include <algorithm>

namespace wsc::core::detail {

/// exp() in place of `len` shifted logits (all <= 0, the row maximum
/// subtracted). Entries below -708 become exactly 0: there exp() is under
/// 1e-307 next to the row maximum's 1, and Eigen's vectorised exp() is no
/// longer exact (it returns a denormal, not 0, even for -inf, e.g. an absent
/// class's bias). NaN stays NaN.
///
/// The entries go through an aligned scratch chunk whose length is a
/// multiple of every SIMD width, so each one is computed by Eigen's
/// vectorised exp() (not libm's scalar exp, which Eigen would use for a
/// select() or for the unaligned ends of a block): the result depends only on
/// the value, not on where it sits in memory.
inline void softmax_exp(double* data, Index len) {
  constexpr Index kChunk = 512;
  using Chunk = Eigen::Array<double, kChunk, 1>;
  alignas(64) double scratch[kChunk];
  Eigen::Map<Chunk, Eigen::Aligned64> chunk(scratch);
  for (Index start = 0; start < len; start += kChunk) {
    const Index m = std::min(kChunk, len - start);
    double* const z = data + start;
    for (Index i = 0; i < m; ++i) scratch[i] = std::max(z[i], -708.0);  // NaN stays
    for (Index i = m; i < kChunk; ++i) scratch[i] = 0.0;
    chunk = chunk.exp();
    for (Index i = 0; i < m; ++i) z[i] = z[i] < -708.0 ? 0.0 : scratch[i];
  }
}

}  // namespace wsc::core::detail

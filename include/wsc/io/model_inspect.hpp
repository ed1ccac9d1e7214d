#pragma once
// `wsc inspect`: what a model file holds and what is wrong with it, read
// serially through ModelFile without stopping at the first problem.
#include <cstdint>
#include <string>

namespace wsc::io {

/// The most /embeddings data `wsc inspect` scans for NaN and Inf (as float64):
/// a file declaring more is reported, not scanned.
inline constexpr std::int64_t kInspectScanBytes = std::int64_t{1} << 40;

/// Builds the human-readable report of `wsc inspect` (what the file holds, and
/// what is wrong with it). Returns the number of problems found. Labels,
/// groups and heads declaring more than `memory_bytes` (when > 0) are
/// reported, not read.
int inspect_model_file(const std::string& path, std::int64_t memory_bytes, std::string& report);

}  // namespace wsc::io

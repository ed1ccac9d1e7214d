#pragma once
// `wsc inspect`: what a model file holds and what is wrong with it, read
// serially through ModelFile without stopping at the first problem.
#include <string>

namespace wsc::io {

/// Builds the human-readable report of `wsc inspect` (what the file holds, and
/// what is wrong with it). Returns the number of problems found.
int inspect_model_file(const std::string& path, std::string& report);

}  // namespace wsc::io

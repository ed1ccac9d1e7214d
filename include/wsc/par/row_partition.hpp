#pragma once
// Contiguous block partition of N rows over R parts. Pure arithmetic: no MPI,
// so it is tested serially.
#include <cstdint>

namespace wsc::par {

struct RowBlock {
  std::int64_t begin = 0;
  std::int64_t count = 0;
  std::int64_t end() const { return begin + count; }
};

/// Part r of N rows over R parts: the first N % R parts get one extra row.
/// Parts beyond N get zero rows.
RowBlock block_of(std::int64_t rows, int parts, int part);

}  // namespace wsc::par

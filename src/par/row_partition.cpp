#include "wsc/par/row_partition.hpp"

#include <stdexcept>

namespace wsc::par {

RowBlock block_of(std::int64_t rows, int parts, int part) {
  if (rows < 0 || parts < 1 || part < 0 || part >= parts) {
    throw std::invalid_argument("block_of: bad arguments");
  }
  const std::int64_t base = rows / parts;
  const std::int64_t extra = rows % parts;
  RowBlock block;
  block.begin = part * base + (part < extra ? part : extra);
  block.count = base + (part < extra ? 1 : 0);
  return block;
}

}  // namespace wsc::par

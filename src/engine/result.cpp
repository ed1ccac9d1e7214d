#include "wsc/engine/result.hpp"

#include <cmath>

namespace wsc::engine {

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Untested: return "untested";
    case Verdict::NotEncoded: return "not_encoded";
    case Verdict::Encoded: return "encoded";
    case Verdict::EncodedNotUsed: return "encoded_not_used";
    case Verdict::EncodedUsed: return "encoded_used";
  }
  return "untested";
}

std::vector<double> SensitivityResult::observed_abs(const CellIndex& cells) const {
  std::vector<double> out(size() * cells.size());
  for (std::size_t s = 0; s < size(); ++s) {
    cells.for_each([&](const Cell& c) { out[s * cells.size() + c.index] = std::fabs(cos[s][c.task](c.i, c.j)); });
  }
  return out;
}

}  // namespace wsc::engine

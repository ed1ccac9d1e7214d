#include "wsc/engine/result.hpp"

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

}  // namespace wsc::engine

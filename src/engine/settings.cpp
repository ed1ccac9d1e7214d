#include "wsc/engine/settings.hpp"

namespace wsc::engine {

const char* to_string(PermutationScheme scheme) {
  switch (scheme) {
    case PermutationScheme::Free: return "free";
    case PermutationScheme::Within: return "within";
    case PermutationScheme::Blocks: return "blocks";
  }
  return "free";
}

std::optional<PermutationScheme> permutation_scheme_from(const std::string& name) {
  for (PermutationScheme s : {PermutationScheme::Free, PermutationScheme::Within, PermutationScheme::Blocks}) {
    if (name == to_string(s)) return s;
  }
  return std::nullopt;
}

}  // namespace wsc::engine

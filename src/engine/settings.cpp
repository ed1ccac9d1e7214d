#include "wsc/engine/settings.hpp"

#include <algorithm>

namespace wsc::engine {

const char* to_string(PermutationScheme scheme) {
  switch (scheme) {
    case PermutationScheme::Free: return "free";
    case PermutationScheme::Within: return "within";
    case PermutationScheme::Blocks: return "blocks";
    case PermutationScheme::Tree: return "tree";
  }
  return "free";
}

std::optional<PermutationScheme> permutation_scheme_from(const std::string& name) {
  for (PermutationScheme s : {PermutationScheme::Free, PermutationScheme::Within, PermutationScheme::Blocks,
                              PermutationScheme::Tree}) {
    if (name == to_string(s)) return s;
  }
  return std::nullopt;
}

const char* to_string(PermutationStop stop) {
  return stop == PermutationStop::Decisions ? "decisions" : "fixed";
}

std::string decisions_problem(const std::vector<std::string>& decisions) {
  if (decisions.empty()) return "lists no decision";
  std::vector<std::string> seen;
  for (const std::string& d : decisions) {
    const auto& known = decision_names();
    if (std::find(known.begin(), known.end(), d) == known.end()) return "lists '" + d + "'";
    if (std::find(seen.begin(), seen.end(), d) != seen.end()) return "lists '" + d + "' twice";
    seen.push_back(d);
  }
  return {};
}

std::string sensitivity_problem(const std::vector<int>& ks) {
  if (ks.size() > kMaxSensitivity) {
    return "lists " + std::to_string(ks.size()) + " values of k, at most " + std::to_string(kMaxSensitivity);
  }
  std::vector<int> sorted = ks;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && sorted.front() < 0) return "has k = " + std::to_string(sorted.front()) + " < 0";
  const auto twin = std::adjacent_find(sorted.begin(), sorted.end());
  if (twin != sorted.end()) return "lists k = " + std::to_string(*twin) + " twice";
  return {};
}

std::vector<int> sensitivity_order(std::vector<int> ks) {
  std::sort(ks.begin(), ks.end(), [](int a, int b) {
    if (a == 0 || b == 0) return b == 0 && a != 0;  // no projection last
    return a < b;
  });
  return ks;
}

}  // namespace wsc::engine

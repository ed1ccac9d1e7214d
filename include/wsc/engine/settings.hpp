#pragma once
// What an analysis is asked to do: one value struct whose sections follow
// the config's ([pca], [probe], [cv], [permutation], [encodability],
// [bootstrap]). The app's Config holds it as is; the engine reads nothing
// else. Plain data: no MPI, no files.
#include "wsc/core/pca.hpp"
#include "wsc/core/trust_region_newton.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wsc::engine {

/// Exchangeability of the permutation null.
enum class PermutationScheme {
  Free,    ///< any permutation of the rows
  Within,  ///< rows move only inside their stratum
  Blocks,  ///< whole blocks move together (blocks of one size among themselves)
  Tree,    ///< a multi-level block tree (FSL PALM's -eb file)
};

/// "free", "within", "blocks", "tree".
const char* to_string(PermutationScheme scheme);
/// The scheme named `name`; std::nullopt for another spelling.
std::optional<PermutationScheme> permutation_scheme_from(const std::string& name);

/// When the permutation null stops.
enum class PermutationStop {
  Fixed,      ///< after permutation.count permutations
  Decisions,  ///< at the first look where every decision asked for is settled (count: the cap)
};

/// "fixed", "decisions".
const char* to_string(PermutationStop stop);

/// The decisions "decisions" stopping can wait for.
inline const std::vector<std::string>& decision_names() {
  static const std::vector<std::string> names{"p_fwer", "q_fdr", "p_perm"};
  return names;
}

/// What is wrong with a [permutation] decisions list ("" when nothing).
std::string decisions_problem(const std::vector<std::string>& decisions);

/// What is wrong with a [pca] sensitivity list ("" when nothing): every k
/// >= 0, distinct, at most kMaxSensitivity of them.
std::string sensitivity_problem(const std::vector<int>& ks);
constexpr std::size_t kMaxSensitivity = 64;

/// Hard limits on counts from a config, checked before any arithmetic on
/// them: permutation.count, encodability.permutations, bootstrap.count and
/// permutation.look at most 2^40 (far beyond any null that fits in memory;
/// the memory plan bounds them further), metadata bins and classes at most
/// 65536.
constexpr std::int64_t kMaxResamples = std::int64_t{1} << 40;
constexpr int kMaxClasses = 65536;

/// The list in the order outputs use: ascending k, no projection (0) last.
std::vector<int> sensitivity_order(std::vector<int> ks);

/// A probe fit: ridge and solver.
struct ProbeSettings {
  double l2 = 1e-4;            ///< [probe] l2
  core::SolverOptions solver;  ///< [probe] tol, max_iter
};

struct CvSettings {
  int folds = 5;               ///< [cv] folds
  std::uint64_t seed = 0;      ///< [cv] seed (fold shuffling)
};

struct PermutationSettings {
  std::int64_t count = 1000;   ///< [permutation] count; 0: no permutation null
  std::uint64_t seed = 1;      ///< [permutation] seed: permutation b is drawn from (seed, b)
  PermutationScheme scheme = PermutationScheme::Free;  ///< [permutation] scheme
  PermutationStop stop = PermutationStop::Fixed;       ///< [permutation] stop
  /// [permutation] risk: with stop = "decisions", the bound on the chance
  /// that a cell's decision differs from the one of its exact permutation p.
  double risk = 1e-3;
  /// [permutation] decisions: the decisions at alpha that must settle.
  std::vector<std::string> decisions{"p_fwer"};
  /// [permutation] look: permutations between two looks (0: the smallest
  /// multiple of the batch >= 100).
  std::int64_t look = 0;
};

struct EncodabilitySettings {
  /// [encodability] permutations: permutations of each metadata task's
  /// labels whose cross-validated macro AUROC (same folds) forms the null of
  /// the observed one (scikit-learn's permutation_test_score); 0: no test.
  std::int64_t permutations = 100;
  /// [encodability] alpha: the level of every significance call (verdicts,
  /// cells counted significant, sweep fractions).
  double alpha = 0.05;
};

struct BootstrapSettings {
  std::int64_t count = 0;      ///< [bootstrap] count: resamples of the rows; 0: none
  std::uint64_t seed = 1;      ///< [bootstrap] seed
  double level = 0.95;         ///< [bootstrap] level of the two-sided percentile interval
};

struct AnalysisSettings {
  core::PcaSettings pca;
  /// [pca] sensitivity: the WSC is also reported at each of these numbers of
  /// components (0: no projection); empty: no k-sensitivity.
  std::vector<int> sensitivity;
  ProbeSettings probe;
  CvSettings cv;
  PermutationSettings permutation;
  EncodabilitySettings encodability;
  BootstrapSettings bootstrap;
  /// [parallel] batch: heads fitted together (capped by memory, see
  /// core::suggested_batch_heads).
  std::int64_t batch = 64;
  /// Keep every permutation's cell values when permutations x cells <= this.
  std::int64_t keep_null_limit = 10'000'000;

  /// Encodability permutations actually run: none without folds to score on.
  std::int64_t encodability_count() const { return cv.folds >= 2 ? encodability.permutations : 0; }
};

}  // namespace wsc::engine

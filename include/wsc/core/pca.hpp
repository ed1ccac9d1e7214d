#pragma once
// Principal components from a covariance matrix, and the rule that picks k.
#include "wsc/core/row_invariants.hpp"
#include "wsc/core/types.hpp"

namespace wsc::core {

struct PcaSettings {
  double variance = 0.99;    ///< explained-variance threshold in (0, 1]
  int min_components = 50;   ///< lower bound on k (capped at d)
  int components = -1;       ///< >0: fix k; 0: no projection; -1: use the rule
};

struct PcaBasis {
  Vector mean;                  ///< d
  Vector eigenvalues;           ///< d, descending (variance along each component)
  Matrix components;            ///< k x d, rows orthonormal; identity when !projected
  int k = 0;                    ///< rows of components
  double explained = 1.0;       ///< fraction of total variance in the first k
  bool projected = true;        ///< false when components = 0 (identity)
};

/// Eigen-decomposes the (symmetric) covariance, orders components by
/// descending variance, and fixes each component's sign so that its entry of
/// largest magnitude is positive. Throws std::invalid_argument on bad settings.
PcaBasis pca_from_covariance(const Matrix& covariance, const Vector& mean,
                             const PcaSettings& settings);

/// The same from the covariance's eigen-decomposition (ascending values,
/// as row_invariants_from_covariance makes it) and the rows' mean.
PcaBasis pca_from_invariants(const RowInvariants& rows, const PcaSettings& settings);

/// k = max(min_components, smallest k whose cumulative share >= variance),
/// at most d. eigenvalues descending.
int choose_components(const Vector& eigenvalues, double variance, int min_components);

/// W' = W P^T (C x k).
Matrix project_head(const Matrix& weight, const PcaBasis& basis);

}  // namespace wsc::core

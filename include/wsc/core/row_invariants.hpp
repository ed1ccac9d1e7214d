#pragma once
// What the probe solvers need of the rows that does not depend on any
// labels: the mean of all rows (the centre of the float products) and the
// eigen-decomposition of their covariance (the feature factor of the
// Kronecker preconditioner, kron_preconditioner.hpp). The same for every fit
// over the same rows, so a run computes them once (from the PCA's covariance)
// and hands them to every batched fit.
#include "wsc/core/embedding_rows.hpp"
#include "wsc/core/types.hpp"

namespace wsc::core {

/// Eigen-decomposition of a feature covariance S = V diag(lambda) V^T.
struct FeatureBasis {
  Matrix vectors;  ///< V (d x d), orthonormal columns
  Vector values;   ///< lambda (d), >= 0
};

struct RowInvariants {
  Vector centre;       ///< d: mean of all rows
  FeatureBasis basis;  ///< of the covariance of all rows
};

/// From a covariance (any positive scale: only its eigenvectors and the
/// ratios of its eigenvalues to the l2 penalty shape the preconditioner) and
/// the mean of the rows. Throws std::invalid_argument on mismatched sizes or
/// non-finite values.
RowInvariants row_invariants_from_covariance(const Matrix& covariance, const Vector& mean);

/// Of all rows of every participant: the mean (one reduce), then the
/// covariance of the centred rows (divisor N, one reduce), summed in double
/// over tiles. Collective.
RowInvariants row_invariants(RowsView x, const SumReduce& reduce);

}  // namespace wsc::core

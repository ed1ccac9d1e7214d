#pragma once
// Trust-region Newton with conjugate gradients (the TRON method of LIBLINEAR:
// Lin, Weng & Keerthi 2008). Needs only values, gradients and Hessian-vector
// products, each one collective pass over the rows.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/softmax_objective.hpp"

namespace wsc::core {

struct SolverOptions {
  double tol = 1e-8;    ///< stop when the gradient's max-norm is <= tol
  int max_iter = 1000;  ///< outer iterations
  /// The Hessian-vector products of the CG in single precision (float GEMMs
  /// over rows centred in float; about 1e-6 relative accuracy, twice the
  /// GEMM speed). Values, gradients, step acceptance and the stopping test
  /// stay in double, so the result meets the same tolerance. A head whose
  /// trust-region step is rejected uses double products from then on.
  bool float_hessian = true;
  /// Rows per tile of the batched solver's passes (0: tile_rows(d),
  /// embedding_rows.hpp). Changes only the summation order.
  Index tile_rows = 0;
};

/// Minimises the objective from `head` (used as the start; zeros are fine) and
/// returns the optimum in `head`. Collective when the objective is.
FitReport fit_trust_region_newton(SoftmaxObjective& objective, ProbeHead& head,
                                  const SolverOptions& options);

/// Convenience: a probe fitted on rows x with labels y, from the
/// intercept-only optimum (W = 0, biases the log class frequencies).
ProbeHead fit_probe(const RowMatrix& x, const Labels& y, int classes, double l2,
                    const SolverOptions& options, const SumReduce& reduce, FitReport* report);

}  // namespace wsc::core

#pragma once
// Many softmax probe heads over the same rows, fitted together: the TRON
// method of trust_region_newton.hpp run in lock-step for a batch of label
// vectors (a permutation null refits the same probe on many permuted labels).
// Every objective evaluation and Hessian-vector product of the active heads is
// one pass over the rows with GEMMs of B*C columns instead of B passes with
// C columns, and one reduce call carries the sums of all of them.
#include "wsc/core/probe_head.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"

#include <cstddef>
#include <vector>

namespace wsc::core {

/// Work counters of one batched fit (all local; the bench reads them).
struct BatchedFitStats {
  int rounds = 0;              ///< lock-step outer rounds
  int evaluations = 0;         ///< batched value/gradient passes (initial one included)
  int hessian_products = 0;    ///< batched Hessian-vector passes
  int reduce_calls = 0;        ///< calls of the reduction hook
  std::size_t reduced_doubles = 0;  ///< doubles passed to the hook, summed over calls
  double evaluation_flops = 0.0;    ///< GEMM flops of the evaluations (2 m n k per product)
  double evaluation_seconds = 0.0;  ///< local wall time of the evaluations (reduce excluded)
  double hessian_flops = 0.0;       ///< GEMM flops of the Hessian-vector products
  double hessian_seconds = 0.0;     ///< local wall time of those products (reduce excluded)
};

/// Fits one softmax head per label vector (all over the same rows x, same
/// class count), each from its intercept-only optimum (as fit_probe).
///
/// Equivalent to calling fit_probe on each labels[b]: same objective, same
/// TRON steps (centred coordinates, Kronecker-factored preconditioner,
/// trust-region radius updates, final bias centring), same stopping rule
/// (gradient max-norm <= options.tol per head, at most options.max_iter outer
/// iterations per head).
/// The heads advance in rounds: one batched evaluation, batched CG whose
/// every step is one batched Hessian-vector product of the heads whose CG is
/// still running, one batched evaluation of the trial points. Heads that stop
/// leave the batch. Results equal the single fits up to rounding (summation
/// order in the GEMMs differs).
///
/// labels[b] has x.rows() entries, 0..classes-1 or negative for "skip this
/// row"; each head may skip different rows.
///
/// row_weights (optional, for bootstrap replicates): one vector of x.rows()
/// finite weights >= 0 per head. Head b then minimises
/// sum_i w_i loss_i / sum_i w_i + l2/2 |W|^2 over its counted rows, so integer
/// weights give the optimum of the rows repeated w_i times, and weight 0 is
/// the same as label -1. nullptr: all weights 1.
///
/// Throws std::invalid_argument, on every participant alike, for bad
/// arguments, a label outside the classes, a label or weight vector of the
/// wrong length, a negative or non-finite weight, or a row_weights of another
/// size than labels on any participant, or a head without counted rows of
/// positive total weight.
///
/// Collective: the sequence of reduce calls (and their sizes) depends only on
/// reduced quantities, so every participant makes the same calls, also one
/// with zero rows. Per call the buffer holds the active heads only.
///
/// Memory: 3 n B C doubles (probabilities at the current and the trial
/// points, one work matrix) and n B C floats (the Hessian products), plus
/// n d floats (x centred, for the float Hessian products of
/// options.float_hessian) and about 3 d^2 doubles for the preconditioner's
/// feature covariance; see suggested_batch_heads(). `reports` (optional) gets one FitReport per head,
/// `stats` (optional) the work counters.
std::vector<ProbeHead> fit_probes_batched(const RowMatrix& x, const std::vector<Labels>& labels,
                                          int classes, double l2, const SolverOptions& options,
                                          const SumReduce& reduce, std::vector<FitReport>* reports,
                                          BatchedFitStats* stats = nullptr,
                                          const std::vector<Vector>* row_weights = nullptr);

/// A batch size B (>= 1) whose n x B*C work matrices (three double, one
/// float) fit in `budget_bytes` (default 256 MiB): floor(budget / (28 n C)). Callers with
/// more heads than that fit them in consecutive batches.
int suggested_batch_heads(Index rows, int classes, std::size_t budget_bytes = std::size_t{256} << 20);

}  // namespace wsc::core

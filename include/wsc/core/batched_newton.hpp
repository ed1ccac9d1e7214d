#pragma once
// Many softmax probe heads over the same rows, fitted together: the TRON
// method of trust_region_newton.hpp run in lock-step for a batch of label
// vectors (a permutation null refits the same probe on many permuted labels).
// Every objective evaluation and Hessian-vector product of the active heads is
// one pass over the rows with GEMMs of B*C columns instead of B passes with
// C columns, and one reduce call carries the sums of all of them.
#include "wsc/core/embedding_rows.hpp"
#include "wsc/core/probe_head.hpp"
#include "wsc/core/row_invariants.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/core/types.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsc::core {

/// Work counters of one batched fit (all local; the bench reads them).
struct BatchedFitStats {
  std::int64_t heads = 0;      ///< heads fitted
  int rounds = 0;              ///< lock-step outer rounds
  int evaluations = 0;         ///< batched value/gradient passes (initial one included)
  int hessian_products = 0;    ///< batched Hessian-vector passes
  Index tile_rows = 0;         ///< rows per tile of the passes
  int reduce_calls = 0;        ///< calls of the reduction hook
  std::size_t reduced_doubles = 0;  ///< doubles passed to the hook, summed over calls
  double evaluation_flops = 0.0;    ///< GEMM flops of the evaluations (2 m n k per product)
  double evaluation_seconds = 0.0;  ///< local wall time of the evaluations (reduce excluded)
  double hessian_flops = 0.0;        ///< GEMM flops of the double Hessian-vector products
  double hessian_float_flops = 0.0;  ///< GEMM flops of the float ones (options.float_hessian)
  double hessian_seconds = 0.0;      ///< local wall time of all products (reduce excluded)
  double reduce_seconds = 0.0;  ///< local wall time inside the reduction hook (waits for the slowest participant)
};

/// Fits one softmax head per label vector (all over the same rows x, same
/// class count), each from its intercept-only optimum (as fit_probe).
///
/// Equivalent to calling fit_probe on each labels[b]: same objective, same
/// TRON steps (centred coordinates, Kronecker-factored preconditioner,
/// trust-region radius updates, final bias centring), same stopping rule
/// (gradient max-norm <= options.tol per head on the double gradient, at
/// most options.max_iter outer iterations per head).
/// The heads advance in rounds: one batched evaluation, batched CG whose
/// every step is one batched Hessian-vector product of the heads whose CG is
/// still running, one batched evaluation of the trial points. Heads that stop
/// leave the batch. Results equal the single fits up to rounding (summation
/// order in the GEMMs differs) and, with float Hessian products, up to the
/// optimum's uncertainty (tol / l2).
///
/// Every pass goes over the rows in tiles (options.tile_rows, default
/// tile_rows(d)): per tile one GEMM of the batch's B*C columns gives the
/// logits (and, in a Hessian product, the directions' products), the softmax
/// and residuals follow in the cache, and a second GEMM adds the tile's part
/// of the sums. Values and gradients are computed in double (float rows are
/// widened one tile at a time); Hessian products in float over the rows
/// centred on the row mean (options.float_hessian) until a head's step is
/// rejected, in double after. Nothing of n rows is kept per head: a Hessian
/// product recomputes the probabilities at the current point in its first
/// GEMM (2 B*C columns instead of B*C), so the memory of a fit does not grow
/// with n beyond the labels and weights the caller holds.
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
/// invariants (optional): the mean and covariance eigen-decomposition of
/// all rows (row_invariants.hpp), the same for every fit over these rows;
/// nullptr: computed here (two more reduces and a pass of n d^2 flops).
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
/// Memory: per tile of T rows about T (d + 3 B C) doubles and T d floats;
/// B C d doubles of stacked parameters and sums; about 3 d^2 doubles for the
/// invariants when not given. `reports` (optional) gets one FitReport per
/// head, `stats` (optional) the work counters.
std::vector<ProbeHead> fit_probes_batched(RowsView x, const std::vector<Labels>& labels, int classes, double l2,
                                          const SolverOptions& options, const SumReduce& reduce,
                                          std::vector<FitReport>* reports, BatchedFitStats* stats = nullptr,
                                          const std::vector<Vector>* row_weights = nullptr,
                                          const RowInvariants* invariants = nullptr);

/// A batch size B (>= 1) for heads of `classes` classes over rows of
/// dimension d: about 256 GEMM columns (B C), where a tile's GEMMs run at
/// their full rate, within `budget_bytes` of per-batch state (B C d
/// doubles of parameters, directions and sums, about 6 per entry; default
/// 256 MiB). Independent of the row count: the passes go over tiles.
int suggested_batch_heads(Index dim, int classes, std::size_t budget_bytes = std::size_t{256} << 20);

/// The rate (flops/s) of the GEMM pair of a pass over one tile, Z = X S^T
/// then G = Z^T X with X of `rows` x `dim` and `columns` columns of Z, in
/// float (`single`) or double, repeated on the same data for about
/// `seconds`: the GEMM-bound limit the passes are measured against.
double gemm_pair_rate(Index rows, Index dim, Index columns, bool single, double seconds = 0.25);

}  // namespace wsc::core

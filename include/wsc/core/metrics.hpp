#pragma once
// Held-out probe quality, with scikit-learn's definitions.
#include "wsc/core/types.hpp"

namespace wsc::core {

/// Fraction of equal entries.
double accuracy(const std::vector<int>& y_true, const std::vector<int>& y_pred);

/// sklearn f1_score(average="macro"): mean over the labels present in y_true
/// or y_pred of per-class F1 (0 where precision+recall is 0).
double f1_macro(const std::vector<int>& y_true, const std::vector<int>& y_pred);

/// Area under the ROC curve of scores for positives (ties count one half).
double auroc_binary(const std::vector<int>& positive, const std::vector<double>& score);

/// sklearn roc_auc_score(multi_class="ovr", average="macro") for C > 2 over
/// the classes present in y_true (each against the rest, on proba's column);
/// for C == 2 the AUROC of column 1. proba: n x C. NaN if fewer than two
/// classes are present.
double auroc_macro_ovr(const std::vector<int>& y_true, const Matrix& proba);

/// Row-wise argmax (first maximum on ties).
std::vector<int> argmax_rows(const Matrix& proba);

/// Mean and sample standard deviation (ddof = 1; 0 for a single value).
struct MeanSd {
  double mean = 0.0;
  double sd = 0.0;
};
MeanSd mean_sd(const std::vector<double>& values);

/// How a quantile between two neighbouring order statistics a <= b, at
/// fraction t of the way, is computed.
enum class Lerp {
  numpy,       ///< numpy's: a + (b - a) t for t < 0.5, else b - (b - a) (1 - t)
  from_lower,  ///< a + (b - a) t throughout: within an ulp of numpy's
};

/// The q-quantile (0 <= q <= 1) of `sorted` (ascending, non-empty, no NaN)
/// by numpy's default method, "linear": interpolation between the order
/// statistics around (n - 1) q. With Lerp::numpy it is numpy.quantile's
/// value bit for bit (binning's quantile edges).
double quantile_of_sorted(const std::vector<double>& sorted, double q, Lerp lerp = Lerp::numpy);

/// The q-quantile of the values that are not NaN (NaN when none is left):
/// quantile_of_sorted with Lerp::from_lower, which the bootstrap intervals
/// and the sweep summaries have always used. About one value in a hundred
/// then differs from numpy.percentile in the last bit; Lerp::numpy would
/// make them numpy's exactly, and change those outputs by that ulp.
double percentile(std::vector<double> values, double q);

}  // namespace wsc::core

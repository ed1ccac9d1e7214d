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

/// The q-quantile (0 <= q <= 1) by linear interpolation between order
/// statistics (numpy's default); NaN values are skipped; NaN when none is left.
double percentile(std::vector<double> values, double q);

}  // namespace wsc::core

#pragma once
// A linear softmax head: logits = W z + b.
#include "wsc/core/types.hpp"

#include <string>

namespace wsc::core {

struct ProbeHead {
  Matrix weight;  ///< C x d
  Vector bias;    ///< C (zeros when the head has none)

  Index classes() const { return weight.rows(); }
  Index dim() const { return weight.cols(); }
};

/// A one-row head (scikit-learn's binary coef_, logit difference w) is the
/// two-class head (-w/2, w/2); the bias likewise becomes (-b/2, b/2).
ProbeHead expand_binary_head(const Matrix& one_row_weight, const Vector& one_bias);

/// Report of one fit, as written into summary.json.
struct FitReport {
  int iterations = 0;           ///< outer (Newton) iterations
  int inner_iterations = 0;     ///< CG steps in total
  double grad_max_norm = 0.0;   ///< max-norm of the final gradient
  double objective = 0.0;       ///< final objective value
  bool converged = false;
};

}  // namespace wsc::core

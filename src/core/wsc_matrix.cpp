#include "wsc/core/wsc_matrix.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <stdexcept>

namespace wsc::core {

Matrix cosine_matrix(const Matrix& a, const Matrix& m) {
  if (a.cols() != m.cols()) {
    throw std::invalid_argument("cosine_matrix: heads have different dimensions (" +
                                std::to_string(a.cols()) + " vs " + std::to_string(m.cols()) +
                                ")");
  }
  const Vector na = a.rowwise().norm();
  const Vector nm = m.rowwise().norm();
  Matrix cos = a * m.transpose();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (Index j = 0; j < cos.cols(); ++j) {
    for (Index i = 0; i < cos.rows(); ++i) {
      // A zero row has no direction: NaN, so it can never pass as "orthogonal".
      if (na(i) == 0.0 || nm(j) == 0.0) {
        cos(i, j) = nan;
      } else {
        // Clamp the last-bit roundoff that can push |cos| just above 1
        // (std::clamp keeps NaN from non-finite inputs).
        cos(i, j) = std::clamp(cos(i, j) / (na(i) * nm(j)), -1.0, 1.0);
      }
    }
  }
  return cos;
}

}  // namespace wsc::core

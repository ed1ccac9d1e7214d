#include "wsc/core/pca.hpp"

#include "wsc/core/eigen.hpp"
#include "wsc/core/row_invariants.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace wsc::core {

int choose_components(const Vector& eigenvalues, double variance, int min_components) {
  const Index d = eigenvalues.size();
  if (d == 0) throw std::invalid_argument("choose_components: no eigenvalues");
  if (!(variance > 0.0 && variance <= 1.0)) {
    throw std::invalid_argument("pca: variance threshold must be in (0, 1]");
  }
  if (min_components < 0) throw std::invalid_argument("pca: min_components must be >= 0");
  const int dim = static_cast<int>(d);

  // Roundoff can leave tiny negative eigenvalues of a PSD matrix: count them as 0.
  const Vector ev = eigenvalues.cwiseMax(0.0);
  const double total = ev.sum();
  if (!(total > 0.0)) return std::max(1, std::min(min_components, dim));

  // The 1e-12 slack keeps variance = 1 reachable despite rounding in the sums.
  int k = dim;
  double cumulative = 0.0;
  for (int i = 0; i < dim; ++i) {
    cumulative += ev(i);
    if (cumulative / total >= variance - 1e-12) {
      k = i + 1;
      break;
    }
  }
  return std::min(std::max(k, min_components), dim);
}

PcaBasis pca_from_covariance(const Matrix& covariance, const Vector& mean,
                             const PcaSettings& settings) {
  const Index d = covariance.rows();
  if (d == 0 || covariance.cols() != d) {
    throw std::invalid_argument("pca: covariance must be a non-empty square matrix");
  }
  if (mean.size() != d) throw std::invalid_argument("pca: mean length differs from covariance");
  if (!covariance.allFinite()) throw std::invalid_argument("pca: covariance is not finite");
  return pca_from_invariants(row_invariants_from_covariance(covariance, mean), settings);
}

PcaBasis pca_from_invariants(const RowInvariants& rows, const PcaSettings& settings) {
  const Vector& mean = rows.centre;
  const Index d = mean.size();
  if (d == 0 || rows.basis.values.size() != d || rows.basis.vectors.rows() != d || rows.basis.vectors.cols() != d) {
    throw std::invalid_argument("pca: covariance must be a non-empty square matrix");
  }
  if (settings.components < -1) {
    throw std::invalid_argument("pca: components must be -1 (rule), 0 (none) or a count");
  }
  if (settings.components > d) {
    throw std::invalid_argument("pca: components = " + std::to_string(settings.components) +
                                " exceeds the dimension " + std::to_string(d));
  }
  // Ascending eigenvalues (as Eigen returns them); reverse into descending order.
  const Vector& ascending = rows.basis.values;
  const Matrix& vectors = rows.basis.vectors;  // columns

  PcaBasis basis;
  basis.mean = mean;
  basis.eigenvalues = ascending.reverse().cwiseMax(0.0);
  Matrix ordered(d, d);  // rows = components, descending variance
  for (Index i = 0; i < d; ++i) {
    Vector v = vectors.col(d - 1 - i);
    // Sign convention: the largest-magnitude entry (first on ties) is positive.
    Index arg = 0;
    for (Index j = 1; j < d; ++j) {
      if (std::abs(v(j)) > std::abs(v(arg))) arg = j;
    }
    if (v(arg) < 0.0) v = -v;
    ordered.row(i) = v.transpose();
  }

  const double total = basis.eigenvalues.sum();
  if (settings.components == 0) {
    basis.components = Matrix::Identity(d, d);
    basis.k = static_cast<int>(d);
    basis.explained = 1.0;
    basis.projected = false;
    return basis;
  }
  basis.k = settings.components > 0
                ? settings.components
                : choose_components(basis.eigenvalues, settings.variance, settings.min_components);
  basis.components = ordered.topRows(basis.k);
  // With no variance at all every k "explains" everything.
  basis.explained = total > 0.0 ? basis.eigenvalues.head(basis.k).sum() / total : 1.0;
  basis.projected = true;
  return basis;
}

Matrix project_head(const Matrix& weight, const PcaBasis& basis) {
  if (weight.cols() != basis.components.cols()) {
    throw std::invalid_argument("project_head: head dimension " + std::to_string(weight.cols()) +
                                " differs from the basis dimension " +
                                std::to_string(basis.components.cols()));
  }
  return weight * basis.components.transpose();
}

}  // namespace wsc::core

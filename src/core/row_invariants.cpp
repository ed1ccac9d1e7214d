#include "wsc/core/row_invariants.hpp"

#include <stdexcept>

namespace wsc::core {

RowInvariants row_invariants_from_covariance(const Matrix& covariance, const Vector& mean) {
  const Index d = covariance.rows();
  if (covariance.cols() != d || mean.size() != d) {
    throw std::invalid_argument("row_invariants: covariance and mean sizes differ");
  }
  if (!covariance.allFinite() || !mean.allFinite()) {
    throw std::invalid_argument("row_invariants: covariance or mean is not finite");
  }
  RowInvariants out;
  out.centre = mean;
  if (d == 0) return out;
  const Eigen::SelfAdjointEigenSolver<Matrix> eigen(covariance);
  if (eigen.info() != Eigen::Success) throw std::runtime_error("row_invariants: eigensolver failed");
  out.basis.vectors = eigen.eigenvectors();
  // Cancellation can leave tiny negatives where the true value is ~0.
  out.basis.values = eigen.eigenvalues().cwiseMax(0.0);
  return out;
}

RowInvariants row_invariants(RowsView x, const SumReduce& reduce) {
  const Index d = x.cols();
  const Index tile = tile_rows(d);
  RowMatrix scratch;
  // [sum of rows (d) | row count]
  Vector sums = Vector::Zero(d + 1);
  for_each_tile(x.rows(), tile, [&](Index begin, Index count) {
    sums.head(d) += x.doubles(begin, count, scratch).colwise().sum().transpose();
  });
  sums(d) = static_cast<double>(x.rows());
  reduce(sums.data(), static_cast<std::size_t>(sums.size()));
  const double rows = sums(d);
  const Vector mean = rows > 0.0 ? Vector(sums.head(d) / rows) : Vector(Vector::Zero(d));

  Matrix cov = Matrix::Zero(d, d);
  Matrix centred;
  for_each_tile(x.rows(), tile, [&](Index begin, Index count) {
    centred = x.doubles(begin, count, scratch);
    centred.rowwise() -= mean.transpose();
    cov.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
  });
  cov.triangularView<Eigen::StrictlyUpper>() = cov.transpose();
  reduce(cov.data(), static_cast<std::size_t>(cov.size()));
  if (rows > 0.0) cov /= rows;
  return row_invariants_from_covariance(cov, mean);
}

}  // namespace wsc::core

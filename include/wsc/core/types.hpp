#pragma once
// Basic numeric types shared by every layer.
#include "wsc/core/eigen.hpp"
#include <cstdint>
#include <functional>
#include <vector>

namespace wsc::core {

using Matrix = Eigen::MatrixXd;  // column-major
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using Index = Eigen::Index;

/// Class labels of one task for a block of rows: 0..C-1, or a negative value
/// for "not in this fit" (missing label, held-out row).
using Labels = std::vector<int>;

/// Sums a buffer in place over every participant of a fit (the ranks of a
/// group). The numerical core never sees MPI: serial code passes
/// `identity_reduce()`, distributed code a function that calls MPI_Allreduce.
using SumReduce = std::function<void(double* data, std::size_t count)>;

inline SumReduce identity_reduce() {
  return [](double*, std::size_t) {};
}

}  // namespace wsc::core

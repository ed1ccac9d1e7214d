#pragma once
// The WSC matrix: cosines between the projected rows of two heads.
#include "wsc/core/types.hpp"

namespace wsc::core {

/// C_A x C_m matrix of cos(a_i, m_j) for rows of a (C_A x k) and m (C_m x k).
/// A zero row gives NaN cosines (never silently 0).
Matrix cosine_matrix(const Matrix& a, const Matrix& m);

}  // namespace wsc::core

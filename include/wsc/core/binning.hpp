#pragma once
// Continuous metadata turned into class labels by intervals.
#include <string>
#include <vector>

namespace wsc::core {

enum class BinMethod { EqualWidth, Quantile };

struct Binning {
  std::vector<double> edges;        ///< bins+1 increasing edges; last bin closed
  std::vector<std::string> names;   ///< one per kept bin, e.g. "[0.5,1.25)"
  std::vector<int> class_of_bin;    ///< bin -> class index, -1 for a dropped empty bin
  int dropped_empty = 0;            ///< empty bins dropped (classes renumbered)
};

/// Edges over the non-missing (finite) values: equal-width over [min, max], or
/// at the quantiles i/bins (linear interpolation, numpy's default). Bins that
/// receive no value are dropped and the rest renumbered 0..C-1.
/// Throws std::invalid_argument when bins < 2, fewer than 2 distinct values,
/// or fewer than 2 non-empty bins remain.
Binning make_bins(const std::vector<double>& values, int bins, BinMethod method);

/// Class per value (-1 for NaN). Values outside [edges.front(), edges.back()]
/// fall into the first or last bin.
std::vector<int> apply_bins(const std::vector<double>& values, const Binning& binning);

}  // namespace wsc::core

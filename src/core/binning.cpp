#include "wsc/core/binning.hpp"

#include "wsc/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace wsc::core {

namespace {

/// Bin of a non-NaN value: bins are [e_i, e_{i+1}) except the last, which is
/// closed; values beyond either end go to the first or last bin. Counting the
/// interior edges <= v gives exactly that, for equal-width and quantile edges
/// alike (a repeated quantile edge leaves an empty bin between the copies).
int bin_of(double v, const std::vector<double>& edges) {
  const auto first = edges.begin() + 1;
  const auto last = edges.end() - 1;
  return static_cast<int>(std::upper_bound(first, last, v) - first);
}

/// x * y rounded to double before any further use. numpy rounds every
/// operation; a compiler may otherwise fuse "a + x * y" into one FMA (e.g.
/// under -march=native), which moves an edge by an ulp and can move a value
/// sitting exactly on it into the neighbouring bin.
double rounded_product(double x, double y) {
  volatile double product = x * y;
  return product;
}

std::string format_edge(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

}  // namespace

Binning make_bins(const std::vector<double>& values, int bins, BinMethod method) {
  if (bins < 2) throw std::invalid_argument("binning: need at least 2 bins, got " + std::to_string(bins));
  std::vector<double> finite;
  finite.reserve(values.size());
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (finite.empty()) throw std::invalid_argument("binning: no finite values");
  std::sort(finite.begin(), finite.end());
  const double lo = finite.front();
  const double hi = finite.back();
  if (!(hi > lo)) throw std::invalid_argument("binning: fewer than 2 distinct values");

  Binning binning;
  binning.edges.resize(static_cast<std::size_t>(bins) + 1);
  if (method == BinMethod::EqualWidth) {
    // numpy.linspace: start + i * step, with the last edge exactly the end.
    const double step = (hi - lo) / bins;
    for (int i = 0; i < bins; ++i) {
      binning.edges[static_cast<std::size_t>(i)] = lo + rounded_product(i, step);
    }
  } else {
    for (int i = 0; i < bins; ++i) {
      binning.edges[static_cast<std::size_t>(i)] =
          quantile_of_sorted(finite, static_cast<double>(i) / bins);
    }
  }
  binning.edges.front() = lo;
  binning.edges.back() = hi;

  std::vector<long long> count(static_cast<std::size_t>(bins), 0);
  for (double v : finite) ++count[static_cast<std::size_t>(bin_of(v, binning.edges))];

  binning.class_of_bin.assign(static_cast<std::size_t>(bins), -1);
  int classes = 0;
  for (int i = 0; i < bins; ++i) {
    const auto b = static_cast<std::size_t>(i);
    if (count[b] == 0) {
      ++binning.dropped_empty;
      continue;
    }
    binning.class_of_bin[b] = classes++;
    const char close = i == bins - 1 ? ']' : ')';
    binning.names.push_back("[" + format_edge(binning.edges[b]) + "," +
                            format_edge(binning.edges[b + 1]) + close);
  }
  if (classes < 2) {
    throw std::invalid_argument("binning: fewer than 2 non-empty bins (" +
                                std::to_string(classes) + " of " + std::to_string(bins) + ")");
  }
  return binning;
}

std::vector<int> apply_bins(const std::vector<double>& values, const Binning& binning) {
  if (binning.edges.size() < 3 || binning.class_of_bin.size() + 1 != binning.edges.size()) {
    throw std::invalid_argument("apply_bins: malformed binning");
  }
  std::vector<int> out(values.size(), -1);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) continue;
    // A value landing in a bin that was empty (and dropped) at make_bins time
    // has no class: -1, like a missing value.
    out[i] = binning.class_of_bin[static_cast<std::size_t>(bin_of(values[i], binning.edges))];
  }
  return out;
}

}  // namespace wsc::core

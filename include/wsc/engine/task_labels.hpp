#pragma once
// Turns a labels column as stored (integer codes or float values) into the
// class labels of one task: validation, binning of continuous values, class
// names. Pure: no MPI, no HDF5.
#include "wsc/core/binning.hpp"
#include "wsc/core/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::engine {

struct TaskLabels {
  std::string name;
  int classes = 0;
  std::vector<std::string> class_names;  ///< one per class
  core::Labels labels;                   ///< global, one per row; -1 missing
  std::string kind;                      ///< "categorical", "binned-equal", "binned-quantile"
  int dropped_empty_bins = 0;
  std::vector<double> bin_edges;         ///< binned tasks only
  std::vector<std::int64_t> class_counts;
  std::int64_t missing = 0;
};

struct LabelSpec {
  int bins = 0;                 ///< 0 = categorical
  core::BinMethod method = core::BinMethod::EqualWidth;
  int declared_classes = 0;     ///< 0 = max + 1
  /// Classes without samples are refused for fitted tasks (the bias of an
  /// empty class diverges); a given head only evaluated on the labels may
  /// have classes the labels never use.
  bool allow_empty_classes = false;
};

/// Integer codes: -1 is missing; < -1 or >= declared classes is refused;
/// a class in 0..C-1 without samples is refused (its bias would diverge).
/// With spec.bins >= 2 the codes (except -1) are binned as numbers instead.
/// `where` names the dataset in messages. Throws std::invalid_argument.
TaskLabels make_task_labels(const std::string& name, const std::string& where,
                            const std::vector<std::int64_t>& codes,
                            const std::vector<std::string>& stored_class_names,
                            const LabelSpec& spec);

/// Float values: NaN is missing, Inf refused; requires spec.bins >= 2.
TaskLabels make_task_labels(const std::string& name, const std::string& where,
                            const std::vector<double>& values, const LabelSpec& spec);

}  // namespace wsc::engine

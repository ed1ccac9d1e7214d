#include "wsc/engine/task_labels.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace wsc::engine {

namespace {

void count_classes(TaskLabels& task) {
  task.class_counts.assign(static_cast<std::size_t>(task.classes), 0);
  task.missing = 0;
  for (int label : task.labels) {
    if (label < 0) {
      ++task.missing;
    } else {
      ++task.class_counts[static_cast<std::size_t>(label)];
    }
  }
}

TaskLabels binned(const std::string& name, const std::string& where,
                  const std::vector<double>& values, const LabelSpec& spec) {
  if (spec.bins < 2) {
    throw std::invalid_argument(where + " holds continuous values: set bins (>= 2) for '" + name +
                                "' in its [[metadata]] entry");
  }
  core::Binning binning;
  try {
    binning = core::make_bins(values, spec.bins, spec.method);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": cannot bin into " + std::to_string(spec.bins) +
                                " bins: " + e.what());
  }
  TaskLabels task;
  task.name = name;
  task.kind = spec.method == core::BinMethod::Quantile ? "binned-quantile" : "binned-equal";
  task.labels = core::apply_bins(values, binning);
  task.class_names = binning.names;
  task.classes = static_cast<int>(binning.names.size());
  task.dropped_empty_bins = binning.dropped_empty;
  task.bin_edges = binning.edges;
  count_classes(task);
  return task;
}

}  // namespace

TaskLabels make_task_labels(const std::string& name, const std::string& where,
                            const std::vector<std::int64_t>& codes,
                            const std::vector<std::string>& stored_class_names,
                            const LabelSpec& spec) {
  if (spec.bins >= 2) {
    std::vector<double> values(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) {
      values[i] = codes[i] == -1 ? std::nan("") : static_cast<double>(codes[i]);
    }
    return binned(name, where, values, spec);
  }
  std::int64_t max_code = -1;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::int64_t c = codes[i];
    if (c < -1) {
      throw std::invalid_argument(where + ": row " + std::to_string(i) + " has label " +
                                  std::to_string(c) + " (class labels are 0..C-1, -1 = missing)");
    }
    if (spec.declared_classes > 0 && c >= spec.declared_classes) {
      throw std::invalid_argument(where + ": row " + std::to_string(i) + " has label " +
                                  std::to_string(c) + ", out of range for " +
                                  std::to_string(spec.declared_classes) + " classes");
    }
    if (c > max_code) max_code = c;
  }
  if (max_code < 0) throw std::invalid_argument(where + ": every label is missing (-1)");
  if (max_code >= (1 << 20)) {
    throw std::invalid_argument(where + ": label " + std::to_string(max_code) +
                                " is too large for a class index (set bins to bin it)");
  }
  TaskLabels task;
  task.name = name;
  task.kind = "categorical";
  task.classes = spec.declared_classes > 0 ? spec.declared_classes : static_cast<int>(max_code + 1);
  if (task.classes < 2) {
    throw std::invalid_argument(where + ": only one class (0) is present; a probe needs >= 2");
  }
  task.labels.resize(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) task.labels[i] = static_cast<int>(codes[i]);
  count_classes(task);
  for (int c = 0; c < task.classes && !spec.allow_empty_classes; ++c) {
    if (task.class_counts[static_cast<std::size_t>(c)] == 0) {
      throw std::invalid_argument(where + ": class " + std::to_string(c) + " of " +
                                  std::to_string(task.classes) + " has no samples");
    }
  }
  if (!stored_class_names.empty()) {
    if (static_cast<int>(stored_class_names.size()) != task.classes) {
      throw std::invalid_argument(where + ": attribute class_names has " +
                                  std::to_string(stored_class_names.size()) +
                                  " names for " + std::to_string(task.classes) + " classes");
    }
    task.class_names = stored_class_names;
  } else {
    for (int c = 0; c < task.classes; ++c) task.class_names.push_back(std::to_string(c));
  }
  return task;
}

TaskLabels make_task_labels(const std::string& name, const std::string& where,
                            const std::vector<double>& values, const LabelSpec& spec) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isinf(values[i])) {
      throw std::invalid_argument(where + ": row " + std::to_string(i) +
                                  " is infinite (NaN marks a missing value)");
    }
  }
  return binned(name, where, values, spec);
}

}  // namespace wsc::engine

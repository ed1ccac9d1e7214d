// `wsc inspect`: reads a model file serially through ModelFile, reporting
// every problem instead of stopping at the first.
#include "wsc/io/model_inspect.hpp"

#include "wsc/core/checked.hpp"
#include "wsc/core/exchangeability.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/io/text_output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

namespace wsc::io {
namespace {

std::string format_number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

/// "float32 [100, 8]".
std::string describe_line(const ModelFile& file, const std::string& dpath) {
  const DatasetInfo info = file.info(dpath);
  return info.type_name + " " + shape_text(info.dims);
}

void inspect_embeddings(const ModelFile& file, std::ostream& out,
                        std::vector<std::string>& problems, std::int64_t& rows,
                        std::int64_t& dim) {
  rows = -1;
  dim = -1;
  EmbeddingsShape shape;
  try {
    shape = file.check_embeddings();
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
    out << "embeddings: ";
    try {
      out << (file.exists(model_h5::kEmbeddings) ? describe_line(file, model_h5::kEmbeddings)
                                                 : std::string("missing"));
    } catch (const std::exception&) {
      out << "unreadable";
    }
    out << " (unusable)\n";
    return;
  }
  rows = shape.rows;
  dim = shape.dim;
  out << "embeddings: N = " << rows << " rows, d = " << dim << " columns, "
      << shape.info.type_name << "\n";

  // The scan reads every value: refused beyond kInspectScanBytes, and when
  // one row (the least it reads at a time) does not fit in memory.
  const auto declared = core::checked_mul(rows, dim);
  const auto bytes = declared ? core::checked_mul(*declared, 8) : std::nullopt;
  if (!bytes || *bytes > kInspectScanBytes) {
    problems.push_back(file.file_name() + ": " + model_h5::kEmbeddings + " declares " +
                       shape_text(shape.info.dims) + " " + shape.info.type_name +
                       ", more than the " + std::to_string(kInspectScanBytes) +
                       " bytes (2^40, as float64) wsc inspect scans for NaN and Inf");
    return;
  }
  try {
    require_memory_for(file.file_name(), model_h5::kEmbeddings, {1, dim}, 8, file.memory_limit());
  } catch (const std::exception& e) {
    problems.emplace_back(std::string(e.what()) + " (one row of the scan)");
    return;
  }

  // Scan for non-finite values in bounded chunks of rows (about 8 MiB).
  try {
    const Hdf5Dataset dset = file.hdf5().dataset(model_h5::kEmbeddings);
    const std::int64_t chunk_rows =
        std::max<std::int64_t>(1, (std::int64_t{1} << 20) / std::max<std::int64_t>(1, dim));
    std::vector<double> buffer;
    std::int64_t bad_rows = 0;
    std::int64_t first_bad = -1;
    for (std::int64_t begin = 0; begin < rows; begin += chunk_rows) {
      const std::int64_t count = std::min(chunk_rows, rows - begin);
      buffer.resize(static_cast<std::size_t>(count * dim));
      dset.read_rows(begin, count, dim, /*collective=*/false, buffer.data());
      for (std::int64_t r = 0; r < count; ++r) {
        const double* row = buffer.data() + r * dim;
        for (std::int64_t c = 0; c < dim; ++c) {
          if (!std::isfinite(row[c])) {
            if (first_bad < 0) first_bad = begin + r;
            ++bad_rows;
            break;
          }
        }
      }
    }
    if (bad_rows > 0) {
      problems.push_back(file.file_name() + ": " + model_h5::kEmbeddings + " has " +
                         std::to_string(bad_rows) + " row(s) containing NaN or Inf (first: row " +
                         std::to_string(first_bad) + ")");
    }
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
}

void inspect_heads(const ModelFile& file, std::int64_t dim, std::ostream& out,
                   std::vector<std::string>& problems) {
  std::vector<std::string> tasks;
  try {
    tasks = file.members(model_h5::kHeads);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "heads (" << tasks.size() << "):" << (tasks.empty() ? " none" : "") << "\n";
  for (const std::string& task : tasks) {
    const std::string wpath = model_h5::head_weight(task);
    const std::string bpath = model_h5::head_bias(task);
    out << "  " << task << ": ";
    try {
      if (!file.exists(wpath)) {
        out << "no weight dataset\n";
        problems.push_back(file.file_name() + ": head " + model_h5::head(task) +
                           " has no weight dataset " + wpath);
        continue;
      }
      out << "weight " << describe_line(file, wpath);
      if (file.exists(bpath)) {
        out << ", bias " << describe_line(file, bpath);
      }
      std::vector<std::string> names;
      const core::ProbeHead head = file.read_head(task, dim, &names);
      out << ", " << head.classes() << " classes";
      if (!names.empty()) out << " (" << join(names, ", ") << ")";
      out << "\n";
    } catch (const std::exception& e) {
      out << " (unusable)\n";
      problems.emplace_back(e.what());
    }
  }
}

/// A continuous column: its range and missing count; an infinite value is a problem.
void inspect_continuous(const std::string& fname, const std::string& dpath,
                        const std::vector<double>& values, std::ostream& out,
                        std::vector<std::string>& problems) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  std::int64_t missing = 0;
  std::int64_t infinite = 0;
  for (double v : values) {
    if (std::isnan(v)) {
      ++missing;
    } else if (std::isinf(v)) {
      ++infinite;
    } else {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  out << ", continuous";
  if (lo <= hi) out << ", min " << format_number(lo) << ", max " << format_number(hi);
  out << ", missing " << missing << "\n";
  if (infinite > 0) {
    problems.push_back(fname + ": " + dpath + " contains " + std::to_string(infinite) +
                       " infinite value(s) (use NaN for missing)");
  }
}

/// The codes of a categorical column: per class its count, the missing
/// ones (-1) and those below -1 (out of range).
struct CodeCounts {
  std::map<std::int64_t, std::int64_t> counts;
  std::int64_t missing = 0;
  std::int64_t below = 0;
  std::int64_t first_below = -1;
};

CodeCounts count_codes(const std::vector<std::int64_t>& codes) {
  CodeCounts c;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::int64_t v = codes[i];
    if (v == -1) {
      ++c.missing;
    } else if (v < -1) {
      if (c.below++ == 0) c.first_below = static_cast<std::int64_t>(i);
    } else {
      ++c.counts[v];
    }
  }
  return c;
}

/// "<k> classes; counts 0 (name): n, ...; missing m[; out of range b]",
/// showing at most 20 classes.
void print_code_counts(const CodeCounts& c, const std::vector<std::string>& class_names,
                       std::ostream& out) {
  out << ", " << c.counts.size() << " classes";
  if (!c.counts.empty()) {
    out << "; counts";
    std::size_t shown = 0;
    for (const auto& [code, n] : c.counts) {
      if (shown == 20) {
        out << ", ...";
        break;
      }
      out << (shown++ == 0 ? " " : ", ") << code;
      if (static_cast<std::size_t>(code) < class_names.size()) {
        out << " (" << class_names[static_cast<std::size_t>(code)] << ")";
      }
      out << ": " << n;
    }
  }
  out << "; missing " << c.missing;
  if (c.below > 0) out << "; out of range " << c.below;
  out << "\n";
}

/// A categorical column: its class counts; codes below -1 and codes beyond
/// the class names are problems.
void inspect_categorical(const std::string& fname, const std::string& dpath,
                         const LabelColumn& column, std::ostream& out,
                         std::vector<std::string>& problems) {
  const CodeCounts c = count_codes(column.codes);
  print_code_counts(c, column.class_names, out);
  if (c.below > 0) {
    problems.push_back(fname + ": " + dpath + " has " + std::to_string(c.below) +
                       " value(s) below -1 (first at row " + std::to_string(c.first_below) + ": " +
                       std::to_string(column.codes[static_cast<std::size_t>(c.first_below)]) +
                       "); use -1 for missing");
  }
  if (!column.class_names.empty() && !c.counts.empty() &&
      c.counts.rbegin()->first >= static_cast<std::int64_t>(column.class_names.size())) {
    problems.push_back(fname + ": attribute " + model_h5::kClassNamesAttribute + " of " + dpath +
                       " has " + std::to_string(column.class_names.size()) +
                       " entries but the labels go up to " +
                       std::to_string(c.counts.rbegin()->first));
  }
}

/// One labels column: its type and shape, one value per embedding row, and
/// its values' summary.
void inspect_label(const ModelFile& file, const std::string& name, std::int64_t rows,
                   std::ostream& out, std::vector<std::string>& problems) {
  const std::string& fname = file.file_name();
  const std::string dpath = model_h5::labels(name);
  out << "  " << name << ": ";
  try {
    out << describe_line(file, dpath);
    const LabelColumn column = file.read_labels(name, rows);
    const std::int64_t length =
        static_cast<std::int64_t>(column.continuous ? column.values.size() : column.codes.size());
    if (rows >= 0 && length != rows) {
      problems.push_back(row_count_message(fname, dpath, length, rows));
    }
    if (column.continuous) {
      inspect_continuous(fname, dpath, column.values, out, problems);
    } else {
      inspect_categorical(fname, dpath, column, out, problems);
    }
  } catch (const std::exception& e) {
    out << " (unusable)\n";
    problems.emplace_back(e.what());
  }
}

void inspect_labels(const ModelFile& file, std::int64_t rows, std::ostream& out,
                    std::vector<std::string>& problems) {
  std::vector<std::string> names;
  try {
    names = file.members(model_h5::kLabels);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "labels (" << names.size() << "):" << (names.empty() ? " none" : "") << "\n";
  for (const std::string& name : names) inspect_label(file, name, rows, out, problems);
}

void inspect_groups(const ModelFile& file, std::int64_t rows, std::ostream& out,
                    std::vector<std::string>& problems) {
  std::vector<std::string> names;
  try {
    names = file.members(model_h5::kGroups);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  }
  out << "groups (" << names.size() << "):" << (names.empty() ? " none" : "") << "\n";
  for (const std::string& name : names) {
    const std::string dpath = model_h5::groups(name);
    out << "  " << name << ": ";
    try {
      out << describe_line(file, dpath);
      if (file.info(dpath).dims.size() == 2) {
        // An N x L block tree for permutation.scheme = "tree".
        std::int64_t levels = 0;
        std::vector<std::int64_t> ids = file.read_group_levels(name, rows, levels);
        const std::int64_t length = static_cast<std::int64_t>(ids.size()) / std::max<std::int64_t>(levels, 1);
        if (rows >= 0 && length != rows) {
          problems.push_back(row_count_message(file.file_name(), dpath, length, rows));
        }
        try {
          const core::ExchangeTree tree(std::move(ids), length, levels);
          out << ", a block tree of " << levels << " levels: " << tree.blocks() << " blocks, "
              << tree.exchanging_blocks() << " of them exchanging their sub-blocks\n";
        } catch (const std::invalid_argument& e) {
          out << " (not a valid block tree)\n";
          problems.push_back(file.file_name() + ": " + dpath + ": " + e.what());
        }
        continue;
      }
      const std::vector<std::int64_t> ids = file.read_groups(name, rows);
      const std::int64_t length = static_cast<std::int64_t>(ids.size());
      if (rows >= 0 && length != rows) {
        problems.push_back(row_count_message(file.file_name(), dpath, length, rows));
      }
      const std::unordered_set<std::int64_t> distinct(ids.begin(), ids.end());
      out << ", " << distinct.size() << " distinct groups\n";
    } catch (const std::exception& e) {
      out << " (unusable)\n";
      problems.emplace_back(e.what());
    }
  }
}

}  // namespace

int inspect_model_file(const std::string& path, std::int64_t memory_bytes, std::string& report) {
  std::ostringstream out;
  std::vector<std::string> problems;
  try {
    out << "file: " << path << "\n";
    // Serial, and /embeddings is checked below like everything else.
    ModelFile file(path, nullptr, /*require_embeddings=*/false);
    if (memory_bytes > 0) file.set_memory_limit(memory_bytes);
    std::string name;
    try {
      name = file.model_attribute();
    } catch (const std::exception& e) {
      problems.emplace_back(e.what());
    }
    if (name.empty()) {
      out << "model: " << std::filesystem::path(path).stem().string()
          << " (from the file name; no root attribute model)\n";
    } else {
      out << "model: " << name << "\n";
    }
    std::int64_t rows = -1;
    std::int64_t dim = -1;
    inspect_embeddings(file, out, problems, rows, dim);
    inspect_heads(file, dim, out, problems);
    inspect_labels(file, rows, out, problems);
    inspect_groups(file, rows, out, problems);
  } catch (const std::exception& e) {
    problems.emplace_back(e.what());
  } catch (...) {
    problems.push_back(path + ": unexpected error while inspecting");
  }
  try {
    if (problems.empty()) {
      out << "problems: none\n";
    } else {
      out << "problems (" << problems.size() << "):\n";
      for (const std::string& p : problems) out << "  - " << p << "\n";
    }
    report = out.str();
  } catch (...) {
    report = path + ": out of memory while writing the report\n";
  }
  return static_cast<int>(std::min<std::size_t>(problems.size(),
                                                static_cast<std::size_t>(
                                                    std::numeric_limits<int>::max())));
}

}  // namespace wsc::io

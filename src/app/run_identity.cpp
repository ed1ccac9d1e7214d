#include "wsc/app/run_identity.hpp"
#include "wsc/core/checked.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>

namespace wsc::app {

namespace {

/// Streaming 64-bit XXH3 of everything fed to it; containers are fed with
/// their sizes, so different splits of the same bytes hash differently.
class Hasher {
 public:
  Hasher() : state_(XXH3_createState()) {
    if (!state_) throw std::bad_alloc();
    check(XXH3_64bits_reset(state_.get()));
  }

  void bytes(const void* data, std::size_t size) {
    if (size > 0) check(XXH3_64bits_update(state_.get(), data, size));
  }
  template <typename T>
  void value(const T& v) {
    static_assert(std::is_arithmetic_v<T>);
    bytes(&v, sizeof v);
  }
  void text(const std::string& s) {
    value(static_cast<std::uint64_t>(s.size()));
    bytes(s.data(), s.size());
  }
  template <typename T>
  void values(const std::vector<T>& v) {
    value(static_cast<std::uint64_t>(v.size()));
    bytes(v.data(), v.size() * sizeof(T));
  }
  void matrix(const core::Matrix& m) {
    value(static_cast<std::int64_t>(m.rows()));
    value(static_cast<std::int64_t>(m.cols()));
    bytes(m.data(), static_cast<std::size_t>(m.size()) * sizeof(double));
  }
  void task(const engine::TaskLabels& t) {
    text(t.name);
    values(t.labels);
    for (const std::string& c : t.class_names) text(c);
    value(t.classes);
  }
  std::uint64_t digest() const { return XXH3_64bits_digest(state_.get()); }

 private:
  static void check(XXH_errorcode code) {
    if (code != XXH_OK) throw std::runtime_error("the XXH3 hash state refused its input");
  }
  struct Free {
    void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
  };
  std::unique_ptr<XXH3_state_t, Free> state_;
};

}  // namespace

std::uint64_t rows_hash(core::RowsView x, std::int64_t row_begin) {
  // Of the rows' double values, whatever their stored precision (a float
  // row hashes as its exact widening), tile by tile.
  const auto row_bytes = static_cast<std::size_t>(x.cols()) * sizeof(double);
  std::uint64_t combined = 0;
  core::RowMatrix scratch;
  core::for_each_tile(x.rows(), core::tile_rows(x.cols()), [&](core::Index begin, core::Index count) {
    const auto tile = x.doubles(begin, count, scratch);
    for (core::Index r = 0; r < count; ++r) {
      combined ^= XXH3_64bits_withSeed(tile.row(r).data(), row_bytes,
                                       static_cast<std::uint64_t>(row_begin + begin + r));
    }
  });
  return combined;
}

std::uint64_t fingerprint_of(const Config& config, const engine::AnalysisInput& input, std::uint64_t all_rows) {
  // The config without where things go and how ranks are arranged.
  nlohmann::json j = to_json(config);
  j.erase("config_path");
  j.erase("output");
  j.erase("checkpoint");
  j["input"].erase("embeddings");
  j["input"].erase("labels");
  j["parallel"].erase("groups");
  Hasher h;
  h.text(j.dump());

  h.value(input.rows);
  h.value(input.dim);
  h.text(input.primary_task);
  h.matrix(input.primary_head.weight);
  h.matrix(input.primary_head.bias);
  for (const std::string& c : input.primary_class_names) h.text(c);
  if (input.primary_labels) h.task(*input.primary_labels);
  for (const engine::TaskLabels& t : input.metadata) h.task(t);
  h.values(input.cv_groups);
  h.values(input.permutation_strata);
  h.values(input.permutation_blocks);
  if (!input.permutation_tree.empty()) {  // scheme "tree" only: other runs keep their identity
    h.value(input.permutation_tree.levels());
    h.values(input.permutation_tree.ids());
  }
  h.value(all_rows);
  return h.digest();
}

std::uint64_t run_fingerprint(const Config& config, const engine::AnalysisInput& input,
                              const engine::Layout& layout) {
  return fingerprint_of(config, input, layout.group().bit_xor(rows_hash(input.x, input.row_begin)));
}

ChunkSpec parse_chunk(const std::string& text) {
  const auto slash = text.find('/');
  ChunkSpec c;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("");
    std::size_t used = 0;
    c.index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("");
    const std::string rest = text.substr(slash + 1);
    c.count = std::stoi(rest, &used);
    if (used != rest.size()) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw std::invalid_argument("--chunk must be I/N (e.g. 3/8), got '" + text + "'");
  }
  if (c.count < 1 || c.index < 0 || c.index >= c.count) {
    throw std::invalid_argument("--chunk " + text + " is impossible: need 0 <= I < N");
  }
  return c;
}

engine::IndexRange chunk_range(std::int64_t total, const ChunkSpec& chunk, std::int64_t align) {
  // floor(total * i / N) without overflowing total * i, then aligned; the
  // last bound is total itself.
  const auto at = [&](std::int64_t i) {
    if (i == chunk.count) return total;
    const std::int64_t n = chunk.count;
    const std::int64_t bound = (total / n) * i + ((total % n) * i) / n;
    return bound - bound % std::max<std::int64_t>(align, 1);
  };
  return {at(chunk.index), at(chunk.index + 1)};
}

std::string chunk_path(const Config& config, const ChunkSpec& chunk) {
  return (std::filesystem::path(config.output.dir) / "chunks" /
          ("chunk-" + std::to_string(chunk.index) + "-of-" + std::to_string(chunk.count) + ".wsc"))
      .string();
}

std::string checkpoint_path(const Config& config) {
  if (!config.checkpoint.path.empty()) return config.checkpoint.path;
  return (std::filesystem::path(config.output.dir) / "checkpoint.wsc").string();
}

namespace {

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

engine::RunState merge_chunk_states(const std::vector<engine::RunState>& chunks, std::int64_t keep_limit) {
  if (chunks.empty()) throw std::invalid_argument("no chunks to merge");
  engine::RunState m = chunks.front();
  const auto name = [](std::size_t i) { return "chunk " + std::to_string(i); };
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const engine::RunState& c = chunks[i];
    if (c.permutations_done != c.permutations.size() || c.encodability_done != c.encodability.size() ||
        c.bootstrap_done != c.bootstrap.size()) {
      throw std::invalid_argument(name(i) + " is incomplete (" + std::to_string(c.permutations_done) + " of " +
                                  std::to_string(c.permutations.size()) + " permutations done)");
    }
    if (c.fingerprint != m.fingerprint) {
      throw std::invalid_argument(name(i) + " was made by another config or input");
    }
    if (!same_bits(c.observed_abs, m.observed_abs) || c.cells != m.cells || c.sensitivity_ks != m.sensitivity_ks ||
        !same_bits(c.sensitivity_observed_abs, m.sensitivity_observed_abs)) {
      throw std::invalid_argument(name(i) + " disagrees on the observed statistic (run with another rank layout?)");
    }
    if (c.score_null.size() != m.score_null.size()) {
      throw std::invalid_argument(name(i) + " has encodability scores of " + std::to_string(c.score_null.size()) +
                                  " tasks, " + name(0) + " of " + std::to_string(m.score_null.size()));
    }
    if (i == 0) continue;
    const engine::RunState& prev = chunks[i - 1];
    if (c.permutations.begin != prev.permutations.end || c.encodability.begin != prev.encodability.end ||
        c.bootstrap.begin != prev.bootstrap.end) {
      throw std::invalid_argument(name(i) + " does not continue " + name(i - 1) + "'s index ranges");
    }
    m.permutations.end = c.permutations.end;
    m.encodability.end = c.encodability.end;
    m.bootstrap.end = c.bootstrap.end;
    for (std::size_t k = 0; k < m.exceed_cell.size(); ++k) {
      m.exceed_cell[k] += c.exceed_cell[k];
      m.exceed_max[k] += c.exceed_max[k];
    }
    append(m.null_max, c.null_max);
    for (std::size_t k = 0; k < m.sensitivity_exceed_cell.size(); ++k) {
      m.sensitivity_exceed_cell[k] += c.sensitivity_exceed_cell[k];
      m.sensitivity_exceed_max[k] += c.sensitivity_exceed_max[k];
    }
    append(m.sensitivity_null_max, c.sensitivity_null_max);
    if (c.look != m.look) throw std::invalid_argument(name(i) + " looks every " + std::to_string(c.look) + " permutations, " + name(0) + " every " + std::to_string(m.look));
    append(m.segment_exceed_cell, c.segment_exceed_cell);
    append(m.segment_exceed_max, c.segment_exceed_max);
    append(m.segment_sensitivity_exceed_cell, c.segment_sensitivity_exceed_cell);
    append(m.segment_sensitivity_exceed_max, c.segment_sensitivity_exceed_max);
    m.keep_cells = m.keep_cells && c.keep_cells;
    append(m.null_cells, c.null_cells);
    for (std::size_t t = 0; t < m.score_null.size(); ++t) append(m.score_null[t], c.score_null[t]);
    append(m.boot_cells, c.boot_cells);
    m.permutation_fits += c.permutation_fits;
    m.permutation_unconverged += c.permutation_unconverged;
    m.permutation_max_iterations = std::max(m.permutation_max_iterations, c.permutation_max_iterations);
    m.permutation_max_grad = std::max(m.permutation_max_grad, c.permutation_max_grad);
    m.encodability_fits += c.encodability_fits;
  }
  if (m.permutations.begin != 0 || m.encodability.begin != 0 || m.bootstrap.begin != 0) {
    throw std::invalid_argument("the chunks do not start at index 0");
  }
  m.permutations_done = m.permutations.size();
  m.encodability_done = m.encodability.size();
  m.bootstrap_done = m.bootstrap.size();
  if (!m.keep_cells || core::saturating_mul(m.permutations.size(), m.cells) > keep_limit) {
    m.keep_cells = false;
    m.null_cells.clear();
  }
  return m;
}

}  // namespace wsc::app

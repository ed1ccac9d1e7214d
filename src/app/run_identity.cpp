#include "wsc/app/run_identity.hpp"

#include <filesystem>
#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace wsc::app {

std::uint64_t fnv1a(const void* data, std::size_t bytes, std::uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

namespace {

template <typename T>
std::uint64_t hash_vector(const std::vector<T>& v, std::uint64_t h) {
  const std::uint64_t n = v.size();
  h = fnv1a(&n, sizeof n, h);
  return v.empty() ? h : fnv1a(v.data(), v.size() * sizeof(T), h);
}

std::uint64_t hash_string(const std::string& s, std::uint64_t h) {
  const std::uint64_t n = s.size();
  h = fnv1a(&n, sizeof n, h);
  return fnv1a(s.data(), s.size(), h);
}

std::uint64_t hash_matrix(const core::Matrix& m, std::uint64_t h) {
  const std::int64_t shape[2] = {m.rows(), m.cols()};
  h = fnv1a(shape, sizeof shape, h);
  return m.size() == 0 ? h : fnv1a(m.data(), static_cast<std::size_t>(m.size()) * sizeof(double), h);
}

std::uint64_t hash_task(const engine::TaskLabels& t, std::uint64_t h) {
  h = hash_string(t.name, h);
  h = hash_vector(t.labels, h);
  for (const std::string& c : t.class_names) h = hash_string(c, h);
  return fnv1a(&t.classes, sizeof t.classes, h);
}

}  // namespace

std::uint64_t run_fingerprint(const Config& config, const engine::AnalysisInput& input,
                              const engine::Layout& layout) {
  // The config without where things go and how ranks are arranged.
  nlohmann::json j = to_json(config);
  j.erase("config_path");
  j.erase("output");
  j.erase("checkpoint");
  j["input"].erase("embeddings");
  j["input"].erase("labels");
  j["parallel"].erase("groups");
  std::uint64_t h = hash_string(j.dump(), 0xcbf29ce484222325ULL);

  h = fnv1a(&input.rows, sizeof input.rows, h);
  h = fnv1a(&input.dim, sizeof input.dim, h);
  h = hash_string(input.primary_task, h);
  h = hash_matrix(input.primary_head.weight, h);
  h = hash_matrix(input.primary_head.bias, h);
  for (const std::string& c : input.primary_class_names) h = hash_string(c, h);
  if (input.primary_labels) h = hash_task(*input.primary_labels, h);
  for (const engine::TaskLabels& t : input.metadata) h = hash_task(t, h);
  h = hash_vector(input.cv_groups, h);
  h = hash_vector(input.permutation_strata, h);
  h = hash_vector(input.permutation_blocks, h);

  // Rows: each hashed with its global index, XOR-combined over the group.
  std::uint64_t rows = 0;
  for (core::Index r = 0; r < input.x.rows(); ++r) {
    const std::int64_t i = input.row_begin + r;
    std::uint64_t rh = fnv1a(&i, sizeof i);
    rh = fnv1a(input.x.row(r).data(), static_cast<std::size_t>(input.x.cols()) * sizeof(double), rh);
    rows ^= rh;
  }
  rows = layout.group().bit_xor(rows);
  return fnv1a(&rows, sizeof rows, h);
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
    if (!same_bits(c.observed_abs, m.observed_abs) || c.cells != m.cells) {
      throw std::invalid_argument(name(i) + " disagrees on the observed statistic (run with another rank layout?)");
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
  if (!m.keep_cells || m.permutations.size() * m.cells > keep_limit) {
    m.keep_cells = false;
    m.null_cells.clear();
  }
  return m;
}

}  // namespace wsc::app

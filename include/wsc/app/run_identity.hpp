#pragma once
// What makes two runs the same run: a fingerprint of the config as run
// (without where outputs go and how ranks are arranged) and of the inputs
// as loaded (every embedding row, every label), so a saved state is only
// ever continued or merged by the run that made it. Also how a run is split
// into chunks.
#include "wsc/app/config.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/engine/run_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace wsc::app {

/// The embedding rows' part of the fingerprint on one rank: the XOR over the
/// rows of x (global indices row_begin, row_begin + 1, ...) of the 64-bit
/// XXH3 of the row's bytes seeded with its global index. XOR-combining the
/// values of any partition of the rows gives the value of the whole.
std::uint64_t rows_hash(core::RowsView x, std::int64_t row_begin);

/// The fingerprint (64-bit XXH3) of the config's result-deciding keys, the
/// input's shape, heads and labels, and `all_rows`: rows_hash combined over
/// every row of the input.
std::uint64_t fingerprint_of(const Config& config, const engine::AnalysisInput& input, std::uint64_t all_rows);

/// Collective over the layout's group: fingerprint_of with the group's
/// rows_hash values XOR-combined, so it does not depend on the row partition.
std::uint64_t run_fingerprint(const Config& config, const engine::AnalysisInput& input,
                              const engine::Layout& layout);

/// Chunk `index` of `count` of a split run.
struct ChunkSpec {
  int index = 0;
  int count = 1;
  bool split() const { return count > 1; }
};

/// "I/N" with 0 <= I < N; throws std::invalid_argument naming the problem.
ChunkSpec parse_chunk(const std::string& text);

/// Chunk I of N of [0, total): [total * I / N, total * (I + 1) / N), each
/// bound rounded down to a multiple of `align` (the phase's work item, so
/// every chunk fits its heads in the same batches as the whole run would).
engine::IndexRange chunk_range(std::int64_t total, const ChunkSpec& chunk, std::int64_t align = 1);

/// <output.dir>/chunks/chunk-I-of-N.wsc
std::string chunk_path(const Config& config, const ChunkSpec& chunk);
/// checkpoint.path, or <output.dir>/checkpoint.wsc
std::string checkpoint_path(const Config& config);

/// One state covering the union of the chunks' ranges, which must tile
/// [0, count) of every phase in order, be complete, share the fingerprint
/// and the observed statistic (bit for bit); null cells are kept when every
/// chunk kept them and the whole has at most `keep_limit` values. Throws
/// std::invalid_argument naming the chunk and the problem.
engine::RunState merge_chunk_states(const std::vector<engine::RunState>& chunks, std::int64_t keep_limit);

}  // namespace wsc::app

#pragma once
// The output files of one analysis: wsc.csv, probes.csv, summary.json and
// results.h5, written by the root to temporary names and renamed together
// when all are complete.
#include "wsc/app/config.hpp"
#include "wsc/engine/analysis.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace wsc::app {

struct RunInfo {
  std::string model_name;
  int ranks = 1;
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  bool embeddings_float32 = false;
  std::string embeddings_read_mode;  ///< rank 0's HDF5 I/O mode for its rows
  std::vector<double> peak_rss_per_rank;  ///< bytes, gathered at the root
  double wall_seconds = 0.0;
};

/// The summary document (also printed by `wsc run --json`).
nlohmann::json make_summary(const Config& config, const RunInfo& info,
                            const engine::AnalysisResult& result);

/// Writes the four files into config.output.dir (created if needed). Root only.
/// `file_written(done, 4)`, when given, is called after each file is complete
/// (under its temporary name).
void write_outputs(const Config& config, const RunInfo& info, const engine::AnalysisResult& result,
                   const std::function<void(std::int64_t done, std::int64_t total)>& file_written = {});

/// A short human-readable table of the result (what `wsc run` prints).
std::string result_table(const RunInfo& info, const engine::AnalysisResult& result);

}  // namespace wsc::app

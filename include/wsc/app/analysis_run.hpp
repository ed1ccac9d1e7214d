#pragma once
// One configured analysis from inputs to output files: load, analyse,
// gather per-rank resources, write (root). Shared by `wsc run`, `wsc merge`,
// `wsc sweep` and `wsc demo`. Long runs save their state (checkpoint.wsc)
// every checkpoint.interval seconds and when stopped by a signal, and
// continue from it when run again.
#include "wsc/app/config.hpp"
#include "wsc/app/outputs.hpp"
#include "wsc/app/run_identity.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/par/communicator.hpp"

#include <string>

namespace wsc::app {

struct CompletedRun {
  RunInfo info;
  engine::AnalysisResult result;
  bool skipped = false;      ///< a chunk found already complete
  bool resumed = false;      ///< continued from a saved state
  std::string state_path;    ///< the checkpoint or chunk file used
};

enum class RunMode {
  whole,  ///< the analysis; outputs in output.dir
  chunk,  ///< one chunk of a split run; its state in output.dir/chunks
  merge,  ///< the chunks of output.dir/chunks merged; outputs in output.dir
};

struct RunRequest {
  RunMode mode = RunMode::whole;
  ChunkSpec chunk;            ///< mode chunk
  bool show_progress = true;
};

/// Collective. Throws par::AgreedError for bad inputs or states (same on
/// all ranks), engine::Interrupted when stopped by a signal after saving.
CompletedRun run_configured(const Config& config, const par::Communicator& comm, const RunRequest& request);

/// The whole analysis with progress shown (demo, tests).
CompletedRun run_configured(const Config& config, const par::Communicator& comm, bool show_progress);

}  // namespace wsc::app

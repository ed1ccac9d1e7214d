#pragma once
// One configured analysis from inputs to output files: load, analyse,
// gather per-rank resources, write (root). Shared by `wsc run` and `wsc demo`.
#include "wsc/app/config.hpp"
#include "wsc/app/outputs.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/par/communicator.hpp"

namespace wsc::app {

struct CompletedRun {
  RunInfo info;
  engine::AnalysisResult result;
};

/// Collective. Throws par::AgreedError for bad inputs (same on all ranks).
CompletedRun run_configured(const Config& config, const par::Communicator& comm, bool show_progress);

}  // namespace wsc::app

#pragma once
// Loads what one analysis needs from the model file (and the optional
// labels file) per the config: validated on every rank before anything large
// is allocated, then the embeddings read collectively, each rank its block.
#include "wsc/app/config.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/par/communicator.hpp"

#include <string>

namespace wsc::app {

struct LoadedModel {
  std::string model_name;
  engine::AnalysisInput input;
  bool embeddings_float32 = false;
  std::string read_mode;  ///< how HDF5 did the embeddings read ("collective", ...)
};

/// Collective over comm. Throws par::AgreedError (same message on all ranks)
/// for any bad input.
LoadedModel load_model(const Config& config, const par::Communicator& comm);

/// Settings of the engine from the config.
engine::AnalysisSettings analysis_settings(const Config& config);

}  // namespace wsc::app

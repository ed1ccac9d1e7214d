#pragma once
// Loads what one analysis needs from the model file (and the optional
// labels file) per the config: validated on every rank before anything large
// is allocated, then the embeddings read collectively, each rank its block.
#include "wsc/app/config.hpp"
#include "wsc/app/progress.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/par/communicator.hpp"

#include <string>

namespace wsc::app {

struct LoadedModel {
  std::string model_name;
  engine::AnalysisInput input;
  bool embeddings_float32 = false;
  std::string read_mode;  ///< how HDF5 did the embeddings read ("collective", ...)
  engine::LayoutPlan layout;  ///< the rows each rank holds follow this plan
};

/// Collective over comm: validates, plans the rank layout (config
/// parallel.groups or automatic), and reads each rank's block of rows for
/// that layout. Throws par::AgreedError (same message on all ranks) for any
/// bad input or impossible layout. With `progress`, the embeddings read is
/// its phase "reading" (pieces read).
LoadedModel load_model(const Config& config, const par::Communicator& comm, RunProgress* progress = nullptr);

/// Independent work items of the config (batches of permutations,
/// encodability fits, bootstrap resamples): the most groups worth having.
std::int64_t parallel_items(const Config& config);

}  // namespace wsc::app

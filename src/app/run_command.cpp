#include "wsc/app/analysis_run.hpp"
#include "wsc/app/commands.hpp"
#include "wsc/app/model_inputs.hpp"
#include "wsc/app/progress.hpp"
#include "wsc/app/resources.hpp"

#include <chrono>
#include <memory>
#include <iostream>

namespace wsc::app {

CompletedRun run_configured(const Config& config, const par::Communicator& comm, bool show_progress) {
  const auto start = std::chrono::steady_clock::now();
  CompletedRun run;
  LoadedModel model = load_model(config, comm);
  run.info.model_name = model.model_name;
  run.info.ranks = comm.size();
  run.info.rows = model.input.rows;
  run.info.dim = model.input.dim;
  run.info.embeddings_float32 = model.embeddings_float32;
  run.info.embeddings_read_mode = model.read_mode;

  // One reporter per phase, each ending its line when the next begins.
  std::unique_ptr<ProgressReporter> reporter;
  std::string phase;
  engine::ProgressFn progress;
  if (show_progress && comm.is_root()) {
    progress = [&](const std::string& name, std::int64_t done, std::int64_t total) {
      if (name != phase) {
        if (reporter) reporter->finish();
        reporter = std::make_unique<ProgressReporter>(std::cerr, name);
        phase = name;
      }
      reporter->update(done, total);
    };
  }
  const engine::Layout layout(comm, model.layout);
  bool ok = true;
  std::string message;
  try {
    run.result = engine::run_analysis(model.input, analysis_settings(config), layout, progress);
  } catch (const std::invalid_argument& e) {
    // Raised identically on every rank from global data (e.g. too many folds).
    ok = false;
    message = e.what();
  }
  comm.agree(ok, message);
  if (reporter) reporter->finish();
  if (comm.is_root()) {
    // Unconverged fits and dropped bins are said loudly, even with --quiet.
    for (const std::string& w : run.result.warnings) std::cerr << "wsc: warning: " << w << "\n";
  }

  run.info.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.info.peak_rss_per_rank = comm.gather(static_cast<double>(peak_rss_bytes()));
  comm.agree_on([&] {
    if (comm.is_root()) write_outputs(config, run.info, run.result);
  });
  return run;
}

int run_command(const RunOptions& options, const par::Communicator& comm) {
  Config config;
  comm.agree_on([&] { config = load_config(options.config_path, options.overrides); });
  const CompletedRun run = run_configured(config, comm, !options.quiet);
  if (comm.is_root() && !options.quiet) {
    std::cout << result_table(run.info, run.result);
    std::cout << "results written to " << config.output.dir << "\n";
  }
  return 0;
}

}  // namespace wsc::app

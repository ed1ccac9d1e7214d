#include "wsc/app/analysis_run.hpp"
#include "wsc/app/checkpoint.hpp"
#include "wsc/app/commands.hpp"
#include "wsc/app/model_inputs.hpp"
#include "wsc/app/progress.hpp"
#include "wsc/app/resources.hpp"
#include "wsc/app/stop_signals.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>

namespace wsc::app {

namespace fs = std::filesystem;

namespace {

/// The chunk files of output.dir/chunks, all of one split (chunk-I-of-N for
/// every I < N); throws std::invalid_argument naming what is missing.
std::vector<std::string> chunk_files(const Config& config) {
  const fs::path dir = fs::path(config.output.dir) / "chunks";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::invalid_argument("no chunks to merge: " + dir.string() + " does not exist");
  }
  const std::regex name("chunk-([0-9]+)-of-([0-9]+)\\.wsc");
  int count = 0;
  std::vector<int> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (!std::regex_match(file, m, name)) continue;
    const int n = std::stoi(m[2].str());
    if (count != 0 && n != count) {
      throw std::invalid_argument(dir.string() + " holds chunks of two splits (of " + std::to_string(count) +
                                  " and of " + std::to_string(n) + ")");
    }
    count = n;
    found.push_back(std::stoi(m[1].str()));
  }
  if (count == 0) throw std::invalid_argument("no chunks to merge in " + dir.string());
  std::vector<std::string> files;
  for (int i = 0; i < count; ++i) {
    if (std::find(found.begin(), found.end(), i) == found.end()) {
      throw std::invalid_argument("chunk " + std::to_string(i) + " of " + std::to_string(count) + " is missing in " +
                                  dir.string());
    }
    files.push_back(chunk_path(config, ChunkSpec{i, count}));
  }
  return files;
}

/// The state to continue from, read on every rank (null when none exists).
std::unique_ptr<engine::RunState> read_state(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  return std::make_unique<engine::RunState>(read_checkpoint(path));
}

/// Where a run's state lives and what it holds already: the merged chunks
/// (merge), the chunk's own file (chunk) or the checkpoint (whole run), with
/// the control that saves it. Collective; refuses a state of another config
/// or input, or of other index ranges.
struct StatePlan {
  engine::RunControl control;
  std::unique_ptr<engine::RunState> saved;
  std::string path;
};

StatePlan plan_state(const Config& config, const RunRequest& request, const LoadedModel& model,
                     const engine::AnalysisSettings& settings, const engine::Layout& layout,
                     const par::Communicator& comm) {
  StatePlan plan;
  engine::RunControl& control = plan.control;
  control.fingerprint = run_fingerprint(config, model.input, layout);
  control.description = model.model_name + " (" + config.config_path + ")";
  control.checkpoint_seconds = config.checkpoint.interval;
  control.stop_requested = stop_requested;
  const auto refuse_foreign = [&](const engine::RunState& s, const std::string& path) {
    if (s.fingerprint == control.fingerprint) return;
    if (request.mode == RunMode::merge) {
      throw std::invalid_argument(path + " was made by another config or input (" + s.description +
                                  "); merge with the config the chunks ran");
    }
    throw std::invalid_argument(path + " was saved by another config or input (" + s.description +
                                "); remove it to start afresh");
  };
  if (request.mode == RunMode::merge) {
    plan.path = (fs::path(config.output.dir) / "chunks").string();
    comm.agree_on([&] {
      std::vector<engine::RunState> chunks;
      for (const std::string& path : chunk_files(config)) {
        chunks.push_back(read_checkpoint(path));
        refuse_foreign(chunks.back(), path);
      }
      try {
        plan.saved = std::make_unique<engine::RunState>(merge_chunk_states(chunks, settings.keep_null_limit));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("cannot merge " + plan.path + ": " + e.what());
      }
      if (plan.saved->permutations.size() != settings.permutation.count) {
        throw std::invalid_argument("the chunks hold " + std::to_string(plan.saved->permutations.size()) +
                                    " permutations, the config asks for " + std::to_string(settings.permutation.count));
      }
    });
    return plan;
  }
  plan.path = request.mode == RunMode::chunk ? chunk_path(config, request.chunk) : checkpoint_path(config);
  if (request.mode == RunMode::chunk) {
    const engine::ItemSizes items = engine::item_sizes(model.input, settings, model.layout.group_size);
    // Stopping on decisions: chunks are cut at looks, so merging them can stop where a whole run would.
    const std::int64_t look = engine::look_step(settings, items);
    control.ranges = engine::PhaseRanges{
        chunk_range(settings.permutation.count, request.chunk, look > 0 ? look : items.permutations),
        chunk_range(settings.encodability_count(), request.chunk, items.encodability),
        chunk_range(settings.bootstrap.count, request.chunk, items.bootstrap)};
  }
  comm.agree_on([&] {
    plan.saved = read_state(plan.path);
    if (!plan.saved) return;
    refuse_foreign(*plan.saved, plan.path);
    // Same run, other index ranges: e.g. a chunk's file put at the checkpoint path.
    const engine::PhaseRanges ranges = control.ranges.value_or(engine::whole_run(settings));
    const engine::RunState& saved = *plan.saved;
    if (!(saved.permutations == ranges.permutations && saved.encodability == ranges.encodability &&
          saved.bootstrap == ranges.bootstrap)) {
      throw std::invalid_argument(plan.path + " holds permutations [" + std::to_string(saved.permutations.begin) +
                                  ", " + std::to_string(saved.permutations.end) + "), this run does [" +
                                  std::to_string(ranges.permutations.begin) + ", " +
                                  std::to_string(ranges.permutations.end) +
                                  ") (another chunk or split?); remove it to start afresh");
    }
  });
  control.save = [path = plan.path](const engine::RunState& state) {
    fs::create_directories(fs::path(path).parent_path());
    write_checkpoint(path, state);
  };
  return plan;
}

/// The start line of an engine phase (RunProgress::Describe): what it does.
std::string describe_phase(const std::string& phase, std::int64_t total, const LoadedModel& model,
                           const engine::AnalysisSettings& settings) {
  const engine::AnalysisInput& in = model.input;
  const auto n = [](std::int64_t v) { return std::to_string(v); };
  const std::int64_t tasks = static_cast<std::int64_t>(in.metadata.size());
  const std::int64_t fitted = tasks + (in.primary_from_file ? 0 : 1);  // probes refitted per index
  if (phase == "pca") {
    return "pca: mean and covariance of " + n(in.rows) + " x " + n(in.dim) + " rows";
  }
  if (phase == "fits") {
    std::string names;
    if (!in.primary_from_file) names = in.primary_task;
    for (const engine::TaskLabels& t : in.metadata) names += (names.empty() ? "" : ", ") + t.name;
    return "fits: " + n(total) + " heads, the probe and its " + n(settings.cv.folds) + " CV fold probes of " +
           (fitted == 1 ? "task " : n(fitted) + " tasks (") + names + (fitted == 1 ? "" : ")");
  }
  const engine::ItemSizes items = engine::item_sizes(in, settings, model.layout.group_size);
  const auto batch = [&](std::int64_t item) { return n(std::min(item, total)); };
  const std::string groups = model.layout.groups > 1 ? ", " + n(model.layout.groups) + " groups in parallel" : "";
  if (phase == "encodability") {
    return "encodability: " + n(total) + " label permutations of " + n(tasks) + (tasks == 1 ? " task" : " tasks") +
           ", each refitted on " + n(settings.cv.folds) + " folds (batches of " + batch(items.encodability) +
           groups + ")";
  }
  if (phase == "permutations") {
    return "permutations: " + n(total) + " permutations of the metadata labels, " + n(tasks) +
           (tasks == 1 ? " probe" : " probes") + " refitted for each (batches of " + batch(items.permutations) +
           groups + ")";
  }
  if (phase == "bootstrap") {
    return "bootstrap: " + n(total) + " resamples of the rows, " + n(fitted) + (fitted == 1 ? " probe" : " probes") +
           " refitted for each (batches of " + batch(items.bootstrap) + groups + ")";
  }
  return {};
}

/// The analysis itself; an error raised identically on every rank from
/// global data (e.g. too many folds) is agreed on and rethrown.
engine::AnalysisResult analyse(const LoadedModel& model, const engine::AnalysisSettings& settings,
                               const engine::Layout& layout, const engine::RunControl& control, RunProgress& progress,
                               const par::Communicator& comm) {
  progress.set_describe([&](const std::string& phase, std::int64_t total) {
    return describe_phase(phase, total, model, settings);
  });
  bool ok = true;
  std::string message;
  engine::AnalysisResult result;
  try {
    result = engine::run_analysis(model.input, settings, layout, progress.callback(), control);
  } catch (const std::invalid_argument& e) {
    ok = false;
    message = e.what();
  } catch (const engine::Interrupted&) {
    progress.finish();
    throw;
  }
  comm.agree(ok, message);
  progress.finish();
  if (comm.is_root()) {
    // Unconverged fits and dropped bins are said loudly, even with --quiet.
    for (const std::string& w : result.warnings) std::cerr << "wsc: warning: " << w << "\n";
  }
  return result;
}

}  // namespace

CompletedRun run_configured(const Config& config, const par::Communicator& comm, const RunRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  CompletedRun run;
  RunProgress progress(std::cerr, request.show_progress && comm.is_root());
  const LoadedModel model = load_model(config, comm, &progress);
  run.info.model_name = model.model_name;
  run.info.ranks = comm.size();
  run.info.rows = model.input.rows;
  run.info.dim = model.input.dim;
  run.info.embeddings_float32 = model.embeddings_float32;
  run.info.embeddings_read_mode = model.read_mode;

  const engine::Layout layout(comm, model.layout);
  const engine::AnalysisSettings& settings = config.analysis;
  StatePlan state = plan_state(config, request, model, settings, layout, comm);
  run.state_path = state.path;
  if (state.saved) {
    run.resumed = true;
    state.control.resume = state.saved.get();
    const engine::RunState& saved = *state.saved;
    if (request.mode == RunMode::chunk && saved.permutations_done == saved.permutations.size() &&
        saved.encodability_done == saved.encodability.size() && saved.bootstrap_done == saved.bootstrap.size()) {
      run.skipped = true;
      return run;
    }
  }
  run.result = analyse(model, settings, layout, state.control, progress, comm);
  run.info.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.info.peak_rss_per_rank = comm.gather(static_cast<double>(peak_rss_bytes()));

  comm.agree_on([&] {
    if (!comm.is_root()) return;
    if (request.mode == RunMode::chunk) {
      progress.begin("writing", "writing " + run.state_path);
      state.control.save(run.result.state);  // the chunk's result is its complete state
      return;
    }
    progress.begin("writing", std::string("writing wsc.csv, probes.csv, summary.json") +
                                  (run.result.sensitivity.empty() ? "" : ", wsc_k.csv") + " and results.h5 to " +
                                  config.output.dir);
    write_outputs(config, run.info, run.result,
                  [&](std::int64_t done, std::int64_t total) { progress.update("writing", done, total); });
    progress.finish();
    // Finished: the checkpoint has done its job.
    if (request.mode == RunMode::whole) {
      std::error_code ec;
      fs::remove(run.state_path, ec);
    }
  });
  return run;
}

CompletedRun run_configured(const Config& config, const par::Communicator& comm, bool show_progress) {
  RunRequest request;
  request.show_progress = show_progress;
  return run_configured(config, comm, request);
}

int run_command(const RunOptions& options, const par::Communicator& comm) {
  Config config;
  RunRequest request;
  request.show_progress = !options.quiet;
  comm.agree_on([&] {
    config = load_config(options.config_path, options.overrides);
    if (!options.chunk.empty()) {
      request.chunk = parse_chunk(options.chunk);
      request.mode = RunMode::chunk;
    }
    if (options.merge) request.mode = RunMode::merge;
  });
  install_stop_handlers();
  CompletedRun run;
  try {
    run = run_configured(config, comm, request);
  } catch (const engine::Interrupted&) {
    if (comm.is_root()) {
      std::cerr << "wsc: stopped by signal " << stop_signal() << "; state saved to "
                << (request.mode == RunMode::chunk ? chunk_path(config, request.chunk) : checkpoint_path(config))
                << "; run the same command again to continue" << std::endl;
    }
    return kExitResumable;
  }
  if (comm.is_root() && !options.quiet) {
    if (run.skipped) {
      std::cout << "chunk " << request.chunk.index << " of " << request.chunk.count << " is already complete ("
                << run.state_path << ")\n";
    } else if (request.mode == RunMode::chunk) {
      std::cout << (run.resumed ? "continued and " : "") << "completed chunk " << request.chunk.index << " of "
                << request.chunk.count << ": " << run.state_path << "\n";
    } else {
      if (run.resumed && request.mode == RunMode::whole) std::cout << "continued from " << run.state_path << "\n";
      if (request.mode == RunMode::merge) std::cout << "merged the chunks of " << run.state_path << "\n";
      std::cout << result_table(run.info, run.result);
      std::cout << "results written to " << config.output.dir << "\n";
    }
  }
  return 0;
}

}  // namespace wsc::app

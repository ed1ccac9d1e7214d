#pragma once
// Sweeps over many trained models: a manifest names the analysis config and
// the model files (paths or globs); each model is analysed into
// <output>/<model>/, alone (--index, one SLURM array task each) or all in
// turn; a failed model is reported and the others go on. The sweep summary
// pools the models' results: per cell mean, sd, interval and the fraction
// of models where it is significant, and the paper's reference
// distributions of intra-task and inter-task cosines.
#include "wsc/app/config.hpp"
#include "wsc/par/communicator.hpp"

#include <string>
#include <vector>

namespace wsc::app {

struct SweepModel {
  std::string name;        ///< unique: the file's path relative to the manifest, '/' -> '_', no extension
  std::string embeddings;  ///< absolute or relative to the working directory
  std::string labels;      ///< optional metadata file ("" = the model file's own)
};

struct Manifest {
  std::string path;
  std::string config;      ///< the analysis config every model runs
  std::string output;      ///< folder of the per-model result folders and the summary
  std::vector<SweepModel> models;
};

/// Reads a manifest (TOML):
///   config = "analysis.toml"   output = "sweep"   labels = "meta.h5" (optional)
///   models = ["runs/*/model.h5", "other.h5"]    (paths or globs)
/// Paths are relative to the manifest's folder; globs expand sorted; a glob
/// matching nothing, a missing file, a duplicate model or an unknown key is
/// an error naming it (ConfigError).
Manifest load_manifest(const std::string& path);

/// The config of model i: the manifest's config with input.embeddings,
/// input.labels and output.dir set for that model.
Config model_config(const Manifest& manifest, std::size_t i, const std::vector<std::string>& overrides);

struct SweepOptions {
  std::string manifest;
  std::vector<std::string> overrides;
  int index = -1;        ///< -1: every model in turn
  bool list = false;     ///< print the model count and names, run nothing
  bool quiet = false;
};

/// `wsc sweep MANIFEST [--index I] [--list]`. Collective. Models whose
/// outputs are complete for the same config are skipped; a model that fails
/// leaves <output>/failures/<model>.txt with the reason. Returns 0 when every
/// model it ran (or skipped) is complete, 1 if any failed, kExitResumable
/// when stopped by a signal (the running model saved its state).
int sweep_command(const SweepOptions& options, const par::Communicator& comm);

/// `wsc merge --sweep MANIFEST`: writes <output>/sweep_summary.csv,
/// sweep_reference.csv, sweep_models.csv and sweep_summary.h5 from the
/// complete models; lists the others with their reasons and returns 1 if
/// any model is not complete. Root does the work.
int sweep_summary_command(const std::string& manifest, const std::vector<std::string>& overrides,
                          const par::Communicator& comm);

}  // namespace wsc::app

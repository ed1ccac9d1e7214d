#pragma once
// The analysis configuration: one value struct with defaults, filled from one
// TOML parser (toml11), strictly validated, echoed into every output.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::app {

/// A configuration error: the message names the key and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MetadataSpec {
  std::string name;            ///< /labels/<name>
  int bins = 0;                ///< 0: categorical; >= 2: bin continuous values
  std::string binning = "equal";  ///< "equal" | "quantile"
  int classes = 0;             ///< 0: from the labels (max + 1); else declared C
};

struct Config {
  struct Input {
    std::string embeddings;  ///< model file (resolved against the config's folder)
    std::string labels;      ///< optional second file for /labels and /groups
  } input;
  struct Primary {
    std::string task;
    std::string source = "file";  ///< "file" (/heads/<task>) | "probe"
  } primary;
  std::vector<MetadataSpec> metadata;
  struct Pca {
    double variance = 0.99;
    int min_components = 50;
    int components = -1;  ///< -1: unset (use variance rule); 0: no projection; K: fixed
  } pca;
  struct Probe {
    double l2 = 1e-4;
    double tol = 1e-8;
    int max_iter = 1000;
  } probe;
  struct Cv {
    int folds = 5;
    std::string groups;   ///< /groups/<name> for grouped folds; empty: none
    std::uint64_t seed = 0;  ///< fold shuffling seed
  } cv;
  struct Permutation {
    std::int64_t count = 1000;
    std::uint64_t seed = 1;
    std::string scheme = "free";  ///< "free" (others: see README)
    std::string strata;           ///< labels name for scheme "within"
    std::string blocks;           ///< groups name for scheme "blocks"
  } permutation;
  struct Encodability {
    std::int64_t permutations = 100;  ///< CV-score permutations per task; 0: no test
    double alpha = 0.05;              ///< level of the per-task verdicts
  } encodability;
  struct Bootstrap {
    std::int64_t count = 0;           ///< resamples; 0: no intervals
    std::uint64_t seed = 1;
    double level = 0.95;              ///< two-sided percentile interval
  } bootstrap;
  struct Parallel {
    int groups = 0;                   ///< rank groups; 0: chosen from N, d, ranks, memory
    std::int64_t batch = 64;          ///< permuted heads fitted together
  } parallel;
  struct Checkpoint {
    double interval = 600.0;          ///< seconds between saves; 0: only when stopped
    std::string path;                 ///< default: <output.dir>/checkpoint.wsc
  } checkpoint;
  struct Output {
    std::string dir = "results";  ///< resolved against the config's folder
  } output;

  std::string config_path;  ///< the file it was read from ("" if built in code)
};

/// Reads and validates `path`, applying `overrides` ("key=value", dotted keys,
/// e.g. "permutation.count=100", "metadata.1.bins=6") before validation. A
/// value is read as a TOML value; if it is not one, as a string. Relative
/// paths in input.* and output.dir are resolved against the config's folder.
/// Throws ConfigError with a one-line message naming file and key.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);

/// Same, from TOML text (`origin` names it in messages; `base_dir` resolves paths).
Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::string& base_dir, const std::vector<std::string>& overrides);

/// Checks value ranges and combinations (folds >= 2, bins >= 2, count >= 0,
/// 0 < variance <= 1, ...). Called by load/parse; throws ConfigError.
void validate(const Config& config);

/// The config as run, for summary.json.
nlohmann::json to_json(const Config& config);

/// The config as TOML text (what `wsc demo` writes beside its data).
std::string to_toml(const Config& config);

}  // namespace wsc::app

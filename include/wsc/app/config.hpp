#pragma once
// The analysis configuration: one value struct with defaults, filled from one
// TOML parser (toml11), strictly validated, echoed into every output. Every
// key is declared once, in the key table of src/app/config.cpp, which drives
// reading, the unknown-key check, validation and both echoes.
#include "wsc/core/binning.hpp"
#include "wsc/engine/settings.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::app {

/// A configuration error: the message names the key and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where the primary task's head comes from.
enum class PrimarySource {
  File,   ///< the model's own head, /heads/<task>
  Probe,  ///< a probe fitted to /labels/<task>
};

/// "file", "probe".
const char* to_string(PrimarySource source);
std::optional<PrimarySource> primary_source_from(const std::string& name);

/// The spelling of a binning in the config: "equal" (core::BinMethod::EqualWidth), "quantile".
const char* to_string(core::BinMethod method);
std::optional<core::BinMethod> bin_method_from(const std::string& name);

struct MetadataSpec {
  std::string name;            ///< /labels/<name>
  int bins = 0;                ///< 0: categorical; >= 2: bin continuous values
  core::BinMethod binning = core::BinMethod::EqualWidth;  ///< "equal" | "quantile"
  int classes = 0;             ///< 0: from the labels (max + 1); else declared C
};

struct Config {
  struct Input {
    std::string embeddings;  ///< model file (resolved against the config's folder)
    std::string labels;      ///< optional second file for /labels and /groups
  } input;
  struct Primary {
    std::string task;
    PrimarySource source = PrimarySource::File;
  } primary;
  std::vector<MetadataSpec> metadata;

  /// What the engine is asked to do: [pca], [probe], [cv] folds and seed,
  /// [permutation] count, seed and scheme, [encodability], [bootstrap] and
  /// [parallel] batch, with their defaults.
  engine::AnalysisSettings analysis;

  // The rest only says where things are and how ranks are arranged.
  struct Cv {
    std::string groups;   ///< /groups/<name> for grouped folds; empty: none
  } cv;
  struct Permutation {
    std::string strata;   ///< labels name for scheme "within"
    std::string blocks;   ///< groups name for scheme "blocks"
    std::string tree;     ///< groups name (N x L) for scheme "tree"
  } permutation;
  struct Parallel {
    int groups = 0;       ///< rank groups; 0: chosen from N, d, ranks, memory
  } parallel;
  struct Checkpoint {
    double interval = 600.0;  ///< seconds between saves; 0: only when stopped
    std::string path;         ///< default: <output.dir>/checkpoint.wsc
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
/// Arrays, inline tables and the tables of dotted keys nest at most this
/// deep in a config, an override value or a sweep manifest (a real config
/// needs 3): the TOML parser recurses once per level (and slows down with
/// every dotted level), so deeper text is refused before it is parsed.
constexpr int kMaxTomlNesting = 8;

/// The 1-based line of `text` where brackets and braces, plus the dots of
/// the key being read (in a table header, at a line's start, in an inline
/// table), first nest deeper than kMaxTomlNesting (strings and comments
/// skipped); 0 when they never do.
int toml_nesting_overflow_line(const std::string& text);

Config load_config(const std::string& path, const std::vector<std::string>& overrides);

/// Same, from TOML text (`origin` names it in messages; `base_dir` resolves paths).
Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::string& base_dir, const std::vector<std::string>& overrides);

/// Checks value ranges and combinations (folds >= 2, bins >= 2, count >= 0,
/// 0 < variance <= 1, ...). Called by load/parse; throws ConfigError.
void validate(const Config& config);

/// The config as run, for summary.json.
nlohmann::json to_json(const Config& config);

/// Arrays and objects nest at most this deep in JSON read back (a
/// summary.json holds 6 levels).
constexpr int kMaxJsonNesting = 32;

/// Parses JSON text read back from a file, refusing (std::invalid_argument
/// "<where>: JSON nested deeper than 32 levels") nesting beyond
/// kMaxJsonNesting as the parser reaches it, so that no value held or
/// compared afterwards is deeper; a syntax error throws nlohmann's
/// parse_error.
nlohmann::json parse_json(const std::string& text, const std::string& where);

/// The config as TOML text (what `wsc demo` writes beside its data).
std::string to_toml(const Config& config);

/// Every key of the key table, dotted, in its order: "input.embeddings", ...,
/// with the keys of a [[metadata]] entry as "metadata.name", "metadata.bins", ...
std::vector<std::string> config_keys();

}  // namespace wsc::app

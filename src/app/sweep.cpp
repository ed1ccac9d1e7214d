#include "wsc/app/sweep.hpp"

#include "wsc/app/analysis_run.hpp"
#include "wsc/app/stop_signals.hpp"
#include "wsc/core/metrics.hpp"
#include "wsc/core/wsc_matrix.hpp"
#include "wsc/io/results_file.hpp"
#include "wsc/io/results_reader.hpp"
#include "wsc/io/results_schema.hpp"
#include "wsc/io/text_output.hpp"

#include <glob.h>
#include <nlohmann/json.hpp>
#include <toml.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <unistd.h>

namespace wsc::app {

namespace fs = std::filesystem;

namespace {

std::string resolve(const fs::path& base, const std::string& p) {
  const fs::path path(p);
  return (path.is_absolute() ? path : (base / path)).lexically_normal().string();
}

/// A folder name for a model: its path relative to the manifest's folder,
/// without extension, every character outside [A-Za-z0-9._-] as '_'.
std::string model_name(const fs::path& base, const std::string& file) {
  fs::path rel = fs::path(file).lexically_relative(base);
  if (rel.empty()) rel = fs::path(file).filename();
  rel.replace_extension();
  std::string name = rel.generic_string();
  for (char& c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  }
  while (name.rfind("..", 0) == 0) name = name.substr(1);
  return name;
}

std::vector<std::string> expand(const std::string& pattern, const std::string& where) {
  if (pattern.find_first_of("*?[") == std::string::npos) {
    std::error_code ec;
    if (!fs::is_regular_file(pattern, ec)) throw ConfigError(where + ": model file '" + pattern + "' does not exist");
    return {pattern};
  }
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  if (out.empty()) throw ConfigError(where + ": '" + pattern + "' matches no file");
  std::sort(out.begin(), out.end());
  return out;
}

std::string text_of(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Manifest load_manifest(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ConfigError("cannot read manifest '" + path + "': no such file");
  if (const int line = toml_nesting_overflow_line(text_of(path)); line != 0) {
    throw ConfigError(path + ":" + std::to_string(line) + ": tables and arrays nested deeper than " +
                      std::to_string(kMaxTomlNesting) + " levels");
  }
  toml::value doc;
  try {
    doc = toml::parse(path);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw ConfigError(path + ": cannot parse TOML: " + what.substr(0, what.find('\n')));
  }
  if (!doc.is_table()) throw ConfigError(path + ": the manifest is not a table");
  const fs::path base = fs::absolute(path).parent_path();
  Manifest m;
  m.path = path;
  m.output = resolve(base, "sweep");
  std::string labels;
  bool have_config = false;
  bool have_models = false;
  std::vector<std::string> patterns;
  for (const auto& [key, value] : doc.as_table()) {
    const auto need_string = [&]() -> std::string {
      if (!value.is_string()) throw ConfigError(path + ": '" + key + "' must be a string");
      const std::string s = value.as_string();
      if (s.empty()) throw ConfigError(path + ": '" + key + "' must not be empty");
      return s;
    };
    if (key == "config") {
      m.config = resolve(base, need_string());
      have_config = true;
    } else if (key == "output") {
      m.output = resolve(base, need_string());
    } else if (key == "labels") {
      labels = resolve(base, need_string());
    } else if (key == "models") {
      if (!value.is_array()) throw ConfigError(path + ": 'models' must be an array of paths or globs");
      for (const toml::value& v : value.as_array()) {
        if (!v.is_string() || v.as_string().str.empty()) {
          throw ConfigError(path + ": 'models' must be an array of non-empty strings");
        }
        patterns.push_back(resolve(base, v.as_string().str));
      }
      have_models = true;
    } else {
      throw ConfigError(path + ": unknown key '" + key + "' (known: config, output, labels, models)");
    }
  }
  if (!have_config) throw ConfigError(path + ": missing key 'config' (the analysis config)");
  if (!have_models || patterns.empty()) throw ConfigError(path + ": missing or empty 'models'");
  std::set<std::string> names;
  for (const std::string& pattern : patterns) {
    for (const std::string& file : expand(pattern, path)) {
      SweepModel model{model_name(base, file), file, labels};
      if (!names.insert(model.name).second) {
        throw ConfigError(path + ": model '" + file + "' is listed twice (or two files map to '" + model.name + "')");
      }
      m.models.push_back(model);
    }
  }
  return m;
}

Config model_config(const Manifest& manifest, std::size_t i, const std::vector<std::string>& overrides) {
  Config c = load_config(manifest.config, overrides);
  const SweepModel& model = manifest.models.at(i);
  c.input.embeddings = model.embeddings;
  if (!model.labels.empty()) c.input.labels = model.labels;
  c.output.dir = (fs::path(manifest.output) / model.name).string();
  c.checkpoint.path.clear();  // one per model, in its folder
  validate(c);
  return c;
}

namespace {

/// Why the model of `config` has no complete results: empty when its
/// summary.json exists and was written for this config, else "no complete
/// results in <dir>", with the reason when summary.json cannot be read (not
/// JSON, nested deeper than kMaxJsonNesting).
std::string summary_problem(const Config& config) {
  const fs::path summary = fs::path(config.output.dir) / "summary.json";
  const std::string none = "no complete results in " + config.output.dir;
  std::error_code ec;
  if (!fs::is_regular_file(summary, ec)) return none;
  try {
    const nlohmann::json j = parse_json(text_of(summary), summary.string());
    return j.is_object() && j.contains("config") && j.at("config") == to_json(config) ? std::string() : none;
  } catch (const std::invalid_argument& e) {
    return none + " (" + e.what() + ")";
  } catch (const std::exception&) {
    return none + " (" + summary.string() + " is not valid JSON)";
  }
}

/// Complete when its summary.json exists and was written for this config.
bool complete(const Config& config) { return summary_problem(config).empty(); }

fs::path failure_file(const Manifest& m, const SweepModel& model) {
  return fs::path(m.output) / "failures" / (model.name + ".txt");
}

/// The manifest, read and checked on every rank: --index must name one of
/// its models and the analysis config must be valid.
Manifest agreed_manifest(const SweepOptions& options, const par::Communicator& comm) {
  Manifest manifest;
  comm.agree_on([&] {
    manifest = load_manifest(options.manifest);
    if (options.index >= static_cast<int>(manifest.models.size())) {
      throw std::invalid_argument("--index " + std::to_string(options.index) + " is out of range: " +
                                  options.manifest + " lists " + std::to_string(manifest.models.size()) +
                                  " models (0.." + std::to_string(manifest.models.size() - 1) + ")");
    }
    (void)model_config(manifest, 0, options.overrides);  // a bad analysis config stops the sweep
  });
  return manifest;
}

/// `--list`: the model count, then one "name file" line per model.
void list_models(const Manifest& manifest, const par::Communicator& comm) {
  if (!comm.is_root()) return;
  std::cout << manifest.models.size() << "\n";
  for (const SweepModel& m : manifest.models) std::cout << m.name << " " << m.embeddings << "\n";
}

/// The models this call runs: the one --index names, else all in turn.
std::vector<std::size_t> models_to_run(const Manifest& manifest, int index) {
  std::vector<std::size_t> todo;
  if (index >= 0) {
    todo.push_back(static_cast<std::size_t>(index));
  } else {
    for (std::size_t i = 0; i < manifest.models.size(); ++i) todo.push_back(i);
  }
  return todo;
}

/// Leaves <output>/failures/<model>.txt with the reason (root only).
void record_failure(const Manifest& manifest, const SweepModel& model, const std::string& tag,
                    const par::AgreedError& e, const par::Communicator& comm) {
  if (!comm.is_root()) return;
  std::cerr << "wsc: " << tag << " failed: " << e.what() << std::endl;
  std::error_code ec;
  fs::create_directories(failure_file(manifest, model).parent_path(), ec);
  io::AtomicFile f(failure_file(manifest, model).string());
  f.stream() << e.what() << "\n";
  f.commit();
}

/// Removes a failure left by an earlier attempt and reports the verdicts (root only).
void record_success(const Manifest& manifest, const SweepModel& model, const std::string& tag,
                    const CompletedRun& run, bool quiet, const par::Communicator& comm) {
  if (!comm.is_root()) return;
  std::error_code ec;
  fs::remove(failure_file(manifest, model), ec);
  if (quiet) return;
  std::cout << tag << ": done" << (run.resumed ? " (continued)" : "");
  for (const auto& t : run.result.metadata) std::cout << "; " << t.name << " " << engine::to_string(t.verdict);
  std::cout << std::endl;
}

enum class ModelOutcome { kComplete, kFailed, kStopped };

/// Runs model i unless its outputs are already complete for this config.
ModelOutcome sweep_model(const Manifest& manifest, std::size_t i, const SweepOptions& options,
                         const par::Communicator& comm) {
  const SweepModel& model = manifest.models[i];
  Config config;
  comm.agree_on([&] { config = model_config(manifest, i, options.overrides); });
  const std::string tag = "[" + std::to_string(i + 1) + "/" + std::to_string(manifest.models.size()) + "] " +
                          model.name;
  double done = comm.is_root() && complete(config) ? 1.0 : 0.0;
  comm.broadcast(&done, 1);
  if (done != 0.0) {
    if (comm.is_root() && !options.quiet) std::cout << tag << ": already complete\n";
    return ModelOutcome::kComplete;
  }
  RunRequest request;
  request.show_progress = !options.quiet;
  try {
    const CompletedRun run = run_configured(config, comm, request);
    record_success(manifest, model, tag, run, options.quiet, comm);
  } catch (const par::AgreedError& e) {
    record_failure(manifest, model, tag, e, comm);
    return ModelOutcome::kFailed;
  } catch (const engine::Interrupted&) {
    if (comm.is_root()) {
      std::cerr << "wsc: stopped by signal " << stop_signal() << " in " << tag << "; its state is saved in "
                << config.output.dir << "; run the same command again to continue" << std::endl;
    }
    return ModelOutcome::kStopped;
  }
  return ModelOutcome::kComplete;
}

}  // namespace

int sweep_command(const SweepOptions& options, const par::Communicator& comm) {
  const Manifest manifest = agreed_manifest(options, comm);
  if (options.list) {
    list_models(manifest, comm);
    return 0;
  }
  install_stop_handlers();
  const std::vector<std::size_t> todo = models_to_run(manifest, options.index);
  int failed = 0;
  for (std::size_t i : todo) {
    const ModelOutcome outcome = sweep_model(manifest, i, options, comm);
    if (outcome == ModelOutcome::kStopped) return kExitResumable;
    if (outcome == ModelOutcome::kFailed) ++failed;
  }
  if (failed > 0) {
    if (comm.is_root()) {
      std::cerr << "wsc: error: " << failed << " of " << todo.size() << " models failed (reasons in "
                << (fs::path(manifest.output) / "failures").string() << ")" << std::endl;
    }
    return 1;
  }
  return 0;
}

namespace {

struct CellKey {
  std::string primary_task, primary_class, metadata, metadata_class;
  bool operator<(const CellKey& o) const {
    return std::tie(primary_task, primary_class, metadata, metadata_class) <
           std::tie(o.primary_task, o.primary_class, o.metadata, o.metadata_class);
  }
};

struct CellValues {
  std::vector<std::string> models;
  std::vector<double> cos;
  int significant_fwer = 0;
  int significant_fdr = 0;
};

/// A cell at one k of [pca] sensitivity (k as listed: 0 is no projection).
struct KCellKey {
  int k = 0;
  CellKey cell;
  bool operator<(const KCellKey& o) const {
    // Ascending k, no projection last, as in wsc_k.csv.
    const auto rank = [](int value) { return value == 0 ? std::numeric_limits<int>::max() : value; };
    return std::make_pair(rank(k), std::cref(cell)) < std::make_pair(rank(o.k), std::cref(o.cell));
  }
};

/// What the sweep summary pools over the models.
struct SweepPool {
  std::map<CellKey, CellValues> cells;
  std::map<KCellKey, CellValues> k_cells;        ///< [pca] sensitivity
  std::vector<int> ks;                           ///< as the first model listed them
  std::map<int, std::int64_t> k_shown;           ///< k as wsc_k.csv shows it (d for no projection)
  std::vector<double> intra, inter;              ///< the reference cosines
  std::vector<std::vector<std::string>> status;  ///< per model: model, status, reason
  int incomplete = 0;
};

/// Cosines between rows i < j of one head (intra) and between the rows of
/// two heads (inter).
void add_intra(const core::Matrix& head, std::vector<double>& out) {
  const core::Matrix c = core::cosine_matrix(head, head);
  for (core::Index i = 0; i < c.rows(); ++i) {
    for (core::Index j = i + 1; j < c.cols(); ++j) out.push_back(c(i, j));
  }
}

void add_inter(const core::Matrix& a, const core::Matrix& b, std::vector<double>& out) {
  const core::Matrix c = core::cosine_matrix(a, b);
  for (core::Index i = 0; i < c.size(); ++i) out.push_back(c.data()[i]);
}

const std::vector<double> kQuantiles = {0.01, 0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975, 0.99};

/// Why a model has no complete results: its failure file's text, or else
/// that its output folder has none.
std::string incomplete_reason(const Manifest& manifest, const SweepModel& model, const Config& config) {
  std::string reason = summary_problem(config);
  std::error_code ec;
  if (fs::is_regular_file(failure_file(manifest, model), ec)) {
    reason = text_of(failure_file(manifest, model));
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
  }
  return reason;
}

/// One metadata task's cells of one model: per (primary class, metadata
/// class) its cosine and whether p_fwer and q_fdr are at most alpha.
void add_cells(const io::ResultsReader& r, const std::string& model, const std::string& p,
               const std::vector<std::string>& pclasses, const std::string& t,
               const std::vector<std::string>& mclasses, double alpha, std::map<CellKey, CellValues>& cells) {
  namespace schema = io::results_h5;
  using schema::member;
  const core::Matrix cos = r.matrix(member(schema::wsc_group(t), schema::kCos));
  const core::Matrix fwer = r.matrix(member(schema::wsc_group(t), schema::kPFwer));
  const core::Matrix fdr = r.matrix(member(schema::wsc_group(t), schema::kQFdr));
  for (core::Index a = 0; a < cos.rows(); ++a) {
    for (core::Index b = 0; b < cos.cols(); ++b) {
      CellValues& v = cells[CellKey{p, pclasses.at(static_cast<std::size_t>(a)), t,
                                    mclasses.at(static_cast<std::size_t>(b))}];
      v.models.push_back(model);
      v.cos.push_back(cos(a, b));
      if (fwer(a, b) <= alpha) ++v.significant_fwer;
      if (fdr(a, b) <= alpha) ++v.significant_fdr;
    }
  }
}

/// One metadata task's cells of one model at each k of [pca] sensitivity.
void add_sensitivity_cells(const io::ResultsReader& r, const std::string& model, const std::string& p,
                           const std::vector<std::string>& pclasses, const std::string& t,
                           const std::vector<std::string>& mclasses, double alpha, SweepPool& pool) {
  namespace schema = io::results_h5;
  using schema::member;
  const std::string g = schema::sensitivity_group(t);
  if (!r.exists(g)) return;
  const std::vector<std::int64_t> ks = r.ints(member(schema::kSensitivity, schema::kK));
  const auto d = static_cast<std::int64_t>(r.matrix(member(schema::kPca, schema::kMean)).size());
  std::vector<std::size_t> dims, fwer_dims, fdr_dims;
  const std::vector<double> cos = r.array(member(g, schema::kCos), dims);
  const std::vector<double> fwer = r.array(member(g, schema::kPFwer), fwer_dims);
  const std::vector<double> fdr = r.array(member(g, schema::kQFdr), fdr_dims);
  if (dims.size() != 3 || dims[0] != ks.size() || dims[1] != pclasses.size() || dims[2] != mclasses.size() ||
      fwer_dims != dims || fdr_dims != dims) {
    throw std::runtime_error(std::string(schema::kFileName) + " of model " + model + ": " + g + " does not have the shape [k, primary classes, classes]");
  }
  for (std::size_t s = 0; s < ks.size(); ++s) {
    const int k = static_cast<int>(ks[s]);
    pool.k_shown[k] = k == 0 ? d : k;
    for (std::size_t a = 0; a < dims[1]; ++a) {
      for (std::size_t b = 0; b < dims[2]; ++b) {
        const std::size_t at = (s * dims[1] + a) * dims[2] + b;
        CellValues& v = pool.k_cells[KCellKey{k, CellKey{p, pclasses[a], t, mclasses[b]}}];
        v.models.push_back(model);
        v.cos.push_back(cos[at]);
        if (fwer[at] <= alpha) ++v.significant_fwer;
        if (fdr[at] <= alpha) ++v.significant_fdr;
      }
    }
  }
  if (pool.ks.empty()) pool.ks.assign(ks.begin(), ks.end());
}

/// One complete model's cells and reference cosines, from its results.h5.
void collect_model(const Config& config, const std::string& model, double alpha, SweepPool& pool) {
  namespace schema = io::results_h5;
  using schema::member;
  const io::ResultsReader r((fs::path(config.output.dir) / schema::kFileName).string());
  const std::vector<std::string> primaries = r.members(schema::kPrimaryHeads);
  if (primaries.size() != 1) {
    throw std::runtime_error(config.output.dir + "/" + schema::kFileName + ": expected one primary head");
  }
  const std::string p = primaries.front();
  const core::Matrix pa = r.matrix(member(schema::heads_primary(p), schema::kProjected));
  const std::vector<std::string> pclasses = r.strings(member(schema::heads_primary(p), schema::kClassNames));
  add_intra(pa, pool.intra);
  std::vector<core::Matrix> heads;
  for (const std::string& t : r.members(schema::kMetadataHeads)) {
    const core::Matrix mt = r.matrix(member(schema::heads_metadata(t), schema::kProjected));
    const std::vector<std::string> mclasses = r.strings(member(schema::heads_metadata(t), schema::kClassNames));
    add_cells(r, model, p, pclasses, t, mclasses, alpha, pool.cells);
    add_sensitivity_cells(r, model, p, pclasses, t, mclasses, alpha, pool);
    add_intra(mt, pool.intra);
    add_inter(pa, mt, pool.inter);
    for (const core::Matrix& other : heads) add_inter(other, mt, pool.inter);
    heads.push_back(mt);
  }
}

/// Every model's status; the cells and reference cosines of the complete
/// ones. An incomplete model is reported on stderr with its reason.
SweepPool collect_sweep(const Manifest& manifest, const std::vector<std::string>& overrides, double alpha) {
  SweepPool pool;
  for (std::size_t i = 0; i < manifest.models.size(); ++i) {
    const SweepModel& model = manifest.models[i];
    const Config config = model_config(manifest, i, overrides);
    if (!complete(config)) {
      ++pool.incomplete;
      const std::string reason = incomplete_reason(manifest, model, config);
      pool.status.push_back({model.name, "failed", reason});
      std::cerr << "wsc: " << model.name << ": " << reason << "\n";
      continue;
    }
    pool.status.push_back({model.name, "complete", ""});
    collect_model(config, model.name, alpha, pool);
  }
  return pool;
}

/// sweep_summary.csv: one row per cell, pooled over the models that have it.
void write_summary_csv(std::ostream& s, const std::map<CellKey, CellValues>& cells, double alpha) {
  s << io::csv_line({"primary_task", "primary_class", "metadata", "metadata_class", "models", "cos_mean", "cos_sd",
                     "cos_lo", "cos_hi", "frac_p_fwer", "frac_q_fdr", "alpha"});
  for (const auto& [key, v] : cells) {
    const core::MeanSd ms = core::mean_sd(v.cos);
    const double n = static_cast<double>(v.cos.size());
    s << io::csv_line({io::csv_field(key.primary_task), io::csv_field(key.primary_class),
                       io::csv_field(key.metadata), io::csv_field(key.metadata_class), std::to_string(v.cos.size()),
                       io::format_double(ms.mean), io::format_double(ms.sd),
                       io::format_double(core::percentile(v.cos, 0.025)),
                       io::format_double(core::percentile(v.cos, 0.975)), io::format_double(v.significant_fwer / n),
                       io::format_double(v.significant_fdr / n), io::format_double(alpha)});
  }
}

/// sweep_sensitivity.csv: one row per k and cell ([pca] sensitivity).
void write_sensitivity_csv(std::ostream& s, const SweepPool& pool, double alpha) {
  s << io::csv_line({"primary_task", "primary_class", "metadata", "metadata_class", "k", "projection", "models",
                     "cos_mean", "cos_sd", "cos_lo", "cos_hi", "frac_p_fwer", "frac_q_fdr", "alpha"});
  for (const auto& [key, v] : pool.k_cells) {
    const core::MeanSd ms = core::mean_sd(v.cos);
    const double n = static_cast<double>(v.cos.size());
    s << io::csv_line({io::csv_field(key.cell.primary_task), io::csv_field(key.cell.primary_class),
                       io::csv_field(key.cell.metadata), io::csv_field(key.cell.metadata_class),
                       std::to_string(pool.k_shown.at(key.k)), key.k == 0 ? "none" : "pca",
                       std::to_string(v.cos.size()), io::format_double(ms.mean), io::format_double(ms.sd),
                       io::format_double(core::percentile(v.cos, 0.025)),
                       io::format_double(core::percentile(v.cos, 0.975)), io::format_double(v.significant_fwer / n),
                       io::format_double(v.significant_fdr / n), io::format_double(alpha)});
  }
}

/// sweep_reference.csv: count, mean, sd and quantiles of the intra-task and
/// inter-task cosines.
void write_reference_csv(std::ostream& s, const std::vector<double>& intra, const std::vector<double>& inter) {
  std::vector<std::string> header{"distribution", "count", "mean", "sd"};
  for (double q : kQuantiles) header.push_back("q" + io::format_double(q));
  s << io::csv_line(header);
  for (const auto& [name, values] : {std::make_pair(std::string("intra_task"), &intra),
                                     std::make_pair(std::string("inter_task"), &inter)}) {
    const core::MeanSd ms = core::mean_sd(*values);
    std::vector<std::string> row{name, std::to_string(values->size()), io::format_double(ms.mean),
                                 io::format_double(ms.sd)};
    for (double q : kQuantiles) row.push_back(io::format_double(core::percentile(*values, q)));
    s << io::csv_line(row);
  }
}

/// sweep_models.csv: every model's status and the reason when it failed.
void write_models_csv(std::ostream& s, const std::vector<std::vector<std::string>>& status) {
  s << io::csv_line({"model", "status", "reason"});
  for (const auto& row : status) s << io::csv_line({io::csv_field(row[0]), row[1], io::csv_field(row[2])});
}

/// sweep_summary.h5 (written to a temporary file, then renamed into place):
/// the models, the cells' names, each cell's cosine per model (NaN where the
/// model has none) and the reference cosines.
void write_summary_h5(const fs::path& out, const Manifest& manifest, const SweepPool& pool) {
  core::Matrix cell_cos(static_cast<core::Index>(manifest.models.size()),
                        static_cast<core::Index>(pool.cells.size()));
  cell_cos.setConstant(std::nan(""));
  std::vector<std::string> cell_names;
  core::Index column = 0;
  for (const auto& [key, v] : pool.cells) {
    for (std::size_t k = 0; k < v.models.size(); ++k) {
      for (std::size_t i = 0; i < manifest.models.size(); ++i) {
        if (manifest.models[i].name == v.models[k]) cell_cos(static_cast<core::Index>(i), column) = v.cos[k];
      }
    }
    cell_names.push_back(key.primary_task + "/" + key.primary_class + " x " + key.metadata + "/" +
                         key.metadata_class);
    ++column;
  }
  namespace summary_h5 = io::sweep_summary_h5;
  const std::string h5 = (out / summary_h5::kFileName).string();
  const std::string h5_temp = h5 + ".tmp." + std::to_string(::getpid());
  {
    io::ResultsFile f(h5_temp);
    std::vector<std::string> names;
    for (const SweepModel& m : manifest.models) names.push_back(m.name);
    f.write_strings(summary_h5::kModels, names);
    f.write_strings(summary_h5::kCells, cell_names);
    f.write_matrix(summary_h5::kCos, cell_cos);
    f.write_doubles(summary_h5::kIntraTask, pool.intra);
    f.write_doubles(summary_h5::kInterTask, pool.inter);
    if (!pool.k_cells.empty()) {
      // [models, K, cells], the cells in /cells order; NaN where a model has none.
      const std::size_t models = manifest.models.size(), ks = pool.ks.size(), cells = pool.cells.size();
      std::vector<double> k_cos(models * ks * cells, std::nan(""));
      std::map<std::string, std::size_t> model_row;
      for (std::size_t i = 0; i < models; ++i) model_row[manifest.models[i].name] = i;
      std::size_t c = 0;
      for (const auto& [key, unused] : pool.cells) {
        for (std::size_t s = 0; s < ks; ++s) {
          const auto found = pool.k_cells.find(KCellKey{pool.ks[s], key});
          if (found == pool.k_cells.end()) continue;
          for (std::size_t m = 0; m < found->second.models.size(); ++m) {
            k_cos[(model_row.at(found->second.models[m]) * ks + s) * cells + c] = found->second.cos[m];
          }
        }
        ++c;
      }
      f.write_ints(summary_h5::kSensitivityK, std::vector<std::int64_t>(pool.ks.begin(), pool.ks.end()));
      f.write_array(summary_h5::kSensitivityCos, {models, ks, cells}, k_cos);
    }
    f.write_attribute("/", summary_h5::kManifestAttribute, manifest.path);
    f.close();
  }
  io::rename_into_place(h5_temp, h5);
}

/// The four summary files; the CSV files are put in place together, after
/// sweep_summary.h5.
void write_sweep_summary(const Manifest& manifest, const SweepPool& pool, double alpha) {
  fs::create_directories(manifest.output);
  const fs::path out(manifest.output);
  io::AtomicFile summary((out / "sweep_summary.csv").string());
  write_summary_csv(summary.stream(), pool.cells, alpha);
  io::AtomicFile reference((out / "sweep_reference.csv").string());
  write_reference_csv(reference.stream(), pool.intra, pool.inter);
  io::AtomicFile models((out / "sweep_models.csv").string());
  write_models_csv(models.stream(), pool.status);
  std::optional<io::AtomicFile> sensitivity;
  if (!pool.k_cells.empty()) {
    sensitivity.emplace((out / "sweep_sensitivity.csv").string());
    write_sensitivity_csv(sensitivity->stream(), pool, alpha);
  }
  write_summary_h5(out, manifest, pool);
  if (sensitivity) sensitivity->commit();
  summary.commit();
  reference.commit();
  models.commit();
}

}  // namespace

int sweep_summary_command(const std::string& manifest_path, const std::vector<std::string>& overrides,
                          const par::Communicator& comm) {
  Manifest manifest;
  Config base;
  comm.agree_on([&] {
    manifest = load_manifest(manifest_path);
    base = model_config(manifest, 0, overrides);
  });
  int incomplete = 0;
  comm.agree_on([&] {
    if (!comm.is_root()) return;
    const double alpha = base.analysis.encodability.alpha;
    const SweepPool pool = collect_sweep(manifest, overrides, alpha);
    incomplete = pool.incomplete;
    write_sweep_summary(manifest, pool, alpha);
    std::cout << "sweep summary of " << manifest.models.size() - static_cast<std::size_t>(incomplete) << " of "
              << manifest.models.size() << " models written to " << manifest.output << "\n";
  });
  double flag = static_cast<double>(incomplete);
  comm.broadcast(&flag, 1);
  if (flag > 0) {
    if (comm.is_root()) {
      std::cerr << "wsc: error: " << static_cast<int>(flag) << " of " << manifest.models.size()
                << " models have no complete results (listed in sweep_models.csv)" << std::endl;
    }
    return 1;
  }
  return 0;
}

}  // namespace wsc::app

#include "wsc/app/outputs.hpp"

#include "wsc/app/build_info.hpp"
#include "wsc/io/results_file.hpp"
#include "wsc/io/results_schema.hpp"
#include "wsc/io/text_output.hpp"
#include "wsc/version.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace wsc::app {

namespace {

using io::csv_line;
using io::format_double;

nlohmann::json number(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;  // JSON has no NaN
}

nlohmann::json fit_json(const core::FitReport& fit) {
  return {{"iterations", fit.iterations},
          {"cg_iterations", fit.inner_iterations},
          {"grad_max_norm", number(fit.grad_max_norm)},
          {"objective", number(fit.objective)},
          {"converged", fit.converged}};
}

nlohmann::json quality_json(const engine::QualityResult& q) {
  nlohmann::json j{{"method", q.method}, {"folds", q.folds}};
  auto list = [](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(number(x));
    return a;
  };
  j["accuracy"] = {{"mean", number(q.accuracy_stat.mean)}, {"sd", number(q.accuracy_stat.sd)},
                   {"per_fold", list(q.accuracy)}};
  j["f1_macro"] = {{"mean", number(q.f1_stat.mean)}, {"sd", number(q.f1_stat.sd)},
                   {"per_fold", list(q.f1_macro)}};
  j["auroc_macro"] = {{"mean", number(q.auroc_stat.mean)}, {"sd", number(q.auroc_stat.sd)},
                      {"per_fold", list(q.auroc_macro)}};
  return j;
}

nlohmann::json tail_fit_json(const core::ParetoTailFit& f) {
  return {{"accepted", f.accepted},
          {"threshold", number(f.threshold)},
          {"quantile", number(f.quantile)},
          {"shape", number(f.shape)},
          {"scale", number(f.scale)},
          {"exceedances", f.exceedances},
          {"gof_p", number(f.gof_p)},
          {"thresholds_tried", f.thresholds_tried},
          {"null_size", f.null_size}};
}

/// The tail approximation: the fit to the null maxima (p_fwer_tail) and,
/// when the cells' null is kept, to each cell's (p_perm_tail, wsc.csv order).
nlohmann::json tail_json(const engine::AnalysisResult& r) {
  const core::ParetoOptions options;
  nlohmann::json j{{"method", "generalised Pareto, method of moments, Anderson-Darling (FSL PALM)"},
                   {"first_quantile", options.first_quantile},
                   {"quantile_step", options.quantile_step},
                   {"last_quantile", options.last_quantile},
                   {"min_exceedances", options.min_exceedances},
                   {"gof_alpha", options.gof_alpha},
                   {"p_threshold", options.p_threshold}};
  if (r.permutations == 0) return j;
  j["fwer"] = tail_fit_json(r.fwer_tail);
  std::int64_t approximate = 0;
  for (bool a : r.fwer_tail_approximate) approximate += a ? 1 : 0;
  j["fwer"]["cells_approximate"] = approximate;
  if (!r.perm_tail.empty()) {
    nlohmann::json cells = nlohmann::json::array();
    for (const core::ParetoTailFit& f : r.perm_tail) cells.push_back(tail_fit_json(f));
    j["perm"] = cells;
  }
  return j;
}

nlohmann::json task_json(const engine::TaskResult& t) {
  nlohmann::json j{{"name", t.name},        {"kind", t.kind},
                   {"classes", t.classes},  {"class_names", t.class_names},
                   {"labelled_rows", t.labelled_rows}, {"fitted", t.fitted},
                   {"quality", quality_json(t.quality)}};
  if (t.fitted) j["fit"] = fit_json(t.fit);
  return j;
}

/// Cells of metadata task t significant family-wise at alpha, its largest
/// |cos| and smallest p_fwer.
struct TaskCells {
  int significant = 0;
  double max_abs_cos = 0.0;
  double min_p_fwer = std::nan("");
};

TaskCells task_cells(const engine::AnalysisResult& r, std::size_t t) {
  TaskCells c;
  const core::Matrix& cos = r.metadata[t].cos;
  r.cells.for_each_in(t, [&](const engine::Cell& cell) {
    c.max_abs_cos = std::max(c.max_abs_cos, std::fabs(cos(cell.i, cell.j)));
    if (r.permutations > 0) {
      const double p = r.p_fwer[cell.index];
      if (r.significant_fwer(cell.index)) ++c.significant;
      if (std::isnan(c.min_p_fwer) || p < c.min_p_fwer) c.min_p_fwer = p;
    }
  });
  return c;
}

std::string wsc_csv(const std::string& model, const engine::AnalysisResult& r) {
  std::ostringstream out;
  out << csv_line({"model", "primary_task", "primary_class", "metadata", "metadata_class", "cos",
                   "p_perm", "p_fwer", "q_fdr", "permutations", "primary_class_index",
                   "metadata_class_index", "cos_fold_mean", "cos_fold_sd", "folds", "boot_lo",
                   "boot_hi", "bootstrap", "p_perm_lo", "p_perm_hi", "p_fwer_lo", "p_fwer_hi", "settled",
                   "settled_at", "p_fwer_tail", "tail_approximate", "p_perm_tail", "perm_tail_approximate"});
  const bool sequential = r.sequential.looks > 0;
  const bool tested = r.permutations > 0;
  const bool booted = r.bootstrap > 0;
  r.cells.for_each([&](const engine::Cell& c) {
    const engine::TaskResult& task = r.metadata[c.task];
    const auto [i, j] = std::pair(c.i, c.j);
    out << csv_line({io::csv_field(model), io::csv_field(r.primary.name),
                     io::csv_field(r.primary.class_names[static_cast<std::size_t>(i)]), io::csv_field(task.name),
                     io::csv_field(task.class_names[static_cast<std::size_t>(j)]), format_double(task.cos(i, j)),
                     tested ? format_double(r.p_perm[c.index]) : "nan",
                     tested ? format_double(r.p_fwer[c.index]) : "nan",
                     tested ? format_double(r.q_fdr[c.index]) : "nan", std::to_string(r.permutations),
                     std::to_string(i), std::to_string(j), format_double(task.fold_cos_mean(i, j)),
                     format_double(task.fold_cos_sd(i, j)), std::to_string(task.fold_cos.size()),
                     booted ? format_double(task.boot_lo(i, j)) : "nan",
                     booted ? format_double(task.boot_hi(i, j)) : "nan", std::to_string(r.bootstrap),
                     tested ? format_double(r.p_perm_interval[c.index].lo) : "nan",
                     tested ? format_double(r.p_perm_interval[c.index].hi) : "nan",
                     tested ? format_double(r.p_fwer_interval[c.index].lo) : "nan",
                     tested ? format_double(r.p_fwer_interval[c.index].hi) : "nan",
                     sequential ? (r.sequential.cell_settled[c.index] ? "true" : "false") : "",
                     sequential ? std::to_string(r.sequential.settled_at[c.index]) : "",
                     format_double(r.p_fwer_tail[c.index]), r.fwer_tail_approximate[c.index] ? "true" : "false",
                     format_double(r.p_perm_tail[c.index]), r.perm_tail_approximate[c.index] ? "true" : "false"});
  });
  return out.str();
}

std::string wsc_k_csv(const std::string& model, const engine::AnalysisResult& r) {
  std::ostringstream out;
  out << csv_line({"model", "primary_task", "primary_class", "metadata", "metadata_class", "k", "projection",
                   "explained", "cos", "p_perm", "p_fwer", "q_fdr", "permutations", "primary_class_index",
                   "metadata_class_index", "cos_fold_mean", "cos_fold_sd", "folds"});
  const engine::SensitivityResult& sens = r.sensitivity;
  const bool tested = r.permutations > 0;
  const std::size_t cells = r.cells.size();
  for (std::size_t s = 0; s < sens.size(); ++s) {
    const core::PcaBasis& basis = sens.bases[s];
    r.cells.for_each([&](const engine::Cell& c) {
      const engine::TaskResult& task = r.metadata[c.task];
      const auto [i, j] = std::pair(c.i, c.j);
      const std::size_t at = s * cells + c.index;
      out << csv_line({io::csv_field(model), io::csv_field(r.primary.name),
                       io::csv_field(r.primary.class_names[static_cast<std::size_t>(i)]), io::csv_field(task.name),
                       io::csv_field(task.class_names[static_cast<std::size_t>(j)]), std::to_string(basis.k),
                       basis.projected ? "pca" : "none", format_double(basis.explained),
                       format_double(sens.cos[s][c.task](i, j)), tested ? format_double(sens.p_perm[at]) : "nan",
                       tested ? format_double(sens.p_fwer[at]) : "nan", tested ? format_double(sens.q_fdr[at]) : "nan",
                       std::to_string(r.permutations), std::to_string(i), std::to_string(j),
                       format_double(sens.fold_mean[s][c.task](i, j)), format_double(sens.fold_sd[s][c.task](i, j)),
                       std::to_string(task.fold_cos.size())});
    });
  }
  return out.str();
}

std::string probe_row(const std::string& model, const engine::TaskResult& t, const std::string& role) {
  const engine::QualityResult& q = t.quality;
  return csv_line({io::csv_field(model), io::csv_field(t.name), std::to_string(t.classes),
                   format_double(q.accuracy_stat.mean), format_double(q.f1_stat.mean),
                   format_double(q.auroc_stat.mean), format_double(q.accuracy_stat.sd),
                   format_double(q.f1_stat.sd), format_double(q.auroc_stat.sd),
                   std::to_string(q.folds), q.method, role, std::to_string(t.labelled_rows),
                   t.fitted ? std::to_string(t.fit.iterations) : "",
                   t.fitted ? format_double(t.fit.grad_max_norm) : "",
                   t.fitted ? (t.fit.converged ? "true" : "false") : "",
                   role == "metadata" ? format_double(t.p_encoded) : "",
                   role == "metadata" ? std::to_string(t.score_null.size()) : "",
                   role == "metadata" ? engine::to_string(t.verdict) : "",
                   role == "metadata" ? format_double(t.p_encoded_interval.lo) : "",
                   role == "metadata" ? format_double(t.p_encoded_interval.hi) : ""});
}

std::string probes_csv(const std::string& model, const engine::AnalysisResult& r) {
  std::ostringstream out;
  out << csv_line({"model", "task", "classes", "accuracy", "f1_macro", "auroc_macro", "accuracy_sd",
                   "f1_macro_sd", "auroc_macro_sd", "folds", "evaluation", "role", "labelled_rows",
                   "fit_iterations", "fit_grad_max_norm", "fit_converged", "p_encoded",
                   "encodability_permutations", "verdict", "p_encoded_lo", "p_encoded_hi"});
  if (r.primary.quality.method != "none") out << probe_row(model, r.primary, "primary");
  for (const engine::TaskResult& t : r.metadata) out << probe_row(model, t, "metadata");
  return out.str();
}

/// /sensitivity of results.h5 (nothing without [pca] sensitivity).
void write_sensitivity(io::ResultsFile& h5, const engine::AnalysisResult& r) {
  namespace schema = io::results_h5;
  using schema::member;
  const engine::SensitivityResult& sens = r.sensitivity;
  if (sens.empty()) return;
  const std::size_t ks = sens.size();
  std::vector<std::int64_t> k(sens.ks.begin(), sens.ks.end());
  std::vector<double> explained;
  for (const core::PcaBasis& b : sens.bases) explained.push_back(b.explained);
  h5.write_ints(member(schema::kSensitivity, schema::kK), k);
  h5.write_doubles(member(schema::kSensitivity, schema::kExplained), explained);
  h5.write_array(member(schema::kSensitivity, schema::kNullMaxAbsCos),
                 {static_cast<std::size_t>(r.permutations), ks}, sens.null_max);
  h5.write_attribute(schema::kSensitivity, schema::kPermutationsAttribute, static_cast<double>(r.permutations));
  const bool tested = r.permutations > 0;
  for (std::size_t t = 0; t < r.metadata.size(); ++t) {
    const auto rows = static_cast<std::size_t>(r.metadata[t].cos.rows());
    const auto cols = static_cast<std::size_t>(r.metadata[t].cos.cols());
    // [K, C_primary, C_task], row-major.
    const auto stack = [&](const auto& value) {
      std::vector<double> v;
      v.reserve(ks * rows * cols);
      for (std::size_t s = 0; s < ks; ++s) {
        for (std::size_t i = 0; i < rows; ++i) {
          for (std::size_t j = 0; j < cols; ++j) v.push_back(value(s, i, j));
        }
      }
      return v;
    };
    const auto cell_value = [&](const std::vector<double>& flat) {
      return stack([&](std::size_t s, std::size_t i, std::size_t j) {
        if (!tested) return std::nan("");
        return flat[s * r.cells.size() + r.cells.at(t, static_cast<core::Index>(i), static_cast<core::Index>(j))];
      });
    };
    const std::string g = schema::sensitivity_group(r.metadata[t].name);
    const std::vector<std::size_t> dims{ks, rows, cols};
    const auto ii = [](std::size_t v) { return static_cast<core::Index>(v); };
    h5.write_array(member(g, schema::kCos), dims,
                   stack([&](std::size_t s, std::size_t i, std::size_t j) { return sens.cos[s][t](ii(i), ii(j)); }));
    h5.write_array(member(g, schema::kPPerm), dims, cell_value(sens.p_perm));
    h5.write_array(member(g, schema::kPFwer), dims, cell_value(sens.p_fwer));
    h5.write_array(member(g, schema::kQFdr), dims, cell_value(sens.q_fdr));
    h5.write_array(member(g, schema::kCosFoldMean), dims, stack([&](std::size_t s, std::size_t i, std::size_t j) {
                     return sens.fold_mean[s][t](ii(i), ii(j));
                   }));
    h5.write_array(member(g, schema::kCosFoldSd), dims, stack([&](std::size_t s, std::size_t i, std::size_t j) {
                     return sens.fold_sd[s][t](ii(i), ii(j));
                   }));
  }
}

void write_results_h5(const std::string& path, const Config& config, const RunInfo& info,
                      const engine::AnalysisResult& r, const nlohmann::json& summary) {
  namespace schema = io::results_h5;
  using schema::member;
  io::ResultsFile h5(path);
  h5.write_attribute("/", schema::kModelAttribute, info.model_name);
  h5.write_attribute("/", schema::kVersionAttribute, kVersion);
  h5.write_attribute("/", schema::kGitCommitAttribute, kGitCommit);
  h5.write_attribute("/", schema::kBuildAttribute, summary.at("build").dump());
  h5.write_attribute("/", schema::kConfigAttribute, to_json(config).dump());
  h5.write_attribute("/", schema::kSummaryAttribute, summary.dump());
  h5.write_vector(member(schema::kPca, schema::kMean), r.pca.mean);
  h5.write_vector(member(schema::kPca, schema::kEigenvalues), r.pca.eigenvalues);
  h5.write_matrix(member(schema::kPca, schema::kComponents), r.pca.components);
  h5.write_attribute(schema::kPca, schema::kKAttribute, static_cast<double>(r.pca.k));
  h5.write_attribute(schema::kPca, schema::kExplainedAttribute, r.pca.explained);
  auto head = [&](const std::string& group, const engine::TaskResult& t) {
    h5.write_matrix(member(group, schema::kWeight), t.head.weight);
    h5.write_vector(member(group, schema::kBias), t.head.bias);
    h5.write_matrix(member(group, schema::kProjected), t.projected);
    h5.write_strings(member(group, schema::kClassNames), t.class_names);
    h5.write_attribute(group, schema::kKindAttribute, t.kind);
  };
  head(schema::heads_primary(r.primary.name), r.primary);
  for (std::size_t ti = 0; ti < r.metadata.size(); ++ti) {
    const engine::TaskResult& t = r.metadata[ti];
    head(schema::heads_metadata(t.name), t);
    const std::string g = schema::wsc_group(t.name);
    h5.write_matrix(member(g, schema::kCos), t.cos);
    const std::vector<double> none(r.cells.size(), std::nan(""));
    const bool tested = r.permutations > 0;
    h5.write_matrix(member(g, schema::kPPerm), r.cells.task_matrix(ti, tested ? r.p_perm : none));
    h5.write_matrix(member(g, schema::kPFwer), r.cells.task_matrix(ti, tested ? r.p_fwer : none));
    h5.write_matrix(member(g, schema::kQFdr), r.cells.task_matrix(ti, tested ? r.q_fdr : none));
    h5.write_matrix(member(g, schema::kCosFoldMean), t.fold_cos_mean);
    h5.write_matrix(member(g, schema::kCosFoldSd), t.fold_cos_sd);
    for (std::size_t k = 0; k < t.fold_cos.size(); ++k) {
      h5.write_matrix(schema::cos_fold(g, k), t.fold_cos[k]);
    }
    const auto flags = [&](const std::vector<bool>& v) {
      std::vector<double> d(v.size());
      for (std::size_t c = 0; c < v.size(); ++c) d[c] = v[c] ? 1.0 : 0.0;
      return r.cells.task_matrix(ti, d);
    };
    h5.write_matrix(member(g, schema::kPFwerTail), r.cells.task_matrix(ti, r.p_fwer_tail));
    h5.write_matrix(member(g, schema::kTailApproximate), flags(r.fwer_tail_approximate));
    h5.write_matrix(member(g, schema::kPPermTail), r.cells.task_matrix(ti, r.p_perm_tail));
    h5.write_matrix(member(g, schema::kPermTailApproximate), flags(r.perm_tail_approximate));
    if (r.bootstrap > 0) {
      h5.write_matrix(member(g, schema::kBootLo), t.boot_lo);
      h5.write_matrix(member(g, schema::kBootHi), t.boot_hi);
    }
  }
  if (r.bootstrap > 0) {
    h5.write_matrix(member(schema::kBootstrap, schema::kCos), r.boot_cells);
    h5.write_attribute(schema::kBootstrap, schema::kResamplesAttribute, static_cast<double>(r.bootstrap));
    h5.write_attribute(schema::kBootstrap, schema::kCellOrderAttribute, schema::kCellOrder);
  }
  for (const engine::TaskResult& t : r.metadata) {
    if (t.score_null.empty()) continue;
    const std::string g = schema::encodability_group(t.name);
    h5.write_doubles(member(g, schema::kNullAurocMacro), t.score_null);
    h5.write_attribute(g, schema::kAurocMacroAttribute, t.score);
    h5.write_attribute(g, schema::kPEncodedAttribute, t.p_encoded);
    h5.write_attribute(g, schema::kVerdictAttribute, engine::to_string(t.verdict));
  }
  h5.write_doubles(member(schema::kNull, schema::kMaxAbsCos), r.null_max);
  if (r.null_cells.size() > 0) h5.write_matrix(member(schema::kNull, schema::kAbsCos), r.null_cells);
  h5.write_attribute(schema::kNull, schema::kPermutationsAttribute, static_cast<double>(r.permutations));
  h5.write_attribute(schema::kNull, schema::kCellOrderAttribute, schema::kCellOrder);
  auto cv = [&](const engine::TaskResult& t) {
    if (t.quality.method == "none") return;
    const std::string g = schema::quality_group(t.name);
    h5.write_doubles(member(g, schema::kAccuracy), t.quality.accuracy);
    h5.write_doubles(member(g, schema::kF1Macro), t.quality.f1_macro);
    h5.write_doubles(member(g, schema::kAurocMacro), t.quality.auroc_macro);
    h5.write_attribute(g, schema::kMethodAttribute, t.quality.method);
    if (!t.quality.fold_of_row.empty()) {
      h5.write_ints(member(g, schema::kFold), std::vector<std::int64_t>(t.quality.fold_of_row.begin(),
                                                                         t.quality.fold_of_row.end()));
    }
  };
  cv(r.primary);
  for (const engine::TaskResult& t : r.metadata) cv(t);
  write_sensitivity(h5, r);
  h5.close();
}

/// Estimated and measured memory of a rank: the estimate's parts (world
/// rank 0's layout position, this run's shapes), the peak resident set over
/// ranks, and both over the bytes of the rows a rank holds.
nlohmann::json memory_json(const engine::AnalysisResult& r, const RunInfo& info) {
  const double estimate = r.memory_rows + r.memory_labels + r.memory_batch + r.memory_fixed;
  double peak = 0.0;
  for (double v : info.peak_rss_per_rank) peak = std::max(peak, v);
  nlohmann::json j;
  j["estimated_bytes_per_rank"] = estimate;
  j["estimate_parts"] = {{"rows", r.memory_rows},
                         {"labels", r.memory_labels},
                         {"batch", r.memory_batch},
                         {"fixed", r.memory_fixed}};
  j["row_bytes_per_rank"] = r.memory_rows;
  j["peak_bytes_per_rank"] = peak;
  j["peak_over_row_bytes"] = number(r.memory_rows > 0.0 ? peak / r.memory_rows : std::nan(""));
  return j;
}

/// The batched fits of each phase on world rank 0: heads, passes, flops,
/// and the fraction of the GEMM-bound limit (the time the passes' GEMM flops
/// take at the GEMM rates measured in this run, over the time the kernels
/// took and over the phase's wall time).
nlohmann::json performance_json(const engine::AnalysisResult& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [phase, p] : r.performance) {
    const core::BatchedFitStats& s = p.stats;
    const double kernels = s.evaluation_seconds + s.hessian_seconds;
    const double bound = p.bound_seconds();
    j[phase] = {{"heads", s.heads},
                {"seconds", number(p.seconds)},
                {"heads_per_second", number(p.seconds > 0.0 ? static_cast<double>(s.heads) / p.seconds : std::nan(""))},
                {"evaluations", s.evaluations},
                {"hessian_products", s.hessian_products},
                {"tile_rows", s.tile_rows},
                {"gemm_gflops", number((s.evaluation_flops + s.hessian_flops + s.hessian_float_flops) * 1e-9)},
                {"gemm_rate_gflops_double", number(p.gemm_rate_double * 1e-9)},
                {"gemm_rate_gflops_float", number(p.gemm_rate_float * 1e-9)},
                {"kernel_seconds", number(kernels)},
                {"gemm_bound_seconds", number(bound)},
                {"gemm_fraction_of_kernels", number(kernels > 0.0 ? bound / kernels : std::nan(""))},
                {"gemm_fraction", number(p.seconds > 0.0 ? bound / p.seconds : std::nan(""))},
                {"allreduce_calls", s.reduce_calls},
                {"allreduce_doubles", s.reduced_doubles},
                {"allreduce_seconds", number(s.reduce_seconds)}};
  }
  return j;
}

}  // namespace

nlohmann::json make_summary(const Config& config, const RunInfo& info,
                            const engine::AnalysisResult& r) {
  nlohmann::json j;
  j["wsc_version"] = kVersion;
  j["git_commit"] = kGitCommit;
  j["build"] = to_json(build_info());
  j["model"] = info.model_name;
  {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r.state.fingerprint));
    j["fingerprint"] = hex;  // of the config as run and the inputs
  }
  j["config"] = to_json(config);
  j["ranks"] = info.ranks;
  j["rows"] = info.rows;
  j["dim"] = info.dim;
  j["embeddings_dtype"] = info.embeddings_float32 ? "float32" : "float64";
  j["embeddings_read"] = info.embeddings_read_mode;
  j["pca"] = {{"k", r.pca.k},
              {"projected", r.pca.projected},
              {"variance_explained", number(r.pca.explained)}};
  if (!r.sensitivity.empty()) {
    nlohmann::json ks = nlohmann::json::array();
    for (const core::PcaBasis& b : r.sensitivity.bases) {
      ks.push_back({{"k", b.k}, {"projected", b.projected}, {"variance_explained", number(b.explained)}});
    }
    j["sensitivity"] = ks;
  }
  j["primary"] = task_json(r.primary);
  nlohmann::json tasks = nlohmann::json::array();
  for (std::size_t t = 0; t < r.metadata.size(); ++t) {
    nlohmann::json tj = task_json(r.metadata[t]);
    const TaskCells c = task_cells(r, t);
    tj["max_abs_cos"] = number(c.max_abs_cos);
    tj["min_p_fwer"] = number(c.min_p_fwer);
    tj["cells_significant_fwer"] = c.significant;  // p_fwer <= alpha
    tj["p_encoded"] = number(r.metadata[t].p_encoded);
    tj["verdict"] = engine::to_string(r.metadata[t].verdict);
    tasks.push_back(tj);
  }
  j["metadata"] = tasks;
  const engine::PermutationSettings& perm = config.analysis.permutation;
  nlohmann::json stop = {{"rule", engine::to_string(perm.stop)}, {"cap", perm.count}};
  if (r.sequential.looks > 0) {
    std::int64_t settled = 0;
    for (bool b : r.sequential.cell_settled) settled += b ? 1 : 0;
    stop["look"] = r.state.look;
    stop["looks"] = r.sequential.looks;
    stop["risk"] = perm.risk;
    stop["decisions"] = perm.decisions;
    stop["alpha"] = r.alpha;
    stop["all_settled"] = r.sequential.settled;
    stop["cells_settled"] = settled;
    stop["permutations_saved"] = perm.count - r.permutations;
  }
  j["permutations"] = {{"count", r.permutations},
                       {"stop", stop},
                       {"fits", r.permutation_fits},
                       {"unconverged_fits", r.permutation_unconverged},
                       {"max_iterations", r.permutation_max_iterations},
                       {"max_grad_max_norm", number(r.permutation_max_grad)},
                       {"null_cells_kept", r.null_cells.size() > 0}};
  j["tail"] = tail_json(r);
  j["encodability"] = {{"permutations", r.encodability_permutations},
                       {"statistic", "cross-validated macro AUROC (mean over folds)"},
                       {"fits", r.encodability_fits},
                       {"alpha", config.analysis.encodability.alpha}};
  j["bootstrap"] = {{"resamples", r.bootstrap}, {"level", config.analysis.bootstrap.level}};
  j["layout"] = {{"groups", r.groups},
                 {"ranks_per_group", r.group_size},
                 {"requested_groups", config.parallel.groups},
                 {"reason", r.layout_reason},
                 {"predicted_heads_per_second", number(r.predicted_heads_per_second)}};
  if (!r.ranks_per_node.empty()) {
    j["layout"]["nodes"] = r.ranks_per_node.size();
    j["layout"]["ranks_per_node"] = r.ranks_per_node;
    j["layout"]["node_of_rank"] = r.node_of_rank;
    j["layout"]["group_nodes"] = r.group_nodes;
    j["layout"]["groups_spanning_nodes"] = r.groups_spanning_nodes;
  }
  j["warnings"] = r.warnings;
  nlohmann::json timings = nlohmann::json::object();
  for (const auto& [phase, seconds] : r.timings) timings[phase] = seconds;
  timings["total"] = info.wall_seconds;
  j["timings_seconds"] = timings;
  j["peak_rss_bytes_per_rank"] = info.peak_rss_per_rank;
  j["memory"] = memory_json(r, info);
  j["performance"] = performance_json(r);
  return j;
}

void write_outputs(const Config& config, const RunInfo& info, const engine::AnalysisResult& r,
                   const std::function<void(std::int64_t, std::int64_t)>& file_written) {
  const bool sensitivity = !r.sensitivity.empty();
  const std::int64_t files = sensitivity ? 5 : 4;
  const auto written = [&](std::int64_t done) {
    if (file_written) file_written(done, files);
  };
  namespace fs = std::filesystem;
  const fs::path dir(config.output.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create output directory '" + dir.string() + "': " + ec.message());

  const nlohmann::json summary = make_summary(config, info, r);
  // Everything goes to temporary names first; renamed only when all are complete.
  io::AtomicFile wsc((dir / "wsc.csv").string());
  wsc.stream() << wsc_csv(info.model_name, r);
  written(1);
  io::AtomicFile probes((dir / "probes.csv").string());
  probes.stream() << probes_csv(info.model_name, r);
  written(2);
  io::AtomicFile json((dir / "summary.json").string());
  json.stream() << summary.dump(2) << "\n";
  written(3);
  std::optional<io::AtomicFile> wsc_k;
  if (sensitivity) {
    wsc_k.emplace((dir / "wsc_k.csv").string());
    wsc_k->stream() << wsc_k_csv(info.model_name, r);
  }
  const std::string h5_final = (dir / io::results_h5::kFileName).string();
  const std::string h5_temp = h5_final + ".tmp." + std::to_string(::getpid());
  try {
    write_results_h5(h5_temp, config, info, r, summary);
  } catch (...) {
    std::remove(h5_temp.c_str());
    throw;
  }
  written(files);
  io::rename_into_place(h5_temp, h5_final);
  if (wsc_k) wsc_k->commit();
  wsc.commit();
  probes.commit();
  json.commit();
}

std::string result_table(const RunInfo& info, const engine::AnalysisResult& r) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "model %s: N = %lld, d = %lld, k = %d (%.1f%% of variance), %lld permutations\n",
                info.model_name.c_str(), static_cast<long long>(info.rows),
                static_cast<long long>(info.dim), r.pca.k, 100.0 * r.pca.explained,
                static_cast<long long>(r.permutations));
  out << line;
  const std::string significant = "cells p_fwer<=" + io::format_double(r.alpha);
  std::snprintf(line, sizeof line, "  %-16s %7s %8s %8s %9s %9s %10s %-18s %s\n", "metadata", "classes",
                "cv_acc", "cv_auroc", "p_encoded", "max|cos|", "min_p_fwer", significant.c_str(), "verdict");
  out << line;
  for (std::size_t t = 0; t < r.metadata.size(); ++t) {
    const engine::TaskResult& task = r.metadata[t];
    const TaskCells c = task_cells(r, t);
    const std::string cells = std::to_string(c.significant) + " of " + std::to_string(task.cos.size());
    std::snprintf(line, sizeof line, "  %-16s %7d %8.3f %8.3f %9.4g %9.3f %10.4g %-18s %s\n",
                  task.name.c_str(), task.classes, task.quality.accuracy_stat.mean,
                  task.quality.auroc_stat.mean, task.p_encoded, c.max_abs_cos, c.min_p_fwer,
                  cells.c_str(), engine::to_string(task.verdict));
    out << line;
  }
  return out.str();
}

}  // namespace wsc::app

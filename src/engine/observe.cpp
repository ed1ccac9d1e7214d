// The observed part of an analysis: PCA, heads, CV folds, WSC matrices.
#include "phases.hpp"
#include "task_fits.hpp"

#include "wsc/core/folds.hpp"
#include "wsc/core/wsc_matrix.hpp"
#include "wsc/engine/distributed_fit.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace wsc::engine::detail {

std::vector<int> fold_assignment(const TaskLabels& task, const AnalysisInput& input, const CvSettings& cv) {
  try {
    return input.cv_groups.empty() ? core::stratified_folds(task.labels, cv.folds, cv.seed)
                                   : core::stratified_group_folds(task.labels, input.cv_groups, cv.folds, cv.seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("cv.folds = " + std::to_string(cv.folds) + " is impossible for task '" +
                                task.name + "': " + e.what());
  }
}

core::Labels training_labels(const core::Labels& labels, const std::vector<int>& fold, int f) {
  core::Labels train = labels;
  for (std::size_t i = 0; i < train.size(); ++i) {
    if (fold[i] == f) train[i] = -1;
  }
  return train;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::int64_t labelled(const core::Labels& labels) {
  return std::count_if(labels.begin(), labels.end(), [](int v) { return v >= 0; });
}

/// Mean and covariance (divisor N - 1) of all rows of the group, summed in
/// double precision over tiles of rows (float rows widened one tile at a
/// time). Two passes (mean first) for accuracy.
struct RowCovariance {
  core::Vector mean;
  core::Matrix cov;
};

RowCovariance row_covariance(core::RowsView x, std::int64_t rows, const par::Communicator& comm,
                             PhaseProgress& progress) {
  const core::Index d = x.cols();
  const core::Index tile = core::tile_rows(d);
  core::RowMatrix scratch;
  RowCovariance out;
  out.mean = core::Vector::Zero(d);
  core::for_each_tile(x.rows(), tile, [&](core::Index begin, core::Index n) {
    out.mean += x.doubles(begin, n, scratch).colwise().sum().transpose();
  });
  comm.sum(out.mean.data(), static_cast<std::size_t>(d));
  out.mean /= static_cast<double>(rows);

  out.cov = core::Matrix::Zero(d, d);
  core::Matrix centred;
  core::for_each_tile(x.rows(), tile, [&](core::Index begin, core::Index n) {
    centred = x.doubles(begin, n, scratch);
    centred.rowwise() -= out.mean.transpose();
    out.cov.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
    progress.update_share(begin + n, x.rows());
  });
  out.cov = out.cov.selfadjointView<Eigen::Lower>();
  comm.sum(out.cov.data(), static_cast<std::size_t>(out.cov.size()));
  out.cov /= static_cast<double>(std::max<std::int64_t>(rows - 1, 1));
  return out;
}

/// Every rank takes world rank 0's values (groups computed the same thing;
/// this makes them agree to the last bit whatever the reduction order).
void share_matrix(const par::Communicator& world, core::Matrix& m) {
  double shape[2] = {static_cast<double>(m.rows()), static_cast<double>(m.cols())};
  world.broadcast(shape, 2);
  m.resize(static_cast<core::Index>(shape[0]), static_cast<core::Index>(shape[1]));
  if (m.size() > 0) world.broadcast(m.data(), static_cast<std::size_t>(m.size()));
}

void share_vector(const par::Communicator& world, core::Vector& v) {
  double size = static_cast<double>(v.size());
  world.broadcast(&size, 1);
  v.resize(static_cast<core::Index>(size));
  if (v.size() > 0) world.broadcast(v.data(), static_cast<std::size_t>(v.size()));
}

/// The CV metrics of each fold head on its held-out rows.
void score_folds(const AnalysisInput& input, const TaskLabels& task, const std::vector<core::ProbeHead>& fold_heads,
                 const std::vector<core::FitReport>& reports, const par::Communicator& comm, QualityResult& q,
                 std::vector<std::string>& warnings) {
  for (std::size_t f = 0; f < fold_heads.size(); ++f) {
    const core::FitReport& report = reports[f + 1];
    if (!report.converged) {
      warnings.push_back("cv fold " + std::to_string(f) + " of task '" + task.name +
                         "' stopped without converging (max-norm gradient " +
                         std::to_string(report.grad_max_norm) + ")");
    }
    q.fold_fits.push_back(report);
    const TaskMetrics m = evaluate_rows(
        input.x, input.row_begin, task.labels, fold_heads[f],
        [&](std::int64_t i) { return q.fold_of_row[static_cast<std::size_t>(i)] == static_cast<int>(f); }, comm);
    q.accuracy.push_back(m.accuracy);
    q.f1_macro.push_back(m.f1);
    q.auroc_macro.push_back(m.auroc);
  }
  q.accuracy_stat = core::mean_sd(q.accuracy);
  q.f1_stat = core::mean_sd(q.f1_macro);
  q.auroc_stat = core::mean_sd(q.auroc_macro);
}

/// The observed head of a task and its F fold heads, fitted as one batch;
/// fold metrics on the held-out rows. Returns the fold heads.
std::vector<core::ProbeHead> fit_task_with_folds(const AnalysisInput& input, const TaskLabels& task,
                                                 const AnalysisSettings& settings, const par::Communicator& comm,
                                                 const FitShared& fits, TaskResult& r,
                                                 std::vector<std::string>& warnings) {
  r.name = task.name;
  r.kind = task.kind;
  r.classes = task.classes;
  r.class_names = task.class_names;
  r.labelled_rows = labelled(task.labels);
  r.fitted = true;
  QualityResult& q = r.quality;
  q.method = "cv";
  q.folds = settings.cv.folds;
  q.fold_of_row = fold_assignment(task, input, settings.cv);

  std::vector<core::Labels> labels{task.labels};
  for (int f = 0; f < settings.cv.folds; ++f) labels.push_back(training_labels(task.labels, q.fold_of_row, f));
  std::vector<core::FitReport> reports;
  std::vector<core::ProbeHead> heads =
      fit_group_probes(input.x, local_labels(labels, input.row_begin, input.x.rows()), task.classes, settings.probe,
                       comm.sum_reduce(), fits.invariants, &reports, nullptr, &fits.stats);
  r.head = std::move(heads[0]);
  r.fit = reports[0];
  if (!r.fit.converged) {
    warnings.push_back("probe for task '" + task.name + "' stopped without converging after " +
                       std::to_string(r.fit.iterations) + " iterations (max-norm gradient " +
                       std::to_string(r.fit.grad_max_norm) + " > tol)");
  }
  std::vector<core::ProbeHead> fold_heads(std::make_move_iterator(heads.begin() + 1),
                                          std::make_move_iterator(heads.end()));
  score_folds(input, task, fold_heads, reports, comm, q, warnings);
  return fold_heads;
}

/// The model's own head, evaluated on all labelled rows when labels exist.
TaskResult head_from_file(const AnalysisInput& input, const par::Communicator& comm) {
  TaskResult p;
  p.name = input.primary_task;
  p.kind = "model-head";
  p.classes = static_cast<int>(input.primary_head.classes());
  p.class_names = input.primary_class_names;
  p.head = input.primary_head;
  p.fitted = false;
  if (!input.primary_labels) {
    p.quality.method = "none";
    return p;
  }
  p.labelled_rows = labelled(input.primary_labels->labels);
  QualityResult& q = p.quality;
  q.method = "model-head";
  const TaskMetrics m = evaluate_rows(input.x, input.row_begin, input.primary_labels->labels, p.head,
                                      [](std::int64_t) { return true; }, comm);
  q.accuracy = {m.accuracy};
  q.f1_macro = {m.f1};
  q.auroc_macro = {m.auroc};
  q.accuracy_stat = {m.accuracy, 0.0};
  q.f1_stat = {m.f1, 0.0};
  q.auroc_stat = {m.auroc, 0.0};
  return p;
}

/// Mean and sd over the folds of each cell.
void fold_mean_sd(const std::vector<core::Matrix>& folds, core::Index rows, core::Index cols, core::Matrix& mean,
                  core::Matrix& sd) {
  mean = core::Matrix::Zero(rows, cols);
  sd = core::Matrix::Zero(rows, cols);
  for (core::Index i = 0; i < rows; ++i) {
    for (core::Index j = 0; j < cols; ++j) {
      std::vector<double> v;
      for (const core::Matrix& c : folds) v.push_back(c(i, j));
      const core::MeanSd ms = core::mean_sd(v);
      mean(i, j) = ms.mean;
      sd(i, j) = ms.sd;
    }
  }
}

/// One task's WSC at each k of [pca] sensitivity (per k: cos, fold mean, fold sd).
struct TaskSensitivity {
  std::vector<core::Matrix> cos, fold_mean, fold_sd;
};

/// The projections at each k of [pca] sensitivity, from the same
/// decomposition as the run's PCA (a k's components are the first k rows of
/// the full ordered basis, so the run's own k gives the run's own matrix).
SensitivityResult sensitivity_bases(const core::RowInvariants& invariants, const std::vector<int>& listed) {
  SensitivityResult sens;
  const auto d = static_cast<int>(invariants.centre.size());
  sens.ks = sensitivity_order(listed);
  for (const int k : sens.ks) {
    if (k > d) {
      throw std::invalid_argument("'pca.sensitivity' lists k = " + std::to_string(k) +
                                  ", more than the embeddings' dimension d = " + std::to_string(d));
    }
    core::PcaSettings one;
    one.components = k;
    sens.bases.push_back(core::pca_from_invariants(invariants, one));
  }
  return sens;
}

/// A metadata probe, its folds and their WSC against the primary head (and
/// at each k of [pca] sensitivity into `sensitivity`).
TaskResult observe_metadata(const AnalysisInput& input, const TaskLabels& task, const AnalysisSettings& settings,
                            const Layout& layout, const FitShared& fits, const AnalysisResult& result,
                            TaskSensitivity& sensitivity, std::vector<std::string>& warnings) {
  TaskResult r;
  const std::vector<core::ProbeHead> fold_heads =
      fit_task_with_folds(input, task, settings, layout.group(), fits, r, warnings);
  r.projected = core::project_head(r.head.weight, result.pca);
  r.cos = core::cosine_matrix(result.primary.projected, r.projected);
  share_matrix(layout.world(), r.cos);
  double score = r.quality.auroc_stat.mean;
  layout.world().broadcast(&score, 1);
  r.score = score;
  // WSC of each fold's probe: how stable the cell is across training sets.
  for (const core::ProbeHead& h : fold_heads) {
    r.fold_cos.push_back(core::cosine_matrix(result.primary.projected, core::project_head(h.weight, result.pca)));
  }
  fold_mean_sd(r.fold_cos, r.cos.rows(), r.cos.cols(), r.fold_cos_mean, r.fold_cos_sd);
  // The same at each k of [pca] sensitivity.
  const SensitivityResult& sens = result.sensitivity;
  for (std::size_t s = 0; s < sens.size(); ++s) {
    core::Matrix cos = core::cosine_matrix(sens.primary[s], core::project_head(r.head.weight, sens.bases[s]));
    share_matrix(layout.world(), cos);
    std::vector<core::Matrix> folds;
    for (const core::ProbeHead& h : fold_heads) {
      folds.push_back(core::cosine_matrix(sens.primary[s], core::project_head(h.weight, sens.bases[s])));
    }
    core::Matrix mean, sd;
    fold_mean_sd(folds, cos.rows(), cos.cols(), mean, sd);
    sensitivity.cos.push_back(std::move(cos));
    sensitivity.fold_mean.push_back(std::move(mean));
    sensitivity.fold_sd.push_back(std::move(sd));
  }
  return r;
}

}  // namespace

AnalysisResult observe(const AnalysisInput& input, const AnalysisSettings& settings, const Layout& layout,
                       const FitShared& fits, const ProgressFn& progress) {
  const par::Communicator& comm = layout.group();
  AnalysisResult result;
  result.warnings = exchangeability_warnings(input, settings.permutation);
  auto t0 = Clock::now();
  PhaseProgress pca_progress(progress, layout.world(), "pca", input.rows);
  pca_progress.update(0);
  // World rank 0's covariance for every group, so the PCA and the solvers'
  // invariants agree to the last bit whatever the layout.
  RowCovariance rows = row_covariance(input.x, input.rows, comm, pca_progress);
  share_matrix(layout.world(), rows.cov);
  share_vector(layout.world(), rows.mean);
  fits.invariants = core::row_invariants_from_covariance(rows.cov, rows.mean);
  result.pca = core::pca_from_invariants(fits.invariants, settings.pca);
  result.sensitivity = sensitivity_bases(fits.invariants, settings.sensitivity);
  // The preconditioner's covariance has divisor N (kron_preconditioner.hpp).
  if (input.rows > 1) fits.invariants.basis.values *= static_cast<double>(input.rows - 1) / static_cast<double>(input.rows);
  result.timings.emplace_back("pca", seconds_since(t0));

  t0 = Clock::now();
  const std::int64_t task_heads = 1 + settings.cv.folds;  // a task's head and its fold heads
  std::int64_t heads_done = 0;
  PhaseProgress fit_progress(progress, layout.world(), "fits",
                     task_heads * static_cast<std::int64_t>(input.metadata.size() + (input.primary_from_file ? 0 : 1)));
  fit_progress.update(0);
  if (input.primary_from_file) {
    result.primary = head_from_file(input, comm);
  } else {
    (void)fit_task_with_folds(input, *input.primary_labels, settings, comm, fits, result.primary, result.warnings);
    fit_progress.update(heads_done += task_heads);
  }
  result.primary.projected = core::project_head(result.primary.head.weight, result.pca);
  share_matrix(layout.world(), result.primary.projected);
  SensitivityResult& sens = result.sensitivity;
  for (const core::PcaBasis& basis : sens.bases) {
    sens.primary.push_back(core::project_head(result.primary.head.weight, basis));
    share_matrix(layout.world(), sens.primary.back());
  }
  sens.cos.resize(sens.size());
  sens.fold_mean.resize(sens.size());
  sens.fold_sd.resize(sens.size());
  for (const TaskLabels& task : input.metadata) {
    TaskSensitivity at_k;
    result.metadata.push_back(observe_metadata(input, task, settings, layout, fits, result, at_k, result.warnings));
    for (std::size_t s = 0; s < sens.size(); ++s) {
      sens.cos[s].push_back(std::move(at_k.cos[s]));
      sens.fold_mean[s].push_back(std::move(at_k.fold_mean[s]));
      sens.fold_sd[s].push_back(std::move(at_k.fold_sd[s]));
    }
    fit_progress.update(heads_done += task_heads);
  }
  result.cells = CellIndex::of_tasks(result.metadata);
  result.timings.emplace_back("fit_and_cv", seconds_since(t0));
  return result;
}

}  // namespace wsc::engine::detail

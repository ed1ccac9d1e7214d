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
/// double precision. Two passes (mean first) for accuracy; rows are taken in
/// chunks so the centred copy stays small.
core::PcaBasis fit_pca(const core::RowMatrix& x, std::int64_t rows, const core::PcaSettings& pca,
                       const par::Communicator& comm, PhaseProgress& progress) {
  const core::Index d = x.cols();
  core::Vector mean = x.colwise().sum().transpose();
  comm.sum(mean.data(), static_cast<std::size_t>(d));
  mean /= static_cast<double>(rows);

  core::Matrix cov = core::Matrix::Zero(d, d);
  const core::Index chunk = 2048;
  for (core::Index start = 0; start < x.rows(); start += chunk) {
    const core::Index n = std::min(chunk, x.rows() - start);
    core::Matrix centred = x.middleRows(start, n);
    centred.rowwise() -= mean.transpose();
    cov.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
    progress.update_share(start + n, x.rows());
  }
  cov = cov.selfadjointView<Eigen::Lower>();
  comm.sum(cov.data(), static_cast<std::size_t>(cov.size()));
  cov /= static_cast<double>(std::max<std::int64_t>(rows - 1, 1));
  return core::pca_from_covariance(cov, mean, pca);
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

void share_pca(const par::Communicator& world, core::PcaBasis& pca) {
  double scalars[3] = {static_cast<double>(pca.k), pca.explained, pca.projected ? 1.0 : 0.0};
  world.broadcast(scalars, 3);
  pca.k = static_cast<int>(scalars[0]);
  pca.explained = scalars[1];
  pca.projected = scalars[2] != 0.0;
  share_vector(world, pca.mean);
  share_vector(world, pca.eigenvalues);
  share_matrix(world, pca.components);
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
                                                 TaskResult& r, std::vector<std::string>& warnings) {
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
  std::vector<core::ProbeHead> heads = fit_group_probes(input.x, input.row_begin, labels, task.classes,
                                                        settings.probe, comm.sum_reduce(), &reports);
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

/// A metadata probe, its folds and their WSC against the primary head.
TaskResult observe_metadata(const AnalysisInput& input, const TaskLabels& task, const AnalysisSettings& settings,
                            const Layout& layout, const AnalysisResult& result, std::vector<std::string>& warnings) {
  TaskResult r;
  const std::vector<core::ProbeHead> fold_heads =
      fit_task_with_folds(input, task, settings, layout.group(), r, warnings);
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
  r.fold_cos_mean = core::Matrix::Zero(r.cos.rows(), r.cos.cols());
  r.fold_cos_sd = core::Matrix::Zero(r.cos.rows(), r.cos.cols());
  for (core::Index i = 0; i < r.cos.rows(); ++i) {
    for (core::Index j = 0; j < r.cos.cols(); ++j) {
      std::vector<double> v;
      for (const core::Matrix& c : r.fold_cos) v.push_back(c(i, j));
      const core::MeanSd ms = core::mean_sd(v);
      r.fold_cos_mean(i, j) = ms.mean;
      r.fold_cos_sd(i, j) = ms.sd;
    }
  }
  return r;
}

}  // namespace

AnalysisResult observe(const AnalysisInput& input, const AnalysisSettings& settings, const Layout& layout,
                       const ProgressFn& progress) {
  const par::Communicator& comm = layout.group();
  AnalysisResult result;
  auto t0 = Clock::now();
  PhaseProgress pca_progress(progress, layout.world(), "pca", input.rows);
  pca_progress.update(0);
  result.pca = fit_pca(input.x, input.rows, settings.pca, comm, pca_progress);
  share_pca(layout.world(), result.pca);
  result.timings.emplace_back("pca", seconds_since(t0));

  t0 = Clock::now();
  const std::int64_t task_heads = 1 + settings.cv.folds;  // a task's head and its fold heads
  std::int64_t heads_done = 0;
  PhaseProgress fits(progress, layout.world(), "fits",
                     task_heads * static_cast<std::int64_t>(input.metadata.size() + (input.primary_from_file ? 0 : 1)));
  fits.update(0);
  if (input.primary_from_file) {
    result.primary = head_from_file(input, comm);
  } else {
    (void)fit_task_with_folds(input, *input.primary_labels, settings, comm, result.primary, result.warnings);
    fits.update(heads_done += task_heads);
  }
  result.primary.projected = core::project_head(result.primary.head.weight, result.pca);
  share_matrix(layout.world(), result.primary.projected);
  for (const TaskLabels& task : input.metadata) {
    result.metadata.push_back(observe_metadata(input, task, settings, layout, result, result.warnings));
    fits.update(heads_done += task_heads);
  }
  result.cells = CellIndex::of_tasks(result.metadata);
  result.timings.emplace_back("fit_and_cv", seconds_since(t0));
  return result;
}

}  // namespace wsc::engine::detail

#include "wsc/engine/analysis.hpp"

#include "wsc/core/batched_newton.hpp"
#include "wsc/core/exchangeability.hpp"
#include "wsc/core/folds.hpp"
#include "wsc/core/permutation.hpp"
#include "wsc/core/pvalues.hpp"
#include "wsc/core/softmax_objective.hpp"
#include "wsc/core/wsc_matrix.hpp"
#include "wsc/engine/distributed_fit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace wsc::engine {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Mean and covariance (divisor N - 1) of all rows of the group, summed in
/// double precision. Two passes (mean first) for accuracy; rows are taken in
/// chunks so the centred copy stays small.
core::PcaBasis fit_pca(const core::RowMatrix& x, std::int64_t rows, const core::PcaSettings& pca,
                       const par::Communicator& comm) {
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
  }
  cov = cov.selfadjointView<Eigen::Lower>();
  comm.sum(cov.data(), static_cast<std::size_t>(cov.size()));
  cov /= static_cast<double>(std::max<std::int64_t>(rows - 1, 1));
  return core::pca_from_covariance(cov, mean, pca);
}

struct TaskMetrics {
  double accuracy = std::nan("");
  double f1 = std::nan("");
  double auroc = std::nan("");
};

/// Metrics of `head` on the rows selected by `select(global_row)`; the
/// probabilities of selected rows are summed into one buffer over the group
/// so every rank computes the same numbers.
template <typename Select>
TaskMetrics evaluate_rows(const core::RowMatrix& x, std::int64_t begin, const core::Labels& labels,
                          const core::ProbeHead& head, Select select,
                          const par::Communicator& comm) {
  const std::int64_t n = static_cast<std::int64_t>(labels.size());
  std::vector<std::int64_t> position(labels.size(), -1);
  std::vector<int> y_true;
  for (std::int64_t i = 0; i < n; ++i) {
    if (labels[static_cast<std::size_t>(i)] >= 0 && select(i)) {
      position[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(y_true.size());
      y_true.push_back(labels[static_cast<std::size_t>(i)]);
    }
  }
  const core::Index classes = head.classes();
  core::Matrix proba = core::Matrix::Zero(static_cast<core::Index>(y_true.size()), classes);
  const core::Matrix local = core::predict_proba(head, x);
  for (core::Index r = 0; r < x.rows(); ++r) {
    const std::int64_t pos = position[static_cast<std::size_t>(begin + r)];
    if (pos >= 0) proba.row(pos) = local.row(r);
  }
  comm.sum(proba.data(), static_cast<std::size_t>(proba.size()));
  TaskMetrics m;
  if (y_true.empty()) return m;
  const std::vector<int> y_pred = core::argmax_rows(proba);
  m.accuracy = core::accuracy(y_true, y_pred);
  m.f1 = core::f1_macro(y_true, y_pred);
  m.auroc = core::auroc_macro_ovr(y_true, proba);
  return m;
}

QualityResult cross_validate(const core::RowMatrix& x, std::int64_t begin, const TaskLabels& task,
                             const AnalysisInput& input, const AnalysisSettings& settings,
                             const par::Communicator& comm, std::vector<std::string>& warnings) {
  QualityResult q;
  q.method = "cv";
  q.folds = settings.folds;
  std::vector<int> fold;
  try {
    fold = input.cv_groups.empty()
               ? core::stratified_folds(task.labels, settings.folds, settings.cv_seed)
               : core::stratified_group_folds(task.labels, input.cv_groups, settings.folds,
                                              settings.cv_seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("cv.folds = " + std::to_string(settings.folds) +
                                " is impossible for task '" + task.name + "': " + e.what());
  }
  FitSettings fit{settings.l2, settings.solver};
  for (int f = 0; f < settings.folds; ++f) {
    core::Labels train = task.labels;
    for (std::size_t i = 0; i < train.size(); ++i) {
      if (fold[i] == f) train[i] = -1;
    }
    core::FitReport report;
    core::ProbeHead head =
        fit_group_probe(x, begin, train, task.classes, fit, comm.sum_reduce(), &report);
    if (!report.converged) {
      warnings.push_back("cv fold " + std::to_string(f) + " of task '" + task.name +
                         "' stopped without converging (max-norm gradient " +
                         std::to_string(report.grad_max_norm) + ")");
    }
    q.fold_fits.push_back(report);
    const TaskMetrics m = evaluate_rows(
        x, begin, task.labels, head, [&](std::int64_t i) { return fold[static_cast<std::size_t>(i)] == f; },
        comm);
    q.accuracy.push_back(m.accuracy);
    q.f1_macro.push_back(m.f1);
    q.auroc_macro.push_back(m.auroc);
  }
  q.fold_of_row = std::move(fold);
  q.accuracy_stat = core::mean_sd(q.accuracy);
  q.f1_stat = core::mean_sd(q.f1_macro);
  q.auroc_stat = core::mean_sd(q.auroc_macro);
  return q;
}

std::int64_t labelled(const core::Labels& labels) {
  return std::count_if(labels.begin(), labels.end(), [](int v) { return v >= 0; });
}

TaskResult fit_task(const core::RowMatrix& x, std::int64_t begin, const TaskLabels& task,
                    const AnalysisSettings& settings, const par::Communicator& comm,
                    std::vector<std::string>& warnings) {
  TaskResult r;
  r.name = task.name;
  r.kind = task.kind;
  r.classes = task.classes;
  r.class_names = task.class_names;
  r.labelled_rows = labelled(task.labels);
  r.fitted = true;
  FitSettings fit{settings.l2, settings.solver};
  r.head = fit_group_probe(x, begin, task.labels, task.classes, fit, comm.sum_reduce(), &r.fit);
  if (!r.fit.converged) {
    warnings.push_back("probe for task '" + task.name + "' stopped without converging after " +
                       std::to_string(r.fit.iterations) + " iterations (max-norm gradient " +
                       std::to_string(r.fit.grad_max_norm) + " > tol)");
  }
  return r;
}

}  // namespace

std::vector<std::int64_t> permutation_for(const AnalysisInput& input, std::uint64_t seed,
                                          std::uint64_t index) {
  if (input.permutation_scheme == "within") {
    return core::make_permutation_within(seed, index, input.permutation_strata);
  }
  if (input.permutation_scheme == "blocks") {
    return core::make_block_permutation(seed, index, input.permutation_blocks);
  }
  return core::make_permutation(seed, index, input.rows);
}

std::vector<double> flatten_cells(const std::vector<TaskResult>& metadata) {
  std::vector<double> cells;
  for (const auto& task : metadata) {
    for (core::Index i = 0; i < task.cos.rows(); ++i) {
      for (core::Index j = 0; j < task.cos.cols(); ++j) cells.push_back(task.cos(i, j));
    }
  }
  return cells;
}

AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const par::Communicator& comm, const ProgressFn& progress) {
  AnalysisResult result;
  const core::RowMatrix& x = input.x;
  const std::int64_t begin = input.row_begin;

  auto t0 = Clock::now();
  result.pca = fit_pca(x, input.rows, settings.pca, comm);
  result.timings.emplace_back("pca", seconds_since(t0));

  // Heads.
  t0 = Clock::now();
  if (input.primary_from_file) {
    TaskResult& p = result.primary;
    p.name = input.primary_task;
    p.kind = "model-head";
    p.classes = static_cast<int>(input.primary_head.classes());
    p.class_names = input.primary_class_names;
    p.head = input.primary_head;
    p.fitted = false;
    if (input.primary_labels) p.labelled_rows = labelled(input.primary_labels->labels);
  } else {
    result.primary = fit_task(x, begin, *input.primary_labels, settings, comm, result.warnings);
  }
  result.primary.projected = core::project_head(result.primary.head.weight, result.pca);
  for (const TaskLabels& task : input.metadata) {
    TaskResult r = fit_task(x, begin, task, settings, comm, result.warnings);
    r.projected = core::project_head(r.head.weight, result.pca);
    r.cos = core::cosine_matrix(result.primary.projected, r.projected);
    result.metadata.push_back(std::move(r));
  }
  result.timings.emplace_back("fit", seconds_since(t0));

  // Probe quality.
  t0 = Clock::now();
  if (input.primary_labels) {
    if (input.primary_from_file) {
      QualityResult q;
      q.method = "model-head";
      const TaskMetrics m = evaluate_rows(x, begin, input.primary_labels->labels,
                                          result.primary.head, [](std::int64_t) { return true; }, comm);
      q.accuracy = {m.accuracy};
      q.f1_macro = {m.f1};
      q.auroc_macro = {m.auroc};
      q.accuracy_stat = {m.accuracy, 0.0};
      q.f1_stat = {m.f1, 0.0};
      q.auroc_stat = {m.auroc, 0.0};
      result.primary.quality = q;
    } else {
      result.primary.quality =
          cross_validate(x, begin, *input.primary_labels, input, settings, comm, result.warnings);
    }
  } else {
    result.primary.quality.method = "none";
  }
  for (std::size_t t = 0; t < input.metadata.size(); ++t) {
    result.metadata[t].quality =
        cross_validate(x, begin, input.metadata[t], input, settings, comm, result.warnings);
  }
  result.timings.emplace_back("cv", seconds_since(t0));

  // Permutation null: permutation b (from (seed, b) alone) moves the rows of
  // the whole metadata table, so one index is shared by all tasks.
  t0 = Clock::now();
  const std::vector<double> observed = flatten_cells(result.metadata);
  std::vector<double> observed_abs(observed.size());
  for (std::size_t c = 0; c < observed.size(); ++c) observed_abs[c] = std::fabs(observed[c]);
  core::NullAccumulator null(observed_abs);
  const std::int64_t m = settings.permutations;
  const std::int64_t cells = static_cast<std::int64_t>(observed.size());
  const bool keep_cells = m * cells <= settings.keep_null_limit;
  if (keep_cells) result.null_cells = core::Matrix::Zero(m, cells);
  result.null_max.reserve(static_cast<std::size_t>(m));
  // Permuted heads are fitted in batches: each batch is one set of GEMMs over
  // this rank's rows (core::fit_probes_batched). The batch size depends only
  // on global quantities, so every rank makes the same collective calls.
  int max_classes = 2;
  for (const TaskLabels& task : input.metadata) max_classes = std::max(max_classes, task.classes);
  const std::int64_t largest_block = (input.rows + comm.size() - 1) / comm.size();
  const std::int64_t batch = std::max<std::int64_t>(
      1, std::min<std::int64_t>({settings.permutation_batch,
                                 core::suggested_batch_heads(largest_block, max_classes),
                                 std::max<std::int64_t>(m, 1)}));
  const core::SumReduce reduce = comm.sum_reduce();
  for (std::int64_t b0 = 0; b0 < m; b0 += batch) {
    const std::int64_t nb = std::min(batch, m - b0);
    std::vector<std::vector<std::int64_t>> perms;
    perms.reserve(static_cast<std::size_t>(nb));
    for (std::int64_t k = 0; k < nb; ++k) {
      perms.push_back(permutation_for(input, settings.permutation_seed,
                                      static_cast<std::uint64_t>(b0 + k)));
    }
    std::vector<std::vector<double>> permuted_abs(static_cast<std::size_t>(nb));
    for (std::size_t t = 0; t < input.metadata.size(); ++t) {
      std::vector<core::Labels> labels;
      labels.reserve(static_cast<std::size_t>(nb));
      for (const auto& perm : perms) {
        labels.push_back(local_labels(core::permute(input.metadata[t].labels, perm), begin, x.rows()));
      }
      std::vector<core::FitReport> reports;
      const std::vector<core::ProbeHead> heads = core::fit_probes_batched(
          x, labels, input.metadata[t].classes, settings.l2, settings.solver, reduce, &reports);
      for (std::int64_t k = 0; k < nb; ++k) {
        const core::FitReport& report = reports[static_cast<std::size_t>(k)];
        ++result.permutation_fits;
        if (!report.converged) ++result.permutation_unconverged;
        result.permutation_max_iterations = std::max(result.permutation_max_iterations, report.iterations);
        result.permutation_max_grad = std::max(result.permutation_max_grad, report.grad_max_norm);
        const core::Matrix cos = core::cosine_matrix(
            result.primary.projected,
            core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca));
        std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
        for (core::Index i = 0; i < cos.rows(); ++i) {
          for (core::Index j = 0; j < cos.cols(); ++j) cells_k.push_back(std::fabs(cos(i, j)));
        }
      }
    }
    for (std::int64_t k = 0; k < nb; ++k) {
      const std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
      null.add(cells_k);
      double mx = 0.0;
      for (double v : cells_k) {
        if (!std::isnan(v)) mx = std::max(mx, v);
      }
      result.null_max.push_back(mx);
      if (keep_cells) {
        for (std::int64_t c = 0; c < cells; ++c) {
          result.null_cells(b0 + k, c) = cells_k[static_cast<std::size_t>(c)];
        }
      }
    }
    if (progress && comm.is_root()) progress(b0 + nb, m);
  }
  if (result.permutation_unconverged > 0) {
    result.warnings.push_back(std::to_string(result.permutation_unconverged) + " of " +
                              std::to_string(result.permutation_fits) +
                              " permuted-label fits stopped without converging");
  }
  result.permutations = m;
  result.p_perm = null.p_perm();
  result.p_fwer = null.p_fwer();
  result.q_fdr = core::bh_qvalues(result.p_perm);
  result.timings.emplace_back("permutations", seconds_since(t0));
  return result;
}

}  // namespace wsc::engine

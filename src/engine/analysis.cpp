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

/// The fold of every labelled row of a task (-1 elsewhere): stratified, or
/// stratified and grouped when CV groups are given.
std::vector<int> fold_assignment(const TaskLabels& task, const AnalysisInput& input,
                                 const AnalysisSettings& settings) {
  try {
    return input.cv_groups.empty()
               ? core::stratified_folds(task.labels, settings.folds, settings.cv_seed)
               : core::stratified_group_folds(task.labels, input.cv_groups, settings.folds,
                                              settings.cv_seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("cv.folds = " + std::to_string(settings.folds) +
                                " is impossible for task '" + task.name + "': " + e.what());
  }
}

/// `labels` with the rows of fold f set to -1 (the training rows of fold f).
core::Labels training_labels(const core::Labels& labels, const std::vector<int>& fold, int f) {
  core::Labels train = labels;
  for (std::size_t i = 0; i < train.size(); ++i) {
    if (fold[i] == f) train[i] = -1;
  }
  return train;
}

std::int64_t labelled(const core::Labels& labels) {
  return std::count_if(labels.begin(), labels.end(), [](int v) { return v >= 0; });
}

/// The observed head of a task and its F fold heads, fitted as one batch;
/// fold metrics on the held-out rows.
void fit_task_with_folds(const core::RowMatrix& x, std::int64_t begin, const TaskLabels& task,
                         const AnalysisInput& input, const AnalysisSettings& settings,
                         const par::Communicator& comm, TaskResult& r,
                         std::vector<core::ProbeHead>& fold_heads, std::vector<std::string>& warnings) {
  r.name = task.name;
  r.kind = task.kind;
  r.classes = task.classes;
  r.class_names = task.class_names;
  r.labelled_rows = labelled(task.labels);
  r.fitted = true;

  QualityResult& q = r.quality;
  q.method = "cv";
  q.folds = settings.folds;
  q.fold_of_row = fold_assignment(task, input, settings);

  std::vector<core::Labels> labels{task.labels};
  for (int f = 0; f < settings.folds; ++f) labels.push_back(training_labels(task.labels, q.fold_of_row, f));
  std::vector<core::FitReport> reports;
  std::vector<core::ProbeHead> heads = fit_group_probes(
      x, begin, labels, task.classes, FitSettings{settings.l2, settings.solver}, comm.sum_reduce(), &reports);

  r.head = std::move(heads[0]);
  r.fit = reports[0];
  if (!r.fit.converged) {
    warnings.push_back("probe for task '" + task.name + "' stopped without converging after " +
                       std::to_string(r.fit.iterations) + " iterations (max-norm gradient " +
                       std::to_string(r.fit.grad_max_norm) + " > tol)");
  }
  fold_heads.assign(std::make_move_iterator(heads.begin() + 1), std::make_move_iterator(heads.end()));
  for (int f = 0; f < settings.folds; ++f) {
    const core::FitReport& report = reports[static_cast<std::size_t>(f) + 1];
    if (!report.converged) {
      warnings.push_back("cv fold " + std::to_string(f) + " of task '" + task.name +
                         "' stopped without converging (max-norm gradient " +
                         std::to_string(report.grad_max_norm) + ")");
    }
    q.fold_fits.push_back(report);
    const TaskMetrics m = evaluate_rows(
        x, begin, task.labels, fold_heads[static_cast<std::size_t>(f)],
        [&](std::int64_t i) { return q.fold_of_row[static_cast<std::size_t>(i)] == f; }, comm);
    q.accuracy.push_back(m.accuracy);
    q.f1_macro.push_back(m.f1);
    q.auroc_macro.push_back(m.auroc);
  }
  q.accuracy_stat = core::mean_sd(q.accuracy);
  q.f1_stat = core::mean_sd(q.f1_macro);
  q.auroc_stat = core::mean_sd(q.auroc_macro);
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

/// Work item j of `items` belongs to group j % groups.
bool owns(const Layout& layout, std::int64_t item) {
  return item % layout.groups() == layout.group_index();
}

/// Sums a large buffer over groups in pieces (bounded message size).
void combine_in_pieces(const Layout& layout, double* data, std::size_t count) {
  const std::size_t piece = std::size_t{1} << 20;
  for (std::size_t at = 0; at < count; at += piece) {
    layout.combine(data + at, std::min(piece, count - at));
  }
}

/// Reports progress of a phase as items done by this group times the
/// number of groups (the groups share the work evenly), on world rank 0.
class PhaseProgress {
 public:
  PhaseProgress(const ProgressFn& fn, const Layout& layout, std::string phase, std::int64_t total)
      : fn_(layout.world().is_root() ? fn : ProgressFn{}), groups_(layout.groups()),
        phase_(std::move(phase)), total_(total) {}
  void add(std::int64_t items) {
    done_ += items;
    if (fn_) fn_(phase_, std::min(total_, done_ * groups_), total_);
  }
  /// The final count, when the estimate has not reached it.
  void finish() {
    if (fn_ && done_ * groups_ < total_) fn_(phase_, total_, total_);
  }

 private:
  ProgressFn fn_;
  std::int64_t groups_;
  std::string phase_;
  std::int64_t total_;
  std::int64_t done_ = 0;
};

std::vector<double> abs_cells(const core::Matrix& cos) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(cos.size()));
  for (core::Index i = 0; i < cos.rows(); ++i) {
    for (core::Index j = 0; j < cos.cols(); ++j) out.push_back(std::fabs(cos(i, j)));
  }
  return out;
}

/// Bootstrap multiplicities of resample b, keyed by (seed, b) alone: N rows
/// drawn with replacement, or, with CV groups (patients), as many groups
/// drawn with replacement, each bringing all its rows.
core::Vector bootstrap_weights(std::uint64_t seed, std::uint64_t b, std::int64_t rows,
                               const std::vector<std::int64_t>& groups) {
  // A stream of its own, apart from the permutations' (seed, b) streams.
  const std::uint64_t key = seed ^ 0x9e3779b97f4a7c15ULL;
  core::Vector w = core::Vector::Zero(static_cast<core::Index>(rows));
  if (groups.empty()) {
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto pick = core::keyed_uniform(key, b, static_cast<std::uint64_t>(i),
                                            static_cast<std::uint64_t>(rows));
      w(static_cast<core::Index>(pick)) += 1.0;
    }
    return w;
  }
  std::vector<std::int64_t> ids(groups);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<double> draws(ids.size(), 0.0);
  for (std::size_t g = 0; g < ids.size(); ++g) {
    draws[core::keyed_uniform(key, b, g, ids.size())] += 1.0;
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto at = std::lower_bound(ids.begin(), ids.end(), groups[static_cast<std::size_t>(i)]);
    w(static_cast<core::Index>(i)) = draws[static_cast<std::size_t>(at - ids.begin())];
  }
  return w;
}

/// Percentile (linear interpolation between order statistics, numpy's default).
double percentile(std::vector<double> values, double q) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
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
  const Layout layout(comm);
  return run_analysis(input, settings, layout, progress);
}

AnalysisResult run_analysis(const AnalysisInput& input, const AnalysisSettings& settings,
                            const Layout& layout, const ProgressFn& progress) {
  const par::Communicator& comm = layout.group();
  const par::Communicator& world = layout.world();
  AnalysisResult result;
  result.groups = layout.groups();
  result.group_size = layout.plan().group_size;
  result.layout_reason = layout.plan().reason;
  const core::RowMatrix& x = input.x;
  const std::int64_t begin = input.row_begin;
  const FitSettings fit{settings.l2, settings.solver};
  const core::SumReduce reduce = comm.sum_reduce();

  auto t0 = Clock::now();
  result.pca = fit_pca(x, input.rows, settings.pca, comm);
  share_pca(world, result.pca);
  result.timings.emplace_back("pca", seconds_since(t0));

  // Observed heads with their CV folds: each task's head and its F fold
  // heads are one batched fit. Every group computes them (a small part of
  // the work); world rank 0's values are shared so all groups agree.
  t0 = Clock::now();
  std::vector<std::vector<core::ProbeHead>> fold_heads(input.metadata.size());
  if (input.primary_from_file) {
    TaskResult& p = result.primary;
    p.name = input.primary_task;
    p.kind = "model-head";
    p.classes = static_cast<int>(input.primary_head.classes());
    p.class_names = input.primary_class_names;
    p.head = input.primary_head;
    p.fitted = false;
    if (input.primary_labels) {
      p.labelled_rows = labelled(input.primary_labels->labels);
      QualityResult q;
      q.method = "model-head";
      const TaskMetrics m = evaluate_rows(x, begin, input.primary_labels->labels, p.head,
                                          [](std::int64_t) { return true; }, comm);
      q.accuracy = {m.accuracy};
      q.f1_macro = {m.f1};
      q.auroc_macro = {m.auroc};
      q.accuracy_stat = {m.accuracy, 0.0};
      q.f1_stat = {m.f1, 0.0};
      q.auroc_stat = {m.auroc, 0.0};
      p.quality = q;
    } else {
      p.quality.method = "none";
    }
  } else {
    std::vector<core::ProbeHead> unused;
    fit_task_with_folds(x, begin, *input.primary_labels, input, settings, comm, result.primary,
                        unused, result.warnings);
  }
  result.primary.projected = core::project_head(result.primary.head.weight, result.pca);
  share_matrix(world, result.primary.projected);
  for (std::size_t t = 0; t < input.metadata.size(); ++t) {
    TaskResult r;
    fit_task_with_folds(x, begin, input.metadata[t], input, settings, comm, r, fold_heads[t],
                        result.warnings);
    r.projected = core::project_head(r.head.weight, result.pca);
    r.cos = core::cosine_matrix(result.primary.projected, r.projected);
    share_matrix(world, r.cos);
    double score = r.quality.auroc_stat.mean;
    world.broadcast(&score, 1);
    r.score = score;
    // WSC of each fold's probe: how stable the cell is across training sets.
    const core::Index ca = r.cos.rows();
    const core::Index cm = r.cos.cols();
    r.fold_cos_mean = core::Matrix::Zero(ca, cm);
    r.fold_cos_sd = core::Matrix::Zero(ca, cm);
    for (const core::ProbeHead& h : fold_heads[t]) {
      r.fold_cos.push_back(core::cosine_matrix(result.primary.projected, core::project_head(h.weight, result.pca)));
    }
    for (core::Index i = 0; i < ca; ++i) {
      for (core::Index j = 0; j < cm; ++j) {
        std::vector<double> v;
        for (const core::Matrix& c : r.fold_cos) v.push_back(c(i, j));
        const core::MeanSd ms = core::mean_sd(v);
        r.fold_cos_mean(i, j) = ms.mean;
        r.fold_cos_sd(i, j) = ms.sd;
      }
    }
    result.metadata.push_back(std::move(r));
  }
  result.timings.emplace_back("fit_and_cv", seconds_since(t0));

  int max_classes = 2;
  for (const TaskLabels& task : input.metadata) max_classes = std::max(max_classes, task.classes);
  // The batch size must be the same on every rank of a group: from global sizes.
  const std::int64_t largest_block = (input.rows + comm.size() - 1) / comm.size();
  const std::int64_t group_batch = std::max<std::int64_t>(
      1, std::min<std::int64_t>(settings.permutation_batch,
                                core::suggested_batch_heads(largest_block, max_classes)));

  // Encodability: permutation e of the rows (the same (seed, e) as the WSC
  // null) permutes each task's labels; the probe is refitted on every fold's
  // training rows and scored on its held-out rows (folds fixed).
  t0 = Clock::now();
  const std::int64_t e_count = settings.folds >= 2 ? settings.encodability_permutations : 0;
  result.encodability_permutations = e_count;
  for (TaskResult& r : result.metadata) r.score_null.assign(static_cast<std::size_t>(e_count), 0.0);
  if (e_count > 0 && !input.metadata.empty()) {
    // Chunk: about a batch of fold heads, and held-out probabilities of at
    // most ~4M doubles per chunk.
    const std::int64_t by_batch = std::max<std::int64_t>(1, group_batch / settings.folds);
    const std::int64_t by_memory = std::max<std::int64_t>(
        1, 4'000'000 / std::max<std::int64_t>(1, input.rows * max_classes));
    const std::int64_t chunk = std::min(by_batch, by_memory);
    PhaseProgress tracker(progress, layout, "encodability", e_count);
    std::int64_t fits = 0;
    for (std::int64_t e0 = 0, item = 0; e0 < e_count; e0 += chunk, ++item) {
      const std::int64_t ne = std::min(chunk, e_count - e0);
      if (!owns(layout, item)) continue;
      std::vector<std::vector<std::int64_t>> perms;
      for (std::int64_t k = 0; k < ne; ++k) {
        perms.push_back(permutation_for(input, settings.permutation_seed, static_cast<std::uint64_t>(e0 + k)));
      }
      for (std::size_t t = 0; t < input.metadata.size(); ++t) {
        const TaskLabels& task = input.metadata[t];
        const std::vector<int>& fold = result.metadata[t].quality.fold_of_row;
        std::vector<core::Labels> permuted, train;
        for (const auto& perm : perms) {
          permuted.push_back(core::permute(task.labels, perm));
          for (int f = 0; f < settings.folds; ++f) train.push_back(training_labels(permuted.back(), fold, f));
        }
        std::vector<core::FitReport> reports;
        const std::vector<core::ProbeHead> heads =
            fit_group_probes(x, begin, train, task.classes, fit, reduce, &reports);
        fits += static_cast<std::int64_t>(heads.size());
        for (std::int64_t k = 0; k < ne; ++k) {
          std::vector<double> auroc;
          for (int f = 0; f < settings.folds; ++f) {
            const TaskMetrics m = evaluate_rows(
                x, begin, permuted[static_cast<std::size_t>(k)],
                heads[static_cast<std::size_t>(k * settings.folds + f)],
                [&](std::int64_t i) { return fold[static_cast<std::size_t>(i)] == f; }, comm);
            auroc.push_back(m.auroc);
          }
          result.metadata[t].score_null[static_cast<std::size_t>(e0 + k)] = core::mean_sd(auroc).mean;
        }
      }
      tracker.add(ne);
    }
    tracker.finish();
    for (TaskResult& r : result.metadata) {
      combine_in_pieces(layout, r.score_null.data(), r.score_null.size());
      std::int64_t exceed = 0;
      for (double v : r.score_null) {
        if (v >= r.score) ++exceed;  // NaN never counts; a tie does
      }
      r.p_encoded = std::isnan(r.score) ? std::nan("")
                                        : static_cast<double>(1 + exceed) / static_cast<double>(e_count + 1);
    }
    layout.combine(&fits, 1);
    result.encodability_fits = fits;
  }
  result.timings.emplace_back("encodability", seconds_since(t0));

  // Permutation null: permutation b (from (seed, b) alone) moves the rows of
  // the whole metadata table, so one index is shared by all tasks. Batches
  // of permutations are the groups' work items.
  t0 = Clock::now();
  const std::vector<double> observed = flatten_cells(result.metadata);
  std::vector<double> observed_abs(observed.size());
  for (std::size_t c = 0; c < observed.size(); ++c) observed_abs[c] = std::fabs(observed[c]);
  core::NullAccumulator null(observed_abs);
  const std::int64_t m = settings.permutations;
  const std::int64_t cells = static_cast<std::int64_t>(observed.size());
  const bool keep_cells = m * cells <= settings.keep_null_limit;
  if (keep_cells) result.null_cells = core::Matrix::Zero(m, cells);
  result.null_max.assign(static_cast<std::size_t>(m), 0.0);
  {
    PhaseProgress tracker(progress, layout, "permutations", m);
    for (std::int64_t b0 = 0, item = 0; b0 < m; b0 += group_batch, ++item) {
      const std::int64_t nb = std::min(group_batch, m - b0);
      if (!owns(layout, item)) continue;
      std::vector<std::vector<std::int64_t>> perms;
      perms.reserve(static_cast<std::size_t>(nb));
      for (std::int64_t k = 0; k < nb; ++k) {
        perms.push_back(permutation_for(input, settings.permutation_seed, static_cast<std::uint64_t>(b0 + k)));
      }
      std::vector<std::vector<double>> permuted_abs(static_cast<std::size_t>(nb));
      for (std::size_t t = 0; t < input.metadata.size(); ++t) {
        std::vector<core::Labels> labels;
        labels.reserve(static_cast<std::size_t>(nb));
        for (const auto& perm : perms) labels.push_back(core::permute(input.metadata[t].labels, perm));
        std::vector<core::FitReport> reports;
        const std::vector<core::ProbeHead> heads =
            fit_group_probes(x, begin, labels, input.metadata[t].classes, fit, reduce, &reports);
        for (std::int64_t k = 0; k < nb; ++k) {
          const core::FitReport& report = reports[static_cast<std::size_t>(k)];
          ++result.permutation_fits;
          if (!report.converged) ++result.permutation_unconverged;
          result.permutation_max_iterations = std::max(result.permutation_max_iterations, report.iterations);
          result.permutation_max_grad = std::max(result.permutation_max_grad, report.grad_max_norm);
          const std::vector<double> a = abs_cells(core::cosine_matrix(
              result.primary.projected,
              core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca)));
          std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
          cells_k.insert(cells_k.end(), a.begin(), a.end());
        }
      }
      for (std::int64_t k = 0; k < nb; ++k) {
        const std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
        null.add(cells_k);
        double mx = 0.0;
        for (double v : cells_k) {
          if (!std::isnan(v)) mx = std::max(mx, v);
        }
        result.null_max[static_cast<std::size_t>(b0 + k)] = mx;
        if (keep_cells) {
          for (std::int64_t c = 0; c < cells; ++c) {
            result.null_cells(b0 + k, c) = cells_k[static_cast<std::size_t>(c)];
          }
        }
      }
      tracker.add(nb);
    }
    tracker.finish();
  }
  // Combine the groups: counts and fit statistics add up, each permutation's
  // values come from the one group that drew it.
  std::vector<std::int64_t> counts(null.exceed_cell());
  counts.insert(counts.end(), null.exceed_max().begin(), null.exceed_max().end());
  counts.push_back(null.permutations());
  counts.push_back(result.permutation_fits);
  counts.push_back(result.permutation_unconverged);
  layout.combine(counts.data(), counts.size());
  const std::size_t nc = observed.size();
  null = core::NullAccumulator::from_counts(
      observed_abs, std::vector<std::int64_t>(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(nc)),
      std::vector<std::int64_t>(counts.begin() + static_cast<std::ptrdiff_t>(nc),
                                counts.begin() + static_cast<std::ptrdiff_t>(2 * nc)),
      counts[2 * nc]);
  result.permutation_fits = counts[2 * nc + 1];
  result.permutation_unconverged = counts[2 * nc + 2];
  if (layout.groups() > 1) {
    result.permutation_max_iterations = static_cast<int>(
        world.max(static_cast<std::int64_t>(result.permutation_max_iterations)));
    result.permutation_max_grad = world.max(result.permutation_max_grad);
  }
  combine_in_pieces(layout, result.null_max.data(), result.null_max.size());
  if (keep_cells) {
    combine_in_pieces(layout, result.null_cells.data(), static_cast<std::size_t>(result.null_cells.size()));
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

  // Bootstrap: resample b (keyed by (bootstrap seed, b)) reweights the rows;
  // every metadata probe (and a fitted primary probe) is refitted with those
  // weights and the cells recomputed; percentile interval per cell.
  t0 = Clock::now();
  const std::int64_t nboot = settings.bootstrap;
  result.bootstrap = nboot;
  if (nboot > 0 && cells > 0) {
    result.boot_cells = core::Matrix::Zero(nboot, cells);
    const std::int64_t chunk = std::max<std::int64_t>(1, group_batch);
    PhaseProgress tracker(progress, layout, "bootstrap", nboot);
    for (std::int64_t b0 = 0, item = 0; b0 < nboot; b0 += chunk, ++item) {
      const std::int64_t nb = std::min(chunk, nboot - b0);
      if (!owns(layout, item)) continue;
      std::vector<core::Vector> weights;
      for (std::int64_t k = 0; k < nb; ++k) {
        weights.push_back(bootstrap_weights(settings.bootstrap_seed, static_cast<std::uint64_t>(b0 + k),
                                            input.rows, input.cv_groups));
      }
      std::vector<core::Matrix> primary(static_cast<std::size_t>(nb), result.primary.projected);
      if (!input.primary_from_file) {
        const std::vector<core::Labels> labels(static_cast<std::size_t>(nb), input.primary_labels->labels);
        const std::vector<core::ProbeHead> heads = fit_group_probes(
            x, begin, labels, input.primary_labels->classes, fit, reduce, nullptr, &weights);
        for (std::int64_t k = 0; k < nb; ++k) {
          primary[static_cast<std::size_t>(k)] = core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca);
        }
      }
      std::int64_t column = 0;
      for (std::size_t t = 0; t < input.metadata.size(); ++t) {
        const std::vector<core::Labels> labels(static_cast<std::size_t>(nb), input.metadata[t].labels);
        const std::vector<core::ProbeHead> heads = fit_group_probes(
            x, begin, labels, input.metadata[t].classes, fit, reduce, nullptr, &weights);
        core::Index width = 0;
        for (std::int64_t k = 0; k < nb; ++k) {
          const core::Matrix cos = core::cosine_matrix(
              primary[static_cast<std::size_t>(k)],
              core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca));
          width = cos.size();
          core::Index c = 0;
          for (core::Index i = 0; i < cos.rows(); ++i) {
            for (core::Index j = 0; j < cos.cols(); ++j) result.boot_cells(b0 + k, column + c++) = cos(i, j);
          }
        }
        column += width;
      }
      tracker.add(nb);
    }
    tracker.finish();
    combine_in_pieces(layout, result.boot_cells.data(), static_cast<std::size_t>(result.boot_cells.size()));
    const double tail = 0.5 * (1.0 - settings.bootstrap_level);
    std::int64_t column = 0;
    for (TaskResult& r : result.metadata) {
      r.boot_lo.resize(r.cos.rows(), r.cos.cols());
      r.boot_hi.resize(r.cos.rows(), r.cos.cols());
      for (core::Index i = 0; i < r.cos.rows(); ++i) {
        for (core::Index j = 0; j < r.cos.cols(); ++j, ++column) {
          std::vector<double> v(static_cast<std::size_t>(nboot));
          for (std::int64_t b = 0; b < nboot; ++b) v[static_cast<std::size_t>(b)] = result.boot_cells(b, column);
          r.boot_lo(i, j) = percentile(v, tail);
          r.boot_hi(i, j) = percentile(std::move(v), 1.0 - tail);
        }
      }
    }
  }
  result.timings.emplace_back("bootstrap", seconds_since(t0));

  // Verdict per metadata task: is it in the embedding (p_encoded), and does
  // the primary head use it (a cell significant family-wise)?
  std::size_t cell = 0;
  for (TaskResult& r : result.metadata) {
    double min_fwer = std::numeric_limits<double>::infinity();
    for (core::Index c = 0; c < r.cos.size(); ++c, ++cell) {
      if (m > 0 && !std::isnan(result.p_fwer[cell])) min_fwer = std::min(min_fwer, result.p_fwer[cell]);
    }
    if (std::isnan(r.p_encoded)) {
      r.verdict = "untested";
    } else if (r.p_encoded > settings.alpha) {
      r.verdict = "not_encoded";
    } else if (m == 0) {
      r.verdict = "encoded";  // use not tested
    } else {
      r.verdict = min_fwer <= settings.alpha ? "encoded_used" : "encoded_not_used";
    }
  }
  return result;
}

}  // namespace wsc::engine

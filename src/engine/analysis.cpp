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

/// Sums a large buffer over groups in pieces (bounded message size).
void combine_in_pieces(const Layout& layout, double* data, std::size_t count) {
  const std::size_t piece = std::size_t{1} << 20;
  for (std::size_t at = 0; at < count; at += piece) {
    layout.combine(data + at, std::min(piece, count - at));
  }
}

/// Reports the progress of a phase (indices done of its range) on world rank 0.
class PhaseProgress {
 public:
  PhaseProgress(const ProgressFn& fn, const par::Communicator& world, std::string phase, std::int64_t total)
      : fn_(world.is_root() ? fn : ProgressFn{}), phase_(std::move(phase)), total_(total) {}
  void update(std::int64_t done) {
    if (fn_) fn_(phase_, done, total_);
  }

 private:
  ProgressFn fn_;
  std::string phase_;
  std::int64_t total_;
};

/// The global view of the randomised phases' state, saved when due or when a
/// stop is requested. Collective: every rank calls round() at the same points.
class Checkpointer {
 public:
  Checkpointer(const Layout& layout, const RunControl& control, const RunState& local)
      : layout_(layout), control_(control), local_(local), last_(Clock::now()) {}

  /// The state summed over groups (on every rank).
  RunState capture() const {
    RunState g = local_;
    g.fingerprint = control_.fingerprint;
    g.description = control_.description;
    combine_in_pieces(layout_, g.null_max.data(), g.null_max.size());
    combine_in_pieces(layout_, g.null_cells.data(), g.null_cells.size());
    combine_in_pieces(layout_, g.boot_cells.data(), g.boot_cells.size());
    for (auto& scores : g.score_null) combine_in_pieces(layout_, scores.data(), scores.size());
    std::vector<std::int64_t> counts(g.exceed_cell);
    counts.insert(counts.end(), g.exceed_max.begin(), g.exceed_max.end());
    counts.push_back(g.permutation_fits);
    counts.push_back(g.permutation_unconverged);
    counts.push_back(g.encodability_fits);
    layout_.combine(counts.data(), counts.size());
    const std::size_t nc = g.exceed_cell.size();
    std::copy(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(nc), g.exceed_cell.begin());
    std::copy(counts.begin() + static_cast<std::ptrdiff_t>(nc), counts.begin() + static_cast<std::ptrdiff_t>(2 * nc),
              g.exceed_max.begin());
    g.permutation_fits = counts[2 * nc];
    g.permutation_unconverged = counts[2 * nc + 1];
    g.encodability_fits = counts[2 * nc + 2];
    if (layout_.groups() > 1) {
      g.permutation_max_iterations = layout_.world().max(g.permutation_max_iterations);
      g.permutation_max_grad = layout_.world().max(g.permutation_max_grad);
    }
    return g;
  }

  /// End of a round of work items: saves the state when the interval has
  /// passed (by world rank 0's clock) or any rank was asked to stop; after a
  /// stop, throws Interrupted on every rank.
  void round() {
    const bool stop = control_.stop_requested && control_.stop_requested();
    const bool due = layout_.world().is_root() && control_.save &&
                     control_.checkpoint_seconds > 0 && seconds_since(last_) >= control_.checkpoint_seconds;
    const std::int64_t what = layout_.world().max(static_cast<std::int64_t>(stop ? 2 : due ? 1 : 0));
    if (what == 0) return;
    save();
    if (what == 2) throw Interrupted("stopped on request; the state was saved");
  }

  void save() {
    if (!control_.save) return;
    const RunState g = capture();
    bool ok = true;
    std::string message;
    if (layout_.world().is_root()) {
      try {
        control_.save(g);
      } catch (const std::exception& e) {
        ok = false;
        message = e.what();
      }
    }
    layout_.world().agree(ok, message);
    last_ = Clock::now();
  }

 private:
  const Layout& layout_;
  const RunControl& control_;
  const RunState& local_;
  Clock::time_point last_;
};

/// Runs the indices [range.begin + done, range.end) in work items of
/// `item` indices, item j of a round going to group j: rounds of one item
/// per group, after each of which `done` (the prefix finished) advances and
/// the checkpointer may save or stop.
template <typename Work>
void run_rounds(const Layout& layout, const IndexRange& range, std::int64_t& done, std::int64_t item,
                PhaseProgress& progress, Checkpointer& checkpointer, Work work) {
  const std::int64_t groups = layout.groups();
  std::int64_t start = range.begin + done;
  while (start < range.end) {
    const std::int64_t lo = start + layout.group_index() * item;
    if (lo < range.end) work(lo, std::min(lo + item, range.end));
    start = std::min(range.end, start + groups * item);
    done = start - range.begin;
    progress.update(done);
    checkpointer.round();
  }
}

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

}  // namespace

ItemSizes item_sizes(const AnalysisInput& input, const AnalysisSettings& settings, int group_size) {
  int max_classes = 2;
  for (const TaskLabels& task : input.metadata) max_classes = std::max(max_classes, task.classes);
  if (input.primary_labels) max_classes = std::max(max_classes, input.primary_labels->classes);
  // From global sizes only, so every rank of a group agrees.
  const std::int64_t largest_block = (input.rows + group_size - 1) / std::max(group_size, 1);
  const std::int64_t batch = std::max<std::int64_t>(
      1, std::min<std::int64_t>(settings.permutation_batch,
                                core::suggested_batch_heads(largest_block, max_classes)));
  ItemSizes s;
  s.permutations = batch;
  s.bootstrap = batch;
  // About a batch of fold heads, with held-out probabilities of at most ~4M
  // doubles per item.
  const std::int64_t by_batch = std::max<std::int64_t>(1, batch / std::max(settings.folds, 1));
  const std::int64_t by_memory =
      std::max<std::int64_t>(1, 4'000'000 / std::max<std::int64_t>(1, input.rows * max_classes));
  s.encodability = std::min(by_batch, by_memory);
  return s;
}

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
                            const Layout& layout, const ProgressFn& progress, const RunControl& control) {
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

  const ItemSizes items = item_sizes(input, settings, comm.size());

  // The randomised phases. Their state lives in `local`: this group's
  // contributions (a resumed state enters on world rank 0 only), summed over
  // groups whenever a global view is needed (Capture).
  const std::vector<double> observed = flatten_cells(result.metadata);
  const std::int64_t cells = static_cast<std::int64_t>(observed.size());
  const std::int64_t e_total = settings.folds >= 2 ? settings.encodability_permutations : 0;
  const IndexRange perm_range = settings.permutation_range.value_or(IndexRange{0, settings.permutations});
  const IndexRange enc_range = settings.encodability_range.value_or(IndexRange{0, e_total});
  const IndexRange boot_range = settings.bootstrap_range.value_or(IndexRange{0, settings.bootstrap});
  RunState local;
  local.permutations = perm_range;
  local.encodability = enc_range;
  local.bootstrap = boot_range;
  local.cells = cells;
  local.keep_cells = perm_range.size() * cells <= settings.keep_null_limit;
  local.observed_abs.resize(observed.size());
  for (std::size_t c = 0; c < observed.size(); ++c) local.observed_abs[c] = std::fabs(observed[c]);
  local.exceed_cell.assign(observed.size(), 0);
  local.exceed_max.assign(observed.size(), 0);
  local.null_max.assign(static_cast<std::size_t>(perm_range.size()), 0.0);
  if (local.keep_cells) local.null_cells.assign(static_cast<std::size_t>(perm_range.size() * cells), 0.0);
  local.score_null.assign(input.metadata.size(), std::vector<double>(static_cast<std::size_t>(enc_range.size()), 0.0));
  if (cells > 0) local.boot_cells.assign(static_cast<std::size_t>(boot_range.size() * cells), 0.0);
  if (control.resume != nullptr) {
    const RunState& r = *control.resume;
    const bool fits = r.permutations == perm_range && r.encodability == enc_range &&
                      r.bootstrap == boot_range && r.cells == cells && r.keep_cells == local.keep_cells &&
                      r.score_null.size() == local.score_null.size() &&
                      r.null_max.size() == local.null_max.size() &&
                      r.null_cells.size() == local.null_cells.size() &&
                      r.boot_cells.size() == local.boot_cells.size() &&
                      r.exceed_cell.size() == local.exceed_cell.size() &&
                      r.exceed_max.size() == local.exceed_max.size() &&
                      r.observed_abs.size() == local.observed_abs.size();
    if (!fits) throw std::invalid_argument("the saved state does not match this analysis (ranges or cells differ)");
    // Counts were made against the saved statistic: keep using it.
    local.observed_abs = r.observed_abs;
    local.permutations_done = r.permutations_done;
    local.encodability_done = r.encodability_done;
    local.bootstrap_done = r.bootstrap_done;
    if (world.is_root()) {
      const std::vector<double> observed_abs = local.observed_abs;
      local = r;
      local.observed_abs = observed_abs;
    }
  }
  Checkpointer checkpointer(layout, control, local);

  // Encodability: permutation e of the rows (the same (seed, e) as the WSC
  // null) permutes each task's labels; the probe is refitted on every fold's
  // training rows (folds fixed) and scored on its held-out rows.
  t0 = Clock::now();
  if (enc_range.size() > 0 && !input.metadata.empty()) {
    PhaseProgress tracker(progress, world, "encodability", enc_range.size());
    run_rounds(layout, enc_range, local.encodability_done, items.encodability, tracker,
               checkpointer, [&](std::int64_t lo, std::int64_t hi) {
      std::vector<std::vector<std::int64_t>> perms;
      for (std::int64_t e = lo; e < hi; ++e) {
        perms.push_back(permutation_for(input, settings.permutation_seed, static_cast<std::uint64_t>(e)));
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
        local.encodability_fits += static_cast<std::int64_t>(heads.size());
        for (std::int64_t k = 0; k < hi - lo; ++k) {
          std::vector<double> auroc;
          for (int f = 0; f < settings.folds; ++f) {
            const TaskMetrics m = evaluate_rows(
                x, begin, permuted[static_cast<std::size_t>(k)],
                heads[static_cast<std::size_t>(k * settings.folds + f)],
                [&](std::int64_t i) { return fold[static_cast<std::size_t>(i)] == f; }, comm);
            auroc.push_back(m.auroc);
          }
          local.score_null[t][static_cast<std::size_t>(lo - enc_range.begin + k)] = core::mean_sd(auroc).mean;
        }
      }
    });
  }
  result.timings.emplace_back("encodability", seconds_since(t0));

  // Permutation null: permutation b (from (seed, b) alone) moves the rows of
  // the whole metadata table, so one index is shared by all tasks.
  t0 = Clock::now();
  if (perm_range.size() > 0) {
    PhaseProgress tracker(progress, world, "permutations", perm_range.size());
    run_rounds(layout, perm_range, local.permutations_done, items.permutations, tracker, checkpointer,
               [&](std::int64_t lo, std::int64_t hi) {
      const std::int64_t nb = hi - lo;
      std::vector<std::vector<std::int64_t>> perms;
      perms.reserve(static_cast<std::size_t>(nb));
      for (std::int64_t b = lo; b < hi; ++b) {
        perms.push_back(permutation_for(input, settings.permutation_seed, static_cast<std::uint64_t>(b)));
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
          ++local.permutation_fits;
          if (!report.converged) ++local.permutation_unconverged;
          local.permutation_max_iterations =
              std::max<std::int64_t>(local.permutation_max_iterations, report.iterations);
          local.permutation_max_grad = std::max(local.permutation_max_grad, report.grad_max_norm);
          const std::vector<double> a = abs_cells(core::cosine_matrix(
              result.primary.projected,
              core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca)));
          std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
          cells_k.insert(cells_k.end(), a.begin(), a.end());
        }
      }
      core::NullAccumulator counts(local.observed_abs);
      for (std::int64_t k = 0; k < nb; ++k) {
        const std::vector<double>& cells_k = permuted_abs[static_cast<std::size_t>(k)];
        counts.add(cells_k);
        double mx = 0.0;
        for (double v : cells_k) {
          if (!std::isnan(v)) mx = std::max(mx, v);
        }
        const std::int64_t row = lo - perm_range.begin + k;
        local.null_max[static_cast<std::size_t>(row)] = mx;
        if (local.keep_cells) {
          std::copy(cells_k.begin(), cells_k.end(),
                    local.null_cells.begin() + static_cast<std::ptrdiff_t>(row * cells));
        }
      }
      for (std::size_t c = 0; c < local.exceed_cell.size(); ++c) {
        local.exceed_cell[c] += counts.exceed_cell()[c];
        local.exceed_max[c] += counts.exceed_max()[c];
      }
    });
  }
  result.timings.emplace_back("permutations", seconds_since(t0));

  // Bootstrap: resample b (keyed by (bootstrap seed, b)) reweights the rows;
  // every metadata probe (and a fitted primary probe) is refitted with those
  // weights and the cells recomputed.
  t0 = Clock::now();
  if (boot_range.size() > 0 && cells > 0) {
    PhaseProgress tracker(progress, world, "bootstrap", boot_range.size());
    run_rounds(layout, boot_range, local.bootstrap_done, items.bootstrap, tracker, checkpointer,
               [&](std::int64_t lo, std::int64_t hi) {
      const std::int64_t nb = hi - lo;
      std::vector<core::Vector> weights;
      for (std::int64_t b = lo; b < hi; ++b) {
        weights.push_back(bootstrap_weights(settings.bootstrap_seed, static_cast<std::uint64_t>(b), input.rows,
                                            input.cv_groups));
      }
      std::vector<core::Matrix> primary(static_cast<std::size_t>(nb), result.primary.projected);
      if (!input.primary_from_file) {
        const std::vector<core::Labels> labels(static_cast<std::size_t>(nb), input.primary_labels->labels);
        const std::vector<core::ProbeHead> heads = fit_group_probes(
            x, begin, labels, input.primary_labels->classes, fit, reduce, nullptr, &weights);
        for (std::int64_t k = 0; k < nb; ++k) {
          primary[static_cast<std::size_t>(k)] =
              core::project_head(heads[static_cast<std::size_t>(k)].weight, result.pca);
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
          const std::int64_t row = lo - boot_range.begin + k;
          core::Index c = 0;
          for (core::Index i = 0; i < cos.rows(); ++i) {
            for (core::Index j = 0; j < cos.cols(); ++j) {
              local.boot_cells[static_cast<std::size_t>(row * cells + column + c++)] = cos(i, j);
            }
          }
        }
        column += width;
      }
    });
  }
  result.timings.emplace_back("bootstrap", seconds_since(t0));

  // Everything over all groups; the final state is what a chunk reports.
  result.state = checkpointer.capture();
  const RunState& g = result.state;
  result.permutations = g.permutations.size();
  result.permutation_fits = g.permutation_fits;
  result.permutation_unconverged = g.permutation_unconverged;
  result.permutation_max_iterations = static_cast<int>(g.permutation_max_iterations);
  result.permutation_max_grad = g.permutation_max_grad;
  result.null_max = g.null_max;
  if (g.keep_cells) {
    result.null_cells = core::Matrix(g.permutations.size(), cells);
    for (std::int64_t b = 0; b < g.permutations.size(); ++b) {
      for (std::int64_t c = 0; c < cells; ++c) {
        result.null_cells(b, c) = g.null_cells[static_cast<std::size_t>(b * cells + c)];
      }
    }
  }
  if (result.permutation_unconverged > 0) {
    result.warnings.push_back(std::to_string(result.permutation_unconverged) + " of " +
                              std::to_string(result.permutation_fits) +
                              " permuted-label fits stopped without converging");
  }
  const core::NullAccumulator null = core::NullAccumulator::from_counts(
      g.observed_abs, g.exceed_cell, g.exceed_max, g.permutations.size());
  result.p_perm = null.p_perm();
  result.p_fwer = null.p_fwer();
  result.q_fdr = core::bh_qvalues(result.p_perm);

  result.encodability_permutations = g.encodability.size();
  result.encodability_fits = g.encodability_fits;
  for (std::size_t t = 0; t < result.metadata.size(); ++t) {
    TaskResult& r = result.metadata[t];
    r.score_null = g.score_null[t];
    std::int64_t exceed = 0;
    for (double v : r.score_null) {
      if (v >= r.score) ++exceed;  // NaN never counts; a tie does
    }
    const std::int64_t e = g.encodability.size();
    r.p_encoded = (std::isnan(r.score) || e == 0)
                      ? std::nan("")
                      : static_cast<double>(1 + exceed) / static_cast<double>(e + 1);
  }

  const std::int64_t nboot = g.bootstrap.size();
  result.bootstrap = nboot;
  if (nboot > 0 && cells > 0) {
    result.boot_cells = core::Matrix(nboot, cells);
    for (std::int64_t b = 0; b < nboot; ++b) {
      for (std::int64_t c = 0; c < cells; ++c) {
        result.boot_cells(b, c) = g.boot_cells[static_cast<std::size_t>(b * cells + c)];
      }
    }
    const double tail = 0.5 * (1.0 - settings.bootstrap_level);
    std::int64_t column = 0;
    for (TaskResult& r : result.metadata) {
      r.boot_lo.resize(r.cos.rows(), r.cos.cols());
      r.boot_hi.resize(r.cos.rows(), r.cos.cols());
      for (core::Index i = 0; i < r.cos.rows(); ++i) {
        for (core::Index j = 0; j < r.cos.cols(); ++j, ++column) {
          std::vector<double> v(static_cast<std::size_t>(nboot));
          for (std::int64_t b = 0; b < nboot; ++b) v[static_cast<std::size_t>(b)] = result.boot_cells(b, column);
          r.boot_lo(i, j) = core::percentile(v, tail);
          r.boot_hi(i, j) = core::percentile(std::move(v), 1.0 - tail);
        }
      }
    }
  }
  const std::int64_t m = result.permutations;

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

#include "wsc/app/model_inputs.hpp"

#include "wsc/app/resources.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/io/text_output.hpp"
#include "wsc/par/row_partition.hpp"

#include "wsc/core/batched_newton.hpp"
#include "wsc/core/checked.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace wsc::app {

namespace {

engine::LabelSpec label_spec(const MetadataSpec& spec) {
  engine::LabelSpec s;
  s.bins = spec.bins;
  s.method = spec.binning;
  s.declared_classes = spec.classes;
  return s;
}

engine::TaskLabels task_from_column(const io::LabelColumn& column, const std::string& where,
                                    const engine::LabelSpec& spec) {
  if (column.continuous) return engine::make_task_labels(column.name, where, column.values, spec);
  return engine::make_task_labels(column.name, where, column.codes, column.class_names, spec);
}

std::string file_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

/// Refuses sizes that cannot fit before anything is allocated.
void check_memory(std::int64_t rows, std::int64_t dim, const engine::LayoutPlan& layout, int ranks_on_node,
                  const std::string& where) {
  const auto per_rank = static_cast<double>(layout.bytes_per_rank);
  const double node = per_rank * ranks_on_node;
  const double available = static_cast<double>(available_memory_bytes());
  if (available > 0 && node > 0.9 * available) {
    throw std::invalid_argument(
        where + ": /embeddings declares " + std::to_string(rows) + " x " + std::to_string(dim) +
        ", which needs about " + human_bytes(per_rank) + " per rank (" + std::to_string(ranks_on_node) +
        (ranks_on_node == 1 ? " rank" : " ranks") + " on this node) but the node has " + human_bytes(available) +
        " available; use more nodes or fewer ranks per node");
  }
}

/// Refuses nulls (permutation.count, encodability.permutations,
/// bootstrap.count) that cannot fit beside the rows, naming the key.
void check_null_memory(const Config& config, std::int64_t cells, const engine::LayoutPlan& layout,
                       int ranks_on_node) {
  const double available = static_cast<double>(available_memory_bytes());
  if (!(available > 0)) return;
  const double budget = 0.9 * available / std::max(ranks_on_node, 1) - static_cast<double>(layout.bytes_per_rank);
  const std::string problem = engine::null_memory_problem(config.analysis, cells,
                                                          static_cast<int>(config.metadata.size()),
                                                          std::max(budget, 1.0));
  if (!problem.empty()) throw std::invalid_argument(problem);
}

}  // namespace

std::int64_t parallel_items(const Config& config) {
  // Batches of permuted heads, of encodability fold fits and of bootstrap
  // resamples: what groups can share.
  const engine::AnalysisSettings& s = config.analysis;
  const std::int64_t batch = std::max<std::int64_t>(s.batch, 1);
  // Counts are >= 0 and bounded (kMaxResamples); the product saturates anyway.
  const std::int64_t perms = core::ceil_div(std::max<std::int64_t>(s.permutation.count, 0), batch);
  const std::int64_t enc = core::ceil_div(
      std::max<std::int64_t>(core::saturating_mul(s.encodability.permutations, std::max(s.cv.folds, 0)), 0), batch);
  const std::int64_t boot = core::ceil_div(std::max<std::int64_t>(s.bootstrap.count, 0), batch);
  return std::max<std::int64_t>({perms, enc, boot, 1});
}

namespace {

/// What the layout weighs, measured on this machine: the GEMM rate of one
/// rank and the cost of an allreduce over all ranks (an upper bound for a
/// group's). World rank 0's numbers, so every rank plans the same layout.
struct MeasuredCosts {
  double gemm_rate = 0.0;
  double allreduce_latency = 0.0;
  double allreduce_per_byte = 0.0;
};

MeasuredCosts measure_costs(const par::Communicator& comm) {
  MeasuredCosts costs;
  if (comm.size() == 1) return costs;  // nothing to choose
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  // A tile of 512 rows, d = 256, 256 columns: a typical pass's GEMMs.
  costs.gemm_rate = core::gemm_pair_rate(512, 256, 256, false, 0.05);
  std::vector<double> small(1, 0.0), large(std::size_t{1} << 17, 0.0);  // 8 bytes, 1 MiB
  comm.barrier();
  auto t = Clock::now();
  for (int i = 0; i < 20; ++i) comm.sum(small.data(), small.size());
  costs.allreduce_latency = seconds(t) / 20.0;
  t = Clock::now();
  for (int i = 0; i < 5; ++i) comm.sum(large.data(), large.size());
  const double per_call = seconds(t) / 5.0;
  costs.allreduce_per_byte = std::max(0.0, per_call - costs.allreduce_latency) / (8.0 * static_cast<double>(large.size()));
  double values[3] = {costs.gemm_rate, costs.allreduce_latency, costs.allreduce_per_byte};
  comm.broadcast(values, 3);
  return {values[0], values[1], values[2]};
}

/// The layout request of a run: the file's shape and precision, the
/// config's tasks, batch and groups, the node's memory, the measured costs.
engine::LayoutRequest layout_request(const Config& config, const engine::AnalysisInput& in, bool float32, int ranks,
                                     int ranks_on_node, const std::vector<int>& ranks_per_node,
                                     const MeasuredCosts& costs, int classes = 10) {
  engine::LayoutRequest r;
  r.ranks_per_node = ranks_per_node;
  r.rows = in.rows;
  r.dim = in.dim;
  r.ranks = ranks;
  r.ranks_on_node = ranks_on_node;
  r.available_bytes = static_cast<double>(available_memory_bytes());
  r.requested_groups = config.parallel.groups;
  r.parallel_items = parallel_items(config);
  r.element_bytes = float32 ? 4 : 8;
  r.tasks = static_cast<int>(config.metadata.size());
  r.classes = classes;
  r.batch = config.analysis.batch;
  r.gemm_rate = costs.gemm_rate;
  r.allreduce_latency = costs.allreduce_latency;
  r.allreduce_per_byte = costs.allreduce_per_byte;
  return r;
}

/// The nodes of the ranks (collective): the most ranks sharing one node's
/// memory (the same on every rank, so that every rank plans the same layout)
/// and, per world rank, its node (the lowest world rank on that node).
struct RankNodes {
  int ranks_on_node = 1;
  std::vector<int> node_of_rank;
  std::vector<int> ranks_per_node;  ///< per node, in order of its lowest world rank
};

RankNodes rank_nodes(const par::Communicator& comm) {
  MPI_Comm node_comm = MPI_COMM_NULL;
  WSC_MPI_CHECK(MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node_comm));
  int here = 1;
  WSC_MPI_CHECK(MPI_Comm_size(node_comm, &here));
  int first = comm.rank();
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, node_comm));
  WSC_MPI_CHECK(MPI_Comm_free(&node_comm));
  RankNodes nodes;
  nodes.ranks_on_node = static_cast<int>(comm.max(static_cast<std::int64_t>(here)));
  nodes.node_of_rank.assign(static_cast<std::size_t>(comm.size()), 0);
  WSC_MPI_CHECK(MPI_Allgather(&first, 1, MPI_INT, nodes.node_of_rank.data(), 1, MPI_INT, comm.get()));
  // A node's id is its lowest world rank, so ids appear in increasing order.
  std::vector<int> count(nodes.node_of_rank.size(), 0);
  for (const int id : nodes.node_of_rank) ++count[static_cast<std::size_t>(id)];
  for (const int n : count) {
    if (n > 0) nodes.ranks_per_node.push_back(n);
  }
  return nodes;
}

/// The primary head (from the model file, or to be fitted from its labels)
/// and its labels when they exist.
void read_primary(const io::ModelFile& file, const io::ModelFile& labels, const std::string& lname,
                  const Config& config, engine::AnalysisInput& in) {
  const std::string& task = config.primary.task;
  in.primary_task = task;
  in.primary_from_file = config.primary.source == PrimarySource::File;
  const bool has_labels = labels.exists("/labels/" + task);
  if (in.primary_from_file) {
    in.primary_head = file.read_head(task, in.dim, &in.primary_class_names);
    if (in.primary_class_names.empty()) {
      for (core::Index c = 0; c < in.primary_head.classes(); ++c) in.primary_class_names.push_back(std::to_string(c));
    }
  } else if (!has_labels) {
    throw std::invalid_argument(lname + ": dataset /labels/" + task +
                                " is missing (primary.source = \"probe\" fits it from these labels)");
  }
  if (!has_labels) return;
  engine::LabelSpec spec;
  if (in.primary_from_file) {
    spec.declared_classes = static_cast<int>(in.primary_head.classes());
    spec.allow_empty_classes = true;
  }
  const io::LabelColumn column = labels.read_labels(task, in.rows);
  if (column.continuous) {
    throw std::invalid_argument(lname + ": /labels/" + task + " is float; the primary task needs integer class labels");
  }
  engine::TaskLabels labelled = task_from_column(column, lname + ": /labels/" + task, spec);
  if (!in.primary_from_file) in.primary_class_names = labelled.class_names;
  in.primary_labels = std::move(labelled);
}

/// Every [[metadata]] task's labels (binned when asked), and the CV groups.
void read_metadata(const io::ModelFile& labels, const std::string& lname, const Config& config,
                   engine::AnalysisInput& in) {
  for (const MetadataSpec& spec : config.metadata) {
    if (!labels.exists("/labels/" + spec.name)) {
      const std::string known = io::join(labels.members("/labels"), ", ");
      throw std::invalid_argument(lname + ": metadata '" + spec.name + "' has no dataset /labels/" + spec.name +
                                  " (labels in file: " + (known.empty() ? "none" : known) + ")");
    }
    const io::LabelColumn column = labels.read_labels(spec.name, in.rows);
    in.metadata.push_back(task_from_column(column, lname + ": /labels/" + spec.name, label_spec(spec)));
  }
  if (!config.cv.groups.empty()) in.cv_groups = labels.read_groups(config.cv.groups, in.rows);
}

/// The strata, blocks or block tree of a restricted permutation scheme; an
/// impossible scheme (a stratum of one, no two blocks of one size, an invalid
/// tree) is refused now, naming the dataset, rather than after the fits.
void read_exchangeability(const io::ModelFile& labels, const std::string& lname, const Config& config,
                          engine::AnalysisInput& in) {
  const engine::PermutationSettings& permutation = config.analysis.permutation;
  if (permutation.scheme == engine::PermutationScheme::Free) return;
  const std::string prefix = std::string("permutation.scheme = \"") + engine::to_string(permutation.scheme) +
                             "\" with " + lname + ": ";
  std::string dataset;
  if (permutation.scheme == engine::PermutationScheme::Within) {
    const io::LabelColumn strata = labels.read_labels(config.permutation.strata, in.rows);
    if (strata.continuous) {
      throw std::invalid_argument(lname + ": /labels/" + config.permutation.strata +
                                  " is float; permutation.strata needs integer strata");
    }
    in.permutation_strata = strata.codes;
    dataset = "/labels/" + config.permutation.strata + ": ";
  } else if (permutation.scheme == engine::PermutationScheme::Blocks) {
    in.permutation_blocks = labels.read_groups(config.permutation.blocks, in.rows);
    dataset = "/groups/" + config.permutation.blocks + ": ";
  } else {
    std::int64_t levels = 0;
    std::vector<std::int64_t> ids = labels.read_group_levels(config.permutation.tree, in.rows, levels);
    dataset = "/groups/" + config.permutation.tree + ": ";
    try {
      in.permutation_tree = core::ExchangeTree(std::move(ids), in.rows, levels);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(prefix + dataset + e.what());
    }
    return;
  }
  try {
    (void)engine::permutation_for(in, permutation, 0);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(prefix + dataset + e.what());
  }
}

/// "reading /embeddings of model.h5: 1000000 x 256 float32 (1.02 GB) over 2 ranks".
std::string reading_line(const std::string& name, const engine::AnalysisInput& in, const LoadedModel& model) {
  const int groups = model.layout.groups;
  const int size = model.layout.group_size;
  const double bytes = static_cast<double>(in.rows) * static_cast<double>(in.dim) * (model.embeddings_float32 ? 4 : 8);
  std::string where;
  if (groups <= 1) {
    where = size == 1 ? "on 1 rank" : "over " + std::to_string(size) + " ranks";
  } else {
    where = size == 1 ? "whole on each of " + std::to_string(groups) + " ranks"
                      : "over " + std::to_string(size) + " ranks in each of " + std::to_string(groups) + " groups";
  }
  return "reading /embeddings of " + name + ": " + std::to_string(in.rows) + " x " + std::to_string(in.dim) + " " +
         (model.embeddings_float32 ? "float32" : "float64") + " (" + human_bytes(bytes) + ") " + where;
}

}  // namespace

LoadedModel load_model(const Config& config, const par::Communicator& comm, RunProgress* progress) {
  const RankNodes nodes = rank_nodes(comm);             // collective, before any agreement
  const int ranks_on_node = nodes.ranks_on_node;
  const MeasuredCosts costs = measure_costs(comm);     // collective too
  LoadedModel model;
  engine::AnalysisInput& in = model.input;
  const std::string& path = config.input.embeddings;
  const std::string label_path = config.input.labels.empty() ? path : config.input.labels;

  // Phase 1, on every rank alone (no collective calls): open serially,
  // check shapes and types, plan the layout, check memory, read the labels.
  comm.agree_on([&] {
    io::ModelFile file(path, nullptr);
    in.rows = file.rows();
    in.dim = file.dim();
    model.model_name = file.model_name();
    model.embeddings_float32 = file.embeddings_float32();
    if (in.rows < 2) {
      throw std::invalid_argument(file_name(path) + ": /embeddings has " + std::to_string(in.rows) +
                                  " row(s); the analysis needs at least 2");
    }
    // The layout first: how many ranks share the rows decides what a rank holds.
    model.layout = engine::plan_layout(layout_request(config, in, file.embeddings_float32(), comm.size(),
                                                      ranks_on_node, nodes.ranks_per_node, costs));
    engine::place_groups(model.layout, nodes.node_of_rank);
    check_memory(in.rows, in.dim, model.layout, ranks_on_node, file_name(path));
    // Every task and the primary have >= 2 classes: a lower bound on the cells.
    check_null_memory(config, 4 * static_cast<std::int64_t>(config.metadata.size()), model.layout, ranks_on_node);

    std::unique_ptr<io::ModelFile> separate;
    if (label_path != path) separate = std::make_unique<io::ModelFile>(label_path, nullptr, false);
    const io::ModelFile& labels = separate ? *separate : file;
    const std::string lname = file_name(label_path);
    read_primary(file, labels, lname, config, in);
    read_metadata(labels, lname, config, in);
    read_exchangeability(labels, lname, config, in);
    // Again with the tasks' class counts (the first plan assumed up to 10).
    int classes = 2;
    for (const engine::TaskLabels& task : in.metadata) classes = std::max(classes, task.classes);
    model.layout = engine::plan_layout(layout_request(config, in, file.embeddings_float32(), comm.size(),
                                                      ranks_on_node, nodes.ranks_per_node, costs, classes));
    engine::place_groups(model.layout, nodes.node_of_rank);
    check_memory(in.rows, in.dim, model.layout, ranks_on_node, file_name(path));
    std::int64_t task_classes = 0;
    for (const engine::TaskLabels& task : in.metadata) task_classes += task.classes;
    const std::int64_t primary_classes =
        in.primary_from_file ? static_cast<std::int64_t>(in.primary_head.classes())
                             : (in.primary_labels ? in.primary_labels->classes : 2);
    check_null_memory(config, primary_classes * task_classes, model.layout, ranks_on_node);
  });

  // Phase 2, collective: each rank reads the block of rows of its place in
  // its group (every group reads all rows).
  const int group_rank = model.layout.place_in_group(comm.rank());
  const par::RowBlock block = par::block_of(in.rows, model.layout.group_size, group_rank);
  in.row_begin = block.begin;
  if (progress != nullptr) progress->begin("reading", reading_line(file_name(path), in, model));
  const auto piece_read = [&](std::int64_t done, std::int64_t total) {
    if (progress != nullptr) progress->update("reading", done, total);
  };
  std::unique_ptr<io::ModelFile> parallel;
  comm.agree_on([&] { parallel = std::make_unique<io::ModelFile>(path, &comm); });
  comm.agree_on([&] { in.x = parallel->read_rows(block, io::ModelFile::kEmbeddingPieceBytes, piece_read); });
  if (progress != nullptr) progress->finish();
  model.read_mode = parallel->last_read_mode();
  return model;
}

}  // namespace wsc::app

#include "wsc/app/model_inputs.hpp"

#include "wsc/app/resources.hpp"
#include "wsc/io/model_file.hpp"
#include "wsc/io/text_output.hpp"
#include "wsc/par/row_partition.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

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
void check_memory(std::int64_t rows, std::int64_t dim, int ranks, int ranks_on_node,
                  const std::string& where) {
  const double per_rank_rows = std::ceil(static_cast<double>(rows) / ranks);
  // Rows as doubles, the probabilities and residuals of a fit, the d x d
  // covariance with its eigen-decomposition workspace, and the labels.
  const double per_rank = per_rank_rows * static_cast<double>(dim) * 8.0 * 1.25 +
                          3.0 * static_cast<double>(dim) * static_cast<double>(dim) * 8.0 +
                          static_cast<double>(rows) * 64.0;
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

}  // namespace

std::int64_t parallel_items(const Config& config) {
  // Batches of permuted heads, of encodability fold fits and of bootstrap
  // resamples: what groups can share.
  const engine::AnalysisSettings& s = config.analysis;
  const std::int64_t batch = std::max<std::int64_t>(s.batch, 1);
  const std::int64_t perms = (s.permutation.count + batch - 1) / batch;
  const std::int64_t enc = (s.encodability.permutations * s.cv.folds + batch - 1) / batch;
  const std::int64_t boot = (s.bootstrap.count + batch - 1) / batch;
  return std::max<std::int64_t>({perms, enc, boot, 1});
}

namespace {

/// Ranks sharing this node's memory (collective).
int ranks_on_this_node(const par::Communicator& comm) {
  MPI_Comm node_comm = MPI_COMM_NULL;
  WSC_MPI_CHECK(MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node_comm));
  int ranks_on_node = 1;
  WSC_MPI_CHECK(MPI_Comm_size(node_comm, &ranks_on_node));
  WSC_MPI_CHECK(MPI_Comm_free(&node_comm));
  return ranks_on_node;
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

/// The strata or blocks of a restricted permutation scheme; an impossible
/// scheme (a stratum of one, blocks of unequal size) is refused now rather
/// than after the fits.
void read_exchangeability(const io::ModelFile& labels, const std::string& lname, const Config& config,
                          engine::AnalysisInput& in) {
  const engine::PermutationSettings& permutation = config.analysis.permutation;
  if (permutation.scheme == engine::PermutationScheme::Free) return;
  if (permutation.scheme == engine::PermutationScheme::Within) {
    const io::LabelColumn strata = labels.read_labels(config.permutation.strata, in.rows);
    if (strata.continuous) {
      throw std::invalid_argument(lname + ": /labels/" + config.permutation.strata +
                                  " is float; permutation.strata needs integer strata");
    }
    in.permutation_strata = strata.codes;
  } else {
    in.permutation_blocks = labels.read_groups(config.permutation.blocks, in.rows);
  }
  try {
    (void)engine::permutation_for(in, permutation, 0);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("permutation.scheme = \"") + engine::to_string(permutation.scheme) +
                                "\" with " + lname + ": " + e.what());
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
  const int ranks_on_node = ranks_on_this_node(comm);  // collective, before any agreement
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
    model.layout = engine::plan_layout(engine::LayoutRequest{
        in.rows, in.dim, comm.size(), ranks_on_node, static_cast<double>(available_memory_bytes()),
        config.parallel.groups, parallel_items(config)});
    check_memory(in.rows, in.dim, model.layout.group_size, ranks_on_node, file_name(path));

    std::unique_ptr<io::ModelFile> separate;
    if (label_path != path) separate = std::make_unique<io::ModelFile>(label_path, nullptr, false);
    const io::ModelFile& labels = separate ? *separate : file;
    const std::string lname = file_name(label_path);
    read_primary(file, labels, lname, config, in);
    read_metadata(labels, lname, config, in);
    read_exchangeability(labels, lname, config, in);
  });

  // Phase 2, collective: each rank reads the block of rows of its place in
  // its group (every group reads all rows).
  const int group_rank = comm.rank() % model.layout.group_size;
  const par::RowBlock block = par::block_of(in.rows, model.layout.group_size, group_rank);
  in.row_begin = block.begin;
  if (progress != nullptr) progress->begin("reading", reading_line(file_name(path), in, model));
  const auto piece_read = [&](std::int64_t done, std::int64_t total) {
    if (progress != nullptr) progress->update("reading", done, total);
  };
  std::unique_ptr<io::ModelFile> parallel;
  comm.agree_on([&] { parallel = std::make_unique<io::ModelFile>(path, &comm); });
  comm.agree_on([&] { in.x = parallel->read_embeddings(block, io::ModelFile::kEmbeddingPieceBytes, piece_read); });
  if (progress != nullptr) progress->finish();
  model.read_mode = parallel->last_read_mode();
  return model;
}

}  // namespace wsc::app

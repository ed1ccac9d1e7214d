#include "wsc/app/analysis_run.hpp"
#include "wsc/app/commands.hpp"
#include "wsc/app/demo_data.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace wsc::app {

namespace {

Config demo_config(const std::filesystem::path& dir, const std::string& name, std::int64_t permutations) {
  Config c;
  c.input.embeddings = (dir / (name + ".h5")).string();
  c.primary.task = "plane";
  const core::BinMethod equal = core::BinMethod::EqualWidth;
  c.metadata = {MetadataSpec{"scanner", 0, equal, 0}, MetadataSpec{"spacing", 4, equal, 0},
                MetadataSpec{"sex", 0, equal, 0}};
  c.analysis.cv.folds = 5;
  // The WSC at these numbers of components too (d = 64; 0: no projection).
  c.analysis.sensitivity = {2, 5, 10, 20, 50, 0};
  c.cv.groups = "patient";
  c.analysis.permutation.count = permutations;
  c.analysis.permutation.seed = 1;
  c.output.dir = (dir / name).string();
  c.config_path = (dir / (name + ".toml")).string();
  return c;
}

struct Row {
  std::string model, metadata, cell;
  engine::Verdict verdict = engine::Verdict::Untested;
  double auroc = 0, p_encoded = 0, cos = 0, p_fwer = 0;
};

}  // namespace

int demo_command(const std::string& dir_text, std::int64_t permutations, const par::Communicator& comm) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::absolute(dir_text);
  const std::vector<DemoSpec> specs{{"biased", true, 3000, 64, 0.85, 7}, {"balanced", false, 3000, 64, 0.0, 8}};

  comm.agree_on([&] {
    if (!comm.is_root()) return;
    fs::create_directories(dir);
    for (const DemoSpec& spec : specs) {
      const std::string h5 = (dir / (spec.name + ".h5")).string();
      write_demo_model(h5 + ".tmp", spec);
      fs::rename(h5 + ".tmp", h5);
      const Config c = demo_config(dir, spec.name, permutations);
      std::ofstream toml(c.config_path);
      // Paths in the written config are relative to its folder.
      Config relative = c;
      relative.input.embeddings = spec.name + ".h5";
      relative.output.dir = spec.name;
      toml << "# WSC demo: " << (spec.biased ? "a model trained on a scanner-biased subset"
                                             : "the balanced control")
           << "\n# run again with: wsc run " << c.config_path << "\n"
           << to_toml(relative);
      if (!toml) throw std::runtime_error("cannot write " + c.config_path);
    }
  });

  std::vector<Row> rows;
  double alpha = 0.05;
  for (const DemoSpec& spec : specs) {
    Config config;
    comm.agree_on([&] { config = load_config(demo_config(dir, spec.name, permutations).config_path, {}); });
    if (comm.is_root()) std::cerr << "analysing " << spec.name << " ...\n";
    const CompletedRun run = run_configured(config, comm, true);
    const engine::AnalysisResult& r = run.result;
    alpha = r.alpha;
    for (std::size_t t = 0; t < r.metadata.size(); ++t) {
      const engine::TaskResult& task = r.metadata[t];
      Row row{spec.name, task.name, "", task.verdict, task.quality.auroc_stat.mean, task.p_encoded, 0.0, 1.0};
      r.cells.for_each_in(t, [&](const engine::Cell& c) {
        // The first of (near-)equal cells wins: a binary head's two rows tie exactly.
        if (std::fabs(task.cos(c.i, c.j)) > std::fabs(row.cos) + 1e-12) {
          row.cos = task.cos(c.i, c.j);
          row.p_fwer = r.p_fwer[c.index];
          row.cell = r.primary.class_names[static_cast<std::size_t>(c.i)] + " x " +
                     task.class_names[static_cast<std::size_t>(c.j)];
        }
      });
      rows.push_back(row);
    }
  }

  if (comm.is_root()) {
    std::printf("\nWSC demo: primary task 'plane'; %lld permutations per model; results in %s\n\n",
                static_cast<long long>(permutations), dir.string().c_str());
    std::printf("  %-9s %-9s %9s %9s  %-34s %8s %8s  %s\n", "model", "metadata", "cv_auroc",
                "p_encoded", "largest cell", "cos", "p_fwer", "verdict");
    for (const Row& row : rows) {
      const char* verdict = row.verdict == engine::Verdict::NotEncoded       ? "not encoded: WSC not interpretable"
                            : row.verdict == engine::Verdict::EncodedUsed    ? "ENCODED AND USED (head aligned)"
                            : row.verdict == engine::Verdict::EncodedNotUsed ? "encoded, not used"
                                                                             : engine::to_string(row.verdict);
      std::printf("  %-9s %-9s %9.3f %9.4f  %-34s %+8.3f %8.4f  %s\n", row.model.c_str(),
                  row.metadata.c_str(), row.auroc, row.p_encoded, row.cell.c_str(), row.cos,
                  row.p_fwer, verdict);
    }
    std::printf("\n  (verdict: encoded = permutation p of the cross-validated probe AUROC <= %g; "
                "used = a cell with family-wise p <= %g:\n   the head points along the metadata beyond chance, "
                "a flag to investigate, not proof that the model uses it; README: What a p-value says)\n",
                alpha, alpha);
  }
  return 0;
}

}  // namespace wsc::app

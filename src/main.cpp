// wsc: Weight Space Correlation analysis. The command line, and the one place
// where fatal errors end (run_wsc).
#include "wsc/app/build_info.hpp"
#include "wsc/app/commands.hpp"
#include "wsc/app/config.hpp"
#include "wsc/app/sweep.hpp"
#include "wsc/io/hdf5_handles.hpp"
#include "wsc/par/communicator.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <unistd.h>

namespace {

/// Every subcommand's options, filled by CLI11.
struct CommandLine {
  CLI::App* run = nullptr;
  CLI::App* merge = nullptr;
  CLI::App* sweep = nullptr;
  CLI::App* inspect = nullptr;
  CLI::App* demo = nullptr;
  CLI::App* report = nullptr;
  wsc::app::RunOptions run_options;
  wsc::app::RunOptions merge_options;
  std::string sweep_manifest;  ///< merge --sweep
  wsc::app::SweepOptions sweep_options;
  std::string inspect_path;
  std::string demo_dir = "wsc-demo";
  std::int64_t demo_permutations = 100;
  std::string report_dir;
  std::string done_file;  ///< run, sweep: written by rank 0 once the command ended with status 0
  std::string argv0;  ///< how wsc was started (finds an installed Python package)
};

const char* const kDoneFileHelp =
    "write this (empty) file once the command ended with status 0: lets a job script tell a finished run "
    "from a step that never started (srun can return 0 when a step fails to launch on a node)";

void add_run_and_merge(CLI::App& app, CommandLine& cl) {
  cl.run = app.add_subcommand("run", "the whole analysis of one model");
  cl.run->add_option("config", cl.run_options.config_path, "analysis config (TOML)")->required();
  cl.run->add_option("--set", cl.run_options.overrides, "override a config key: key=value (repeatable)")
      ->allow_extra_args(false);
  cl.run->add_flag("--quiet,-q", cl.run_options.quiet, "print nothing on success");
  cl.run->add_option("--chunk", cl.run_options.chunk,
                     "run chunk I of N of the permutations (I/N, 0-based); its state goes to "
                     "<output.dir>/chunks for `wsc merge`");
  cl.run->add_option("--done-file", cl.done_file, kDoneFileHelp);

  cl.merge_options.merge = true;
  cl.merge = app.add_subcommand(
      "merge", "merge the chunks of a split run (<output.dir>/chunks) into the outputs of the whole run");
  cl.merge->add_option("config", cl.merge_options.config_path, "the analysis config the chunks ran");
  cl.merge->add_option("--sweep", cl.sweep_manifest,
                       "instead: summarise the sweep of this manifest (sweep_summary.csv, sweep_reference.csv, ...)");
  cl.merge->add_option("--set", cl.merge_options.overrides, "override a config key: key=value (repeatable)")
      ->allow_extra_args(false);
  cl.merge->add_flag("--quiet,-q", cl.merge_options.quiet, "print nothing on success");
}

void add_sweep_inspect_demo(CLI::App& app, CommandLine& cl) {
  cl.sweep = app.add_subcommand("sweep", "analyse every model listed in a manifest (or one: --index)");
  cl.sweep->add_option("manifest", cl.sweep_options.manifest, "sweep manifest (TOML)")->required();
  cl.sweep->add_option("--index", cl.sweep_options.index, "run only model I (0-based; one SLURM array task each)")
      ->check(CLI::NonNegativeNumber);
  cl.sweep->add_flag("--list", cl.sweep_options.list, "print the number of models, then one line per model");
  cl.sweep->add_option("--set", cl.sweep_options.overrides, "override an analysis config key: key=value (repeatable)")
      ->allow_extra_args(false);
  cl.sweep->add_flag("--quiet,-q", cl.sweep_options.quiet, "print nothing but failures");
  cl.sweep->add_option("--done-file", cl.done_file, kDoneFileHelp);

  cl.inspect = app.add_subcommand("inspect", "check a model file and print what it holds");
  cl.inspect->add_option("file", cl.inspect_path, "model file (HDF5)")->required();

  cl.demo = app.add_subcommand("demo", "synthetic biased model vs balanced control, analysed");
  cl.demo->add_option("dir", cl.demo_dir, "folder for the demo's files")->capture_default_str();
  cl.demo->add_option("--permutations", cl.demo_permutations, "permutations per model")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(1000000)));

  cl.report = app.add_subcommand("report", "write DIR/report.html: verdicts, figures and tables of a run's, a "
                                           "sweep's or the demo's output folder (needs python3 with matplotlib)");
  cl.report->add_option("dir", cl.report_dir, "output folder")->required();
}

/// The command line's app: every subcommand and its options.
void configure(CLI::App& app, CommandLine& cl) {
  // `--version` after other arguments; computed only when asked for.
  app.set_version_flag("--version", [] { return wsc::app::version_text(wsc::app::build_info()); });
  app.require_subcommand(1);
  add_run_and_merge(app, cl);
  add_sweep_inspect_demo(app, cl);
}

const char* const kDescription =
    "wsc: does a trained model use the confounders its embeddings encode?\n"
    "Weight Space Correlation between a model's primary head and metadata probes,\n"
    "with permutation p-values. Runs under mpiexec -n R or alone.";

/// The chosen subcommand's exit code.
int dispatch(const CommandLine& cl, const wsc::par::Communicator& world) {
  if (*cl.run) return wsc::app::run_command(cl.run_options, world);
  if (*cl.merge) {
    if (cl.sweep_manifest.empty() == cl.merge_options.config_path.empty()) {
      if (world.is_root()) {
        std::cerr << "wsc: error: merge needs either CONFIG (chunks of a split run) or --sweep MANIFEST" << std::endl;
      }
      return 1;
    }
    if (!cl.sweep_manifest.empty()) {
      return wsc::app::sweep_summary_command(cl.sweep_manifest, cl.merge_options.overrides, world);
    }
    return wsc::app::run_command(cl.merge_options, world);
  }
  if (*cl.sweep) return wsc::app::sweep_command(cl.sweep_options, world);
  if (*cl.inspect) {
    double rc = 0;
    if (world.is_root()) rc = wsc::app::inspect_command(cl.inspect_path);
    world.broadcast(&rc, 1);
    return static_cast<int>(rc);
  }
  if (*cl.demo) return wsc::app::demo_command(cl.demo_dir, cl.demo_permutations, world);
  if (*cl.report) {
    double rc = 0;
    if (world.is_root()) rc = wsc::app::report_command(cl.report_dir, cl.argv0);
    world.broadcast(&rc, 1);
    return static_cast<int>(rc);
  }
  return 0;
}

/// Writes one whole line to stderr in a single write(2), so the lines of
/// processes sharing the stream never interleave inside a line.
void error_line(const std::string& text) {
  std::cerr.flush();
  const std::string line = text + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

/// `--done-file PATH`: rank 0 creates PATH (empty) after a command that ended
/// with status 0. Agreed: a file that cannot be written fails on every rank.
void write_done_file(const std::string& path, const wsc::par::Communicator& world) {
  double failed = 0;
  if (world.is_root()) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || std::fclose(f) != 0) failed = 1;
  }
  world.broadcast(&failed, 1);
  if (failed != 0) throw wsc::par::AgreedError("cannot write --done-file " + path);
}

/// N processes that each see one rank: the launcher (mpiexec, srun --mpi=...)
/// belongs to another MPI than the one wsc was built with. Each would run
/// the whole analysis alone and race to write the same outputs.
bool launched_by_another_mpi(const wsc::par::Communicator& world) {
  const int launched = wsc::par::launcher_process_count();
  if (world.size() != 1 || launched <= 1) return false;
  error_line("wsc: error: started as " + std::to_string(launched) +
             " processes, but MPI sees 1 rank each: the launcher does not match wsc's MPI (" +
             wsc::par::mpi_library_version() +
             "); use that MPI's mpiexec, or srun --mpi=pmi2 for MPICH, --mpi=pmix for Open MPI");
  return true;
}

/// Parses the command line and runs the subcommand. Fatal errors end here:
/// one agreed by all ranks prints one line on rank 0 and every rank exits
/// non-zero; an unexpected error on one rank alone aborts the job.
int run_wsc(int argc, char** argv, const wsc::par::Communicator& world) {
  if (launched_by_another_mpi(world)) return 1;
  CLI::App app{kDescription};
  CommandLine cl;
  cl.argv0 = argv[0];
  configure(app, cl);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return world.is_root() ? app.exit(e) : e.get_exit_code();
  }
  try {
    const int rc = dispatch(cl, world);
    if (rc == 0 && !cl.done_file.empty()) write_done_file(cl.done_file, world);
    return rc;
  } catch (const wsc::par::AgreedError& e) {
    if (world.is_root()) std::cerr << "wsc: error: " << e.what() << std::endl;
  } catch (const std::exception& e) {
    error_line("wsc: error on rank " + std::to_string(world.rank()) + ": " + e.what());
    if (world.size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return 1;
}

/// `wsc report DIR` runs without MPI (a login node, a laptop): it only
/// starts the Python report writer. Under a launcher of several processes
/// it goes through MPI instead, so that rank 0 alone writes the report.
int run_report(int argc, char** argv) {
  CLI::App app{kDescription};
  CommandLine cl;
  configure(app, cl);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return wsc::app::report_command(cl.report_dir, argv[0]);
}

}  // namespace

int main(int argc, char** argv) {
  // `wsc --version` answers without starting MPI: on some clusters MPI_Init
  // fails outside a job step (a login node, a module test).
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << wsc::app::version_text(wsc::app::build_info()) << std::endl;
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "report" && wsc::par::launcher_process_count() <= 1) {
    return run_report(argc, argv);
  }
  wsc::par::Environment mpi(argc, argv);
  wsc::io::silence_hdf5_errors();
  const wsc::par::Communicator world(MPI_COMM_WORLD);
  return run_wsc(argc, argv, world);
}

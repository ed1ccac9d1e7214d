// wsc: Weight Space Correlation analysis. Fatal errors are handled here only:
// an error agreed by all ranks prints one line on rank 0 and every rank exits
// non-zero; an unexpected error on one rank alone aborts the job.
#include "wsc/app/build_info.hpp"
#include "wsc/app/commands.hpp"
#include "wsc/app/config.hpp"
#include "wsc/app/sweep.hpp"
#include "wsc/io/hdf5_handles.hpp"
#include "wsc/par/communicator.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  // `wsc --version` answers without starting MPI: on some clusters MPI_Init
  // fails outside a job step (a login node, a module test).
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << wsc::app::version_text(wsc::app::build_info()) << std::endl;
    return 0;
  }
  wsc::par::Environment mpi(argc, argv);
  wsc::io::silence_hdf5_errors();
  int code = 0;
  {
    wsc::par::Communicator world(MPI_COMM_WORLD);
    // N processes that each see one rank: the launcher (mpiexec, srun --mpi=...)
    // belongs to another MPI than the one wsc was built with. Each would run
    // the whole analysis alone and race to write the same outputs.
    if (const int launched = wsc::par::launcher_process_count(); world.size() == 1 && launched > 1) {
      std::cerr << "wsc: error: started as " << launched
                << " processes, but MPI sees 1 rank each: the launcher does not match wsc's MPI ("
                << wsc::par::mpi_library_version()
                << "); use that MPI's mpiexec, or srun --mpi=pmi2 for MPICH, --mpi=pmix for Open MPI"
                << std::endl;
      return 1;
    }
    CLI::App app{"wsc: does a trained model use the confounders its embeddings encode?\n"
                 "Weight Space Correlation between a model's primary head and metadata probes,\n"
                 "with permutation p-values. Runs under mpiexec -n R or alone."};
    // `--version` after other arguments; computed only when asked for.
    app.set_version_flag("--version", [] { return wsc::app::version_text(wsc::app::build_info()); });
    app.require_subcommand(1);

    wsc::app::RunOptions run_options;
    CLI::App* run = app.add_subcommand("run", "the whole analysis of one model");
    run->add_option("config", run_options.config_path, "analysis config (TOML)")->required();
    run->add_option("--set", run_options.overrides, "override a config key: key=value (repeatable)")
        ->allow_extra_args(false);
    run->add_flag("--quiet,-q", run_options.quiet, "print nothing on success");
    run->add_option("--chunk", run_options.chunk,
                    "run chunk I of N of the permutations (I/N, 0-based); its state goes to "
                    "<output.dir>/chunks for `wsc merge`");

    wsc::app::RunOptions merge_options;
    merge_options.merge = true;
    CLI::App* merge = app.add_subcommand(
        "merge", "merge the chunks of a split run (<output.dir>/chunks) into the outputs of the whole run");
    std::string sweep_manifest;
    merge->add_option("config", merge_options.config_path, "the analysis config the chunks ran");
    merge->add_option("--sweep", sweep_manifest,
                      "instead: summarise the sweep of this manifest (sweep_summary.csv, sweep_reference.csv, ...)");
    merge->add_option("--set", merge_options.overrides, "override a config key: key=value (repeatable)")
        ->allow_extra_args(false);
    merge->add_flag("--quiet,-q", merge_options.quiet, "print nothing on success");

    wsc::app::SweepOptions sweep_options;
    CLI::App* sweep = app.add_subcommand("sweep", "analyse every model listed in a manifest (or one: --index)");
    sweep->add_option("manifest", sweep_options.manifest, "sweep manifest (TOML)")->required();
    sweep->add_option("--index", sweep_options.index, "run only model I (0-based; one SLURM array task each)")
        ->check(CLI::NonNegativeNumber);
    sweep->add_flag("--list", sweep_options.list, "print the number of models, then one line per model");
    sweep->add_option("--set", sweep_options.overrides, "override an analysis config key: key=value (repeatable)")
        ->allow_extra_args(false);
    sweep->add_flag("--quiet,-q", sweep_options.quiet, "print nothing but failures");

    std::string inspect_path;
    CLI::App* inspect = app.add_subcommand("inspect", "check a model file and print what it holds");
    inspect->add_option("file", inspect_path, "model file (HDF5)")->required();

    std::string demo_dir = "wsc-demo";
    std::int64_t demo_permutations = 100;
    CLI::App* demo = app.add_subcommand("demo", "synthetic biased model vs balanced control, analysed");
    demo->add_option("dir", demo_dir, "folder for the demo's files")->capture_default_str();
    demo->add_option("--permutations", demo_permutations, "permutations per model")
        ->capture_default_str()
        ->check(CLI::Range(static_cast<std::int64_t>(0), static_cast<std::int64_t>(1000000)));

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      int rc = 0;
      if (world.is_root()) {
        rc = app.exit(e);
      } else {
        rc = e.get_exit_code();
      }
      return rc;
    }

    try {
      if (*run) {
        code = wsc::app::run_command(run_options, world);
      } else if (*merge) {
        if (sweep_manifest.empty() == merge_options.config_path.empty()) {
          if (world.is_root()) {
            std::cerr << "wsc: error: merge needs either CONFIG (chunks of a split run) or --sweep MANIFEST"
                      << std::endl;
          }
          code = 1;
        } else if (!sweep_manifest.empty()) {
          code = wsc::app::sweep_summary_command(sweep_manifest, merge_options.overrides, world);
        } else {
          code = wsc::app::run_command(merge_options, world);
        }
      } else if (*sweep) {
        code = wsc::app::sweep_command(sweep_options, world);
      } else if (*inspect) {
        double rc = 0;
        if (world.is_root()) rc = wsc::app::inspect_command(inspect_path);
        world.broadcast(&rc, 1);
        code = static_cast<int>(rc);
      } else if (*demo) {
        code = wsc::app::demo_command(demo_dir, demo_permutations, world);
      }
    } catch (const wsc::par::AgreedError& e) {
      if (world.is_root()) std::cerr << "wsc: error: " << e.what() << std::endl;
      code = 1;
    } catch (const std::exception& e) {
      std::cerr << "wsc: error on rank " << world.rank() << ": " << e.what() << std::endl;
      if (world.size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
      code = 1;
    }
  }
  return code;
}

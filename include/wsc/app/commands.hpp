#pragma once
// The subcommands of the wsc executable.
#include "wsc/par/communicator.hpp"

#include <string>
#include <vector>

namespace wsc::app {

struct RunOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  bool quiet = false;
  std::string chunk;   ///< "I/N": run chunk I of N of the randomised phases
  bool merge = false;  ///< merge the chunks of output.dir/chunks into the outputs
};

/// `wsc run CONFIG [--set k=v]... [--chunk I/N]`: the whole analysis of one
/// model, or one chunk of it; `wsc merge CONFIG`: the chunks merged into the
/// outputs. Collective. Returns kExitResumable when stopped by a signal.
int run_command(const RunOptions& options, const par::Communicator& comm);

/// `wsc inspect FILE`: prints what the file holds; 0 when no problems. Root only.
int inspect_command(const std::string& path);

/// `wsc demo [DIR]`: writes a synthetic biased model and a balanced control,
/// analyses both and prints the comparison. Collective.
int demo_command(const std::string& dir, std::int64_t permutations, const par::Communicator& comm);

/// `wsc report DIR`: writes DIR/report.html by running `python3 -m
/// wsc.report DIR` (the package from WSC_PYTHON_DIR, the source tree's
/// python/ or <prefix>/share/wsc/python; the interpreter from WSC_PYTHON,
/// /usr/bin/python3 or PATH). Returns Python's exit status; one-line errors.
/// Not collective: call it on one rank.
int report_command(const std::string& dir, const std::string& argv0);

}  // namespace wsc::app

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
};

/// `wsc run CONFIG [--set k=v]...`: the whole analysis of one model. Collective.
int run_command(const RunOptions& options, const par::Communicator& comm);

/// `wsc inspect FILE`: prints what the file holds; 0 when no problems. Root only.
int inspect_command(const std::string& path);

/// `wsc demo [DIR]`: writes a synthetic biased model and a balanced control,
/// analyses both and prints the comparison. Collective.
int demo_command(const std::string& dir, std::int64_t permutations, const par::Communicator& comm);

}  // namespace wsc::app

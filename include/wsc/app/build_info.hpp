#pragma once
// What this binary is: version, commit, the instruction set it was compiled
// for, and the MPI and HDF5 libraries it runs with. Printed by
// `wsc --version` and recorded in summary.json ("build") and results.h5.
#include <nlohmann/json.hpp>

#include <string>

namespace wsc::app {

struct BuildInfo {
  std::string version;
  std::string git_commit;
  std::string arch;      // WSC_ARCH at configure time: "portable", "native", a -march value
  std::string simd;      // Eigen's vector instruction sets compiled in ("AVX512, FMA, ...")
  std::string cpu_features;  // x86 extensions the processor must have ("avx2,fma,..."; "" portable)
  std::string compiler;  // "GNU 12.2.0"
  std::string mpi;       // the MPI library's own first line
  std::string hdf5;      // "1.10.8"
};

BuildInfo build_info();

/// Several lines for `wsc --version`.
std::string version_text(const BuildInfo& b);

nlohmann::json to_json(const BuildInfo& b);

}  // namespace wsc::app

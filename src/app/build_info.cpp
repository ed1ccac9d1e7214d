#include "wsc/app/build_info.hpp"

#include "wsc/core/eigen.hpp"
#include "wsc/io/hdf5_handles.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/version.hpp"

namespace wsc::app {

BuildInfo build_info() {
  BuildInfo b;
  b.version = kVersion;
  b.git_commit = kGitCommit;
  b.arch = kArch;
  b.simd = Eigen::SimdInstructionSetsInUse();
  b.cpu_features = kCpuFeatures;
  b.compiler = kCompiler;
  b.mpi = par::mpi_library_version();
  b.hdf5 = io::hdf5_library_version();
  return b;
}

std::string version_text(const BuildInfo& b) {
  return "wsc " + b.version + " (" + b.git_commit + ")\n" +
         "instruction set: " + b.arch + " (vectorised with " + b.simd + ")\n" +
         "processor extensions needed: " + (b.cpu_features.empty() ? "none" : b.cpu_features) + "\n" +
         "compiler: " + b.compiler + "\n" +
         "MPI: " + b.mpi + "\n" +
         "HDF5: " + b.hdf5;
}

nlohmann::json to_json(const BuildInfo& b) {
  return {{"version", b.version},
          {"git_commit", b.git_commit},
          {"arch", b.arch},
          {"simd", b.simd},
          {"cpu_features", b.cpu_features},
          {"compiler", b.compiler},
          {"mpi", b.mpi},
          {"hdf5", b.hdf5}};
}

}  // namespace wsc::app

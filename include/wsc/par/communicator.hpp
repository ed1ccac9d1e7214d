#pragma once
// The one owning communicator type. It duplicates the communicator it is
// given (library messages never mix with the caller's), frees its duplicate
// on destruction, and checks every MPI return code.
#include "wsc/core/types.hpp"

#include <mpi.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsc::par {

/// An MPI call failed: names the call, the source location and the rank.
class MpiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An input or setting was refused on some rank; every rank of the
/// communicator throws this with the same message (see Communicator::agree).
class AgreedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void check_mpi(int code, const char* call, const char* file, int line);
#define WSC_MPI_CHECK(call) ::wsc::par::check_mpi((call), #call, __FILE__, __LINE__)

class Communicator {
 public:
  /// Duplicates `comm` (collective over it).
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm get() const { return comm_; }

  /// Splits into sub-communicators (MPI_Comm_split); the result owns its comm.
  Communicator split(int color, int key) const;

  void barrier() const;
  void sum(double* data, std::size_t count) const;
  void sum(std::int64_t* data, std::size_t count) const;
  double sum(double value) const;
  std::int64_t sum(std::int64_t value) const;
  double max(double value) const;
  std::int64_t max(std::int64_t value) const;
  /// Bitwise XOR over ranks (order-free combination of hashes).
  std::uint64_t bit_xor(std::uint64_t value) const;
  void broadcast(double* data, std::size_t count, int root = 0) const;
  void broadcast(std::string& text, int root = 0) const;
  /// Gathers one value per rank at root (others get an empty vector).
  std::vector<double> gather(double value, int root = 0) const;

  /// The reduction hook for the numerical core: an in-place sum over ranks.
  core::SumReduce sum_reduce() const;

  /// Collective agreement on a local check: if any rank passes ok == false,
  /// every rank throws AgreedError carrying the message of the lowest failing
  /// rank. Cheap when all pass (one allreduce).
  void agree(bool ok, const std::string& message) const;

  /// Runs f; an exception derived from std::exception on any rank becomes an
  /// AgreedError on all ranks (f must not itself be collective).
  template <typename F>
  void agree_on(F&& f) const {
    bool ok = true;
    std::string message;
    try {
      f();
    } catch (const std::exception& e) {
      ok = false;
      message = e.what();
    }
    agree(ok, message);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

/// The MPI library's own description of itself, first line (e.g.
/// "Open MPI v4.1.4", "MPICH Version: 4.0.2"); callable before MPI_Init.
std::string mpi_library_version();

/// How many processes the launcher says it started (Open MPI's mpiexec:
/// OMPI_COMM_WORLD_SIZE; MPICH's hydra and PMI-2: PMI_SIZE; srun: the step's
/// SLURM_STEP_NUM_TASKS), 0 when none says. A count above 1 while MPI sees a
/// world of 1 means a launcher of another MPI started singletons.
int launcher_process_count();

/// MPI_Init/MPI_Finalize as a scope.
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

}  // namespace wsc::par

// The run fingerprint (app::run_fingerprint) over an embedding matrix of N x d
// doubles: seconds and GB/s of embedding bytes hashed. Each rank holds a
// contiguous block of the rows, as in a run; the figure is the wall time of
// the whole collective call (the slowest rank), best of --repeat calls.
//
//   [mpiexec -n R] fingerprint_bench [--n 1000000] [--d 128] [--repeat 3]
//
// The default, 1,000,000 x 128 doubles, is 1.024 GB of embeddings.
#include "wsc/app/config.hpp"
#include "wsc/app/run_identity.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/layout.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>

namespace {

struct Args {
  std::int64_t n = 1000000;
  std::int64_t d = 128;
  int repeat = 3;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + key);
    const char* value = argv[++i];
    if (key == "--n") {
      a.n = std::strtoll(value, nullptr, 10);
    } else if (key == "--d") {
      a.d = std::strtoll(value, nullptr, 10);
    } else if (key == "--repeat") {
      a.repeat = std::atoi(value);
    } else {
      throw std::invalid_argument("unknown option " + key);
    }
  }
  if (a.n < 1 || a.d < 1 || a.repeat < 1) throw std::invalid_argument("--n, --d and --repeat must be >= 1");
  return a;
}

int bench(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const wsc::par::Communicator world(MPI_COMM_WORLD);
  const wsc::engine::Layout layout(world);
  const wsc::par::RowBlock mine = wsc::par::block_of(args.n, world.size(), world.rank());

  wsc::engine::AnalysisInput input;
  input.rows = args.n;
  input.dim = args.d;
  input.row_begin = mine.begin;
  wsc::core::RowMatrix x(mine.count, args.d);
  // Distinct, cheap values (a splitmix-like sequence over the global index).
  for (wsc::core::Index r = 0; r < x.rows(); ++r) {
    std::uint64_t s = static_cast<std::uint64_t>(mine.begin + r) * 0x9e3779b97f4a7c15ULL;
    for (wsc::core::Index c = 0; c < args.d; ++c) {
      s ^= s >> 31;
      s *= 0xbf58476d1ce4e5b9ULL;
      x(r, c) = static_cast<double>(s >> 11) * 0x1.0p-53;
    }
  }
  input.x = std::move(x);
  const wsc::app::Config config;

  double best = std::numeric_limits<double>::infinity();
  std::uint64_t value = 0;
  for (int k = 0; k < args.repeat; ++k) {
    world.barrier();
    const auto start = std::chrono::steady_clock::now();
    value = wsc::app::run_fingerprint(config, input, layout);
    const double local = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, world.max(local));
  }
  const double gb = static_cast<double>(args.n) * static_cast<double>(args.d) * sizeof(double) / 1e9;
  if (world.is_root()) {
    std::printf("N = %" PRId64 ", d = %" PRId64 " (%.3f GB), %d rank(s): fingerprint %016" PRIx64
                " in %.3f s (best of %d) = %.2f GB/s\n",
                args.n, args.d, gb, world.size(), value, best, args.repeat, gb / best);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::fprintf(stderr, "fingerprint_bench: MPI_Init failed\n");
    return 1;
  }
  int rc = 0;
  try {
    rc = bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fingerprint_bench: %s\n", e.what());
    rc = 1;
  }
  if (MPI_Finalize() != MPI_SUCCESS) rc = 1;
  return rc;
}

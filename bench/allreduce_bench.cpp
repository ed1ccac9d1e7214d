// The in-place sum of doubles over all ranks, as wsc's fits make it
// (par::Communicator::sum, one MPI_Allreduce per evaluation or Hessian
// product of a batch), timed over a range of message sizes: per size the
// median, min and max over --repeats of the per-call time (each repeat a run
// of calls, timed on every rank, the slowest rank counting), a table on
// stdout and, with --json, the same as JSON with where the ranks ran (nodes
// as MPI's shared-memory domains) and the machine's load before and after.
//
//   [srun --mpi=pmix | mpiexec -n R] allreduce_bench [--sizes B1,B2,...] [--doubles D1,...]
//       [--repeats 7] [--seconds 1.5] [--json FILE] [--label TEXT]
//
// --sizes: message sizes in bytes (default 8 B .. 16 MiB, powers of 4 and
// 16 MiB); --doubles: more sizes in doubles (e.g. a batch's B C (d + 1));
// --seconds: the time budget per size (the calls per repeat, at least 3,
// follow from calls timed before, the same on every rank).
#include "wsc/par/communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Args {
  std::vector<std::int64_t> bytes;
  int repeats = 7;
  double seconds = 1.5;
  std::string json;
  std::string label;
};

std::vector<std::int64_t> parse_list(const std::string& text, const std::string& key) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || end == nullptr || *end != '\0' || v < 1) {
      throw std::invalid_argument(key + ": '" + item + "' is not a positive integer");
    }
    out.push_back(v);
  }
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::int64_t> bytes, doubles;
  bool bytes_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + key);
    const std::string value = argv[++i];
    if (key == "--sizes") {
      bytes = parse_list(value, key);
      bytes_given = true;
    } else if (key == "--doubles") {
      doubles = parse_list(value, key);
    } else if (key == "--repeats") {
      a.repeats = std::atoi(value.c_str());
    } else if (key == "--seconds") {
      a.seconds = std::atof(value.c_str());
    } else if (key == "--json") {
      a.json = value;
    } else if (key == "--label") {
      a.label = value;
    } else {
      throw std::invalid_argument("unknown option " + key);
    }
  }
  if (a.repeats < 1 || !(a.seconds > 0.0)) throw std::invalid_argument("--repeats and --seconds must be > 0");
  if (!bytes_given) {
    for (std::int64_t b = 8; b <= (std::int64_t{1} << 24); b *= 4) bytes.push_back(b);
    bytes.push_back(std::int64_t{1} << 24);
  }
  for (std::int64_t d : doubles) bytes.push_back(8 * d);
  for (std::int64_t& b : bytes) b = std::max<std::int64_t>(8, b / 8 * 8);  // whole doubles
  std::sort(bytes.begin(), bytes.end());
  bytes.erase(std::unique(bytes.begin(), bytes.end()), bytes.end());
  a.bytes = bytes;
  return a;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return in ? one + " " + five + " " + fifteen : std::string("?");
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

struct Row {
  std::int64_t bytes = 0;
  int calls = 0;  // per repeat
  double median = 0.0, min = 0.0, max = 0.0;
};

int bench(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const wsc::par::Communicator world(MPI_COMM_WORLD);

  // Nodes: MPI's shared-memory domains, each named by its lowest world rank.
  MPI_Comm node_comm = MPI_COMM_NULL;
  WSC_MPI_CHECK(MPI_Comm_split_type(world.get(), MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &node_comm));
  int first = world.rank();
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, node_comm));
  WSC_MPI_CHECK(MPI_Comm_free(&node_comm));
  std::vector<int> node_of_rank(static_cast<std::size_t>(world.size()));
  WSC_MPI_CHECK(MPI_Allgather(&first, 1, MPI_INT, node_of_rank.data(), 1, MPI_INT, world.get()));
  std::vector<int> firsts = node_of_rank;
  std::sort(firsts.begin(), firsts.end());
  firsts.erase(std::unique(firsts.begin(), firsts.end()), firsts.end());
  for (int& n : node_of_rank) n = static_cast<int>(std::lower_bound(firsts.begin(), firsts.end(), n) - firsts.begin());
  const int nodes = static_cast<int>(firsts.size());

  const std::string load_before = loadavg();
  using Clock = std::chrono::steady_clock;
  std::vector<Row> rows;
  std::vector<double> buffer;
  for (std::int64_t bytes : args.bytes) {
    const auto count = static_cast<std::size_t>(bytes / 8);
    // Warm-up (connections, buffers; the first call checked), then calls timed for about 20 ms (at
    // least 3) set the calls per repeat from the budget (rank 0's figure, for
    // every rank; at least 3).
    // The first call is checked: rank r gives r + 1 + i at element i.
    buffer.resize(count);
    for (std::size_t i = 0; i < count; ++i) buffer[i] = world.rank() + 1.0 + static_cast<double>(i % 1024);
    world.sum(buffer.data(), count);
    const double ranks = world.size();
    bool right = true;
    for (std::size_t i = 0; i < count; ++i) {
      right = right && buffer[i] == ranks * (ranks + 1.0) / 2.0 + ranks * static_cast<double>(i % 1024);
    }
    world.agree(right, "the sum of " + std::to_string(count) + " doubles is wrong");
    buffer.assign(count, 0.0);  // stays finite under repeated sums
    world.sum(buffer.data(), count);
    world.barrier();
    auto t = Clock::now();
    int probe = 0;
    double elapsed = 0.0;
    do {
      world.sum(buffer.data(), count);
      ++probe;
      elapsed = world.max(std::chrono::duration<double>(Clock::now() - t).count());
    } while (probe < 3 || (elapsed < 0.02 && probe < 1000));
    const double per_repeat = args.seconds / args.repeats;
    double calls_d = std::clamp(std::floor(per_repeat / (elapsed / probe)), 3.0, 100000.0);
    world.broadcast(&calls_d, 1);
    const int calls = static_cast<int>(calls_d);
    std::vector<double> per_call;
    for (int r = 0; r < args.repeats; ++r) {
      world.barrier();
      t = Clock::now();
      for (int c = 0; c < calls; ++c) world.sum(buffer.data(), count);
      per_call.push_back(world.max(std::chrono::duration<double>(Clock::now() - t).count()) / calls);
    }
    std::sort(per_call.begin(), per_call.end());
    const std::size_t m = per_call.size();
    const double median = m % 2 == 1 ? per_call[m / 2] : 0.5 * (per_call[m / 2 - 1] + per_call[m / 2]);
    rows.push_back({bytes, calls, median, per_call.front(), per_call.back()});
  }
  const std::string load_after = loadavg();

  if (!world.is_root()) return 0;
  int per_node_max = 0;
  for (int n = 0; n < nodes; ++n) {
    per_node_max = std::max(per_node_max, static_cast<int>(std::count(node_of_rank.begin(), node_of_rank.end(), n)));
  }
  const char* btl = std::getenv("OMPI_MCA_btl");
  std::printf("allreduce (in-place sum of doubles, wsc::par::Communicator::sum): %d ranks on %d node(s)%s%s\n",
              world.size(), nodes, args.label.empty() ? "" : ", ", args.label.c_str());
  std::printf("MPI: %s; OMPI_MCA_btl=%s; load average before %s, after %s\n",
              wsc::par::mpi_library_version().c_str(), btl != nullptr ? btl : "(unset)", load_before.c_str(),
              load_after.c_str());
  std::printf("%12s %10s %8s %12s %12s %12s %10s\n", "bytes", "doubles", "calls", "median us", "min us", "max us",
              "GB/s");
  for (const Row& r : rows) {
    std::printf("%12lld %10lld %8d %12.2f %12.2f %12.2f %10.3f\n", static_cast<long long>(r.bytes),
                static_cast<long long>(r.bytes / 8), r.calls, r.median * 1e6, r.min * 1e6, r.max * 1e6,
                static_cast<double>(r.bytes) / r.median * 1e-9);
  }
  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << "{\n  \"label\": " << json_string(args.label) << ",\n  \"ranks\": " << world.size()
        << ",\n  \"nodes\": " << nodes << ",\n  \"max_ranks_per_node\": " << per_node_max << ",\n  \"node_of_rank\": [";
    for (std::size_t i = 0; i < node_of_rank.size(); ++i) out << (i > 0 ? ", " : "") << node_of_rank[i];
    out << "],\n  \"mpi\": " << json_string(wsc::par::mpi_library_version())
        << ",\n  \"ompi_mca_btl\": " << json_string(btl != nullptr ? btl : "")
        << ",\n  \"loadavg_before\": " << json_string(load_before)
        << ",\n  \"loadavg_after\": " << json_string(load_after) << ",\n  \"repeats\": " << args.repeats
        << ",\n  \"results\": [\n";
    char line[256];
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::snprintf(line, sizeof line,
                    "    {\"bytes\": %lld, \"calls\": %d, \"median_s\": %.9g, \"min_s\": %.9g, \"max_s\": %.9g}%s\n",
                    static_cast<long long>(r.bytes), r.calls, r.median, r.min, r.max,
                    i + 1 < rows.size() ? "," : "");
      out << line;
    }
    out << "  ]\n}\n";
    if (!out) throw std::runtime_error("cannot write " + args.json);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::fprintf(stderr, "allreduce_bench: MPI_Init failed\n");
    return 1;
  }
  int rc = 0;
  try {
    rc = bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "allreduce_bench: %s\n", e.what());
    rc = 1;
  }
  if (MPI_Finalize() != MPI_SUCCESS) rc = 1;
  return rc;
}

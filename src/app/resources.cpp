#include "wsc/app/resources.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace wsc::app {

std::int64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
}

namespace {

/// The first number in a file (a cgroup control file), or -1 when the file
/// is missing or holds no number ("max": no limit).
std::int64_t number_in(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word)) return -1;
  try {
    std::size_t used = 0;
    const long long value = std::stoll(word, &used);
    return used == word.size() && value >= 0 ? value : -1;
  } catch (const std::exception&) {
    return -1;  // "max", or beyond int64 (v1's "no limit" is near 2^63)
  }
}

/// Smallest headroom (limit - usage) of a memory cgroup and its ancestors,
/// or -1 when none has a limit. `root` is where the hierarchy is mounted,
/// `path` the process's cgroup in it ("/a/b").
std::int64_t cgroup_headroom(const std::string& root, std::string path, const char* limit_file,
                             const char* usage_file) {
  std::int64_t best = -1;
  while (true) {
    const std::string dir = root + (path == "/" ? "" : path);
    const std::int64_t limit = number_in(dir + "/" + limit_file);
    // cgroup v1 writes "no limit" as a page-rounded 2^63 - 1.
    if (limit >= 0 && limit < (std::int64_t{1} << 62)) {
      const std::int64_t usage = std::max<std::int64_t>(number_in(dir + "/" + usage_file), 0);
      const std::int64_t headroom = std::max<std::int64_t>(limit - usage, 0);
      best = best < 0 ? headroom : std::min(best, headroom);
    }
    if (path.empty() || path == "/") break;
    const std::size_t slash = path.find_last_of('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  return best;
}

}  // namespace

std::int64_t cgroup_memory_headroom_bytes() {
  // /proc/self/cgroup: "0::/path" (v2) or "N:memory:/path" (v1, the memory
  // controller). SLURM's task/cgroup plugin puts a job step's --mem there.
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  std::int64_t best = -1;
  auto take = [&best](std::int64_t headroom) {
    if (headroom >= 0) best = best < 0 ? headroom : std::min(best, headroom);
  };
  while (std::getline(self, line)) {
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        take(cgroup_headroom(root, path, "memory.max", "memory.current"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      take(cgroup_headroom("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes", "memory.usage_in_bytes"));
    }
  }
  return best;
}

std::int64_t available_memory_bytes() {
  std::int64_t available = 0;
  {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    std::int64_t value = 0;
    std::string unit;
    while (meminfo >> key >> value >> unit) {
      if (key == "MemAvailable:") {
        available = value * 1024;
        break;
      }
    }
  }
  const std::int64_t headroom = cgroup_memory_headroom_bytes();
  if (headroom >= 0) available = available > 0 ? std::min(available, headroom) : headroom;
  return available;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 6) {
    bytes /= 1000.0;
    ++u;
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.3g %s", bytes, units[u]);
  return text;
}

}  // namespace wsc::app

#pragma once
// What the process and the machine have: peak memory, available memory,
// and a phase timer.
#include <chrono>
#include <cstdint>
#include <string>

namespace wsc::app {

/// Peak resident set size of this process in bytes (getrusage).
std::int64_t peak_rss_bytes();

/// Memory this process may still take, in bytes (0 if unknown): the
/// machine's MemAvailable (/proc/meminfo), or less when the process's memory
/// cgroup (v1 or v2, and its ancestors) has a limit with less headroom, as a
/// SLURM job step confined to its --mem has.
std::int64_t available_memory_bytes();

/// Smallest limit - usage over the process's memory cgroup and its
/// ancestors, in bytes; -1 when none has a limit (or no cgroup is visible).
std::int64_t cgroup_memory_headroom_bytes();

/// "1.5 GB" style.
std::string human_bytes(double bytes);

}  // namespace wsc::app

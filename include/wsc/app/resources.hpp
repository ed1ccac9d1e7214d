#pragma once
// What the process and the machine have: peak memory, available memory,
// and a phase timer.
#include <chrono>
#include <cstdint>
#include <string>

namespace wsc::app {

/// Peak resident set size of this process in bytes (getrusage).
std::int64_t peak_rss_bytes();

/// MemAvailable from /proc/meminfo in bytes (0 if unknown).
std::int64_t available_memory_bytes();

/// "1.5 GB" style.
std::string human_bytes(double bytes);

}  // namespace wsc::app

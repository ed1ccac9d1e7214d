#include "wsc/app/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace wsc::app {

ProgressReporter::ProgressReporter(std::ostream& out, std::string what, double log_interval_seconds)
    : out_(out),
      what_(std::move(what)),
      interval_(log_interval_seconds),
      terminal_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressReporter::update(std::int64_t done, std::int64_t total) {
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double wanted = terminal_ ? 0.5 : interval_;
  if (since_last < wanted && done != total) return;
  if (!terminal_ && done == total && elapsed < interval_) return;  // short runs stay quiet
  last_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double left = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s: %lld/%lld (%.1f%%), %.1f/s, %.0f s left", what_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total),
                total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0,
                rate, left);
  if (terminal_) {
    out_ << "\r" << line << "\033[K" << std::flush;
    drawn_ = true;
  } else {
    out_ << line << "\n" << std::flush;
  }
}

void ProgressReporter::finish() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace wsc::app

#include "wsc/app/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace wsc::app {

ProgressReporter::ProgressReporter(std::ostream& out, std::string what, double log_interval_seconds,
                                   std::int64_t first_done)
    : out_(out),
      what_(std::move(what)),
      interval_(log_interval_seconds),
      terminal_(::isatty(STDERR_FILENO) != 0),
      first_done_(first_done),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressReporter::update(std::int64_t done, std::int64_t total) {
  if (done == first_done_ && done != total) return;  // nothing done yet: no rate to tell
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double wanted = terminal_ ? 0.5 : interval_;
  if (since_last < wanted && done != total) return;
  if (!terminal_ && done == total && elapsed < interval_) return;  // short runs stay quiet
  last_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done - first_done_) / elapsed : 0.0;
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

RunProgress::RunProgress(std::ostream& out, bool show, double log_interval_seconds)
    : out_(out), show_(show), interval_(log_interval_seconds) {}

void RunProgress::begin(const std::string& phase, const std::string& line, std::int64_t first_done) {
  if (!show_) return;
  finish();
  out_ << "wsc: " << line << "\n" << std::flush;
  phase_ = phase;
  reporter_ = std::make_unique<ProgressReporter>(out_, phase, interval_, first_done);
}

void RunProgress::update(const std::string& phase, std::int64_t done, std::int64_t total) {
  if (!show_ || total <= 0) return;
  if (phase != phase_ || !reporter_) {
    if (done >= total) return;  // nothing left to do (a resumed or merged run)
    std::string line = describe_ ? describe_(phase, total) : std::string();
    if (line.empty()) line = phase + ": " + std::to_string(total) + " steps";
    if (done > 0) line += " (continuing: " + std::to_string(done) + " done)";
    begin(phase, line, done);
  }
  reporter_->update(done, total);
}

std::function<void(const std::string&, std::int64_t, std::int64_t)> RunProgress::callback() {
  if (!show_) return {};
  return [this](const std::string& phase, std::int64_t done, std::int64_t total) { update(phase, done, total); };
}

void RunProgress::finish() {
  if (reporter_) reporter_->finish();
}

}  // namespace wsc::app

#pragma once
// Progress of a long loop on rank 0: a live line on a terminal, a plain line
// every few seconds otherwise (a SLURM output file), nothing for short runs.
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace wsc::app {

class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, std::string what, double log_interval_seconds = 10.0);
  void update(std::int64_t done, std::int64_t total);
  /// Ends a live line (if one was drawn).
  void finish();

 private:
  std::ostream& out_;
  std::string what_;
  double interval_;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace wsc::app

#pragma once
// Progress of a long loop on rank 0: a live line on a terminal, a plain line
// every few seconds otherwise (a SLURM output file), nothing for short runs.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace wsc::app {

class ProgressReporter {
 public:
  /// The rate and the time left count from `first_done` (a resumed phase
  /// starts with work done already).
  ProgressReporter(std::ostream& out, std::string what, double log_interval_seconds = 10.0,
                   std::int64_t first_done = 0);
  void update(std::int64_t done, std::int64_t total);
  /// Ends a live line (if one was drawn).
  void finish();

 private:
  std::ostream& out_;
  std::string what_;
  double interval_;
  bool terminal_;
  bool drawn_ = false;
  std::int64_t first_done_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

/// The phases of one run on the root's stderr. When a phase begins, one line
/// "wsc: <what it does>" at once, short run or long, terminal or log file;
/// then a ProgressReporter for it. Phases: "reading" (pieces of the
/// embeddings), the engine's ("pca", "fits", "encodability", "permutations",
/// "bootstrap"; engine::ProgressFn) and "writing" (output files). Prints
/// nothing when not shown (ranks other than 0, --quiet).
class RunProgress {
 public:
  /// The start line of a phase the engine begins: what it does, given the
  /// total of its first report.
  using Describe = std::function<std::string(const std::string& phase, std::int64_t total)>;

  RunProgress(std::ostream& out, bool show, double log_interval_seconds = 10.0);
  ~RunProgress() { finish(); }
  RunProgress(const RunProgress&) = delete;
  RunProgress& operator=(const RunProgress&) = delete;

  bool shown() const { return show_; }
  void set_describe(Describe describe) { describe_ = std::move(describe); }

  /// Begins `phase` now, with `first_done` done already: ends the previous
  /// phase's live line and prints "wsc: <line>".
  void begin(const std::string& phase, const std::string& line, std::int64_t first_done = 0);
  /// `done` of `total` in `phase`; a phase not begun yet is begun with the
  /// describer's line (or "<phase>: <total> steps"), with what a resumed
  /// phase has done already. A phase with nothing to do (total 0, or all
  /// done at its first report) is left out.
  void update(const std::string& phase, std::int64_t done, std::int64_t total);
  /// update() as an engine::ProgressFn (empty when not shown).
  std::function<void(const std::string&, std::int64_t, std::int64_t)> callback();
  /// Ends the current phase's live line.
  void finish();

 private:
  std::ostream& out_;
  bool show_;
  double interval_;
  Describe describe_;
  std::string phase_;
  std::unique_ptr<ProgressReporter> reporter_;
};

}  // namespace wsc::app

// `wsc report DIR`: runs the Python report writer (python/wsc/report.py) on
// an output folder. wsc itself stays free of Python; this only finds the
// interpreter and the package and passes the exit status through.
#include "wsc/app/commands.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <vector>

#ifndef WSC_SOURCE_PYTHON_DIR
#define WSC_SOURCE_PYTHON_DIR ""
#endif

namespace wsc::app {

namespace {

namespace fs = std::filesystem;

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

bool executable(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

bool holds_package(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "wsc" / "report.py", ec);
}

/// `python3` on PATH, if any.
std::optional<fs::path> on_path(const std::string& name) {
  const std::string path = environment("PATH");
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find(':', start), path.size());
    const fs::path candidate = fs::path(path.substr(start, end - start).empty() ? "." : path.substr(start, end - start)) / name;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

/// The interpreter: WSC_PYTHON, else Debian's /usr/bin/python3 (where
/// tools/install-deps.sh puts matplotlib, pandas and h5py), else python3 on
/// PATH.
fs::path find_python() {
  const std::string chosen = environment("WSC_PYTHON");
  if (!chosen.empty()) {
    if (executable(chosen)) return chosen;
    if (auto found = on_path(chosen); found && chosen.find('/') == std::string::npos) return *found;
    throw std::runtime_error("WSC_PYTHON=" + chosen + " is not an executable file");
  }
  if (executable("/usr/bin/python3")) return "/usr/bin/python3";
  if (auto found = on_path("python3")) return *found;
  throw std::runtime_error(
      "python3 not found: wsc report needs python3 with matplotlib, pandas and h5py "
      "(tools/install-deps.sh installs them), or WSC_PYTHON set to such an interpreter");
}

/// The folder holding the `wsc` Python package: WSC_PYTHON_DIR, else the
/// source tree's python/ (when this wsc was built from a tree that still
/// exists), else <prefix>/share/wsc/python beside the installed executable.
fs::path find_package(const fs::path& exe) {
  const std::string chosen = environment("WSC_PYTHON_DIR");
  if (!chosen.empty()) {
    if (holds_package(chosen)) return chosen;
    throw std::runtime_error("WSC_PYTHON_DIR=" + chosen + " holds no wsc/report.py");
  }
  std::vector<fs::path> candidates;
  if (std::strlen(WSC_SOURCE_PYTHON_DIR) > 0) candidates.emplace_back(WSC_SOURCE_PYTHON_DIR);
  candidates.push_back(exe.parent_path() / ".." / "share" / "wsc" / "python");
  for (const fs::path& c : candidates) {
    if (holds_package(c)) return fs::weakly_canonical(c);
  }
  throw std::runtime_error("cannot find the wsc Python package (looked in " +
                           (std::strlen(WSC_SOURCE_PYTHON_DIR) > 0 ? std::string(WSC_SOURCE_PYTHON_DIR) + " and " : "") +
                           candidates.back().lexically_normal().string() + "); set WSC_PYTHON_DIR");
}

bool is_output_folder(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "wsc.csv", ec) || fs::is_regular_file(dir / "sweep_summary.csv", ec)) return true;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && fs::is_regular_file(entry.path() / "wsc.csv", ec)) return true;
  }
  return false;
}

fs::path this_executable(const std::string& argv0) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) return self;
  return fs::absolute(argv0, ec);
}

}  // namespace

int report_command(const std::string& dir, const std::string& argv0) {
  try {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw std::runtime_error(dir + ": no such folder");
    if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": not a folder");
    if (!is_output_folder(dir)) {
      throw std::runtime_error(dir + ": not a wsc output folder (no wsc.csv, no sweep_summary.csv, no run folders inside)");
    }
    const fs::path python = find_python();
    const fs::path package = find_package(this_executable(argv0));
    std::string pythonpath = package.string();
    if (const std::string old = environment("PYTHONPATH"); !old.empty()) pythonpath += ":" + old;

    std::cout.flush();
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error(std::string("cannot start python: ") + std::strerror(errno));
    if (child == 0) {
      ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
      const std::string module = "wsc.report";
      std::vector<char*> args{const_cast<char*>(python.c_str()), const_cast<char*>("-m"),
                              const_cast<char*>(module.c_str()), const_cast<char*>(dir.c_str()), nullptr};
      ::execv(python.c_str(), args.data());
      std::cerr << "wsc: error: cannot run " << python.string() << ": " << std::strerror(errno) << std::endl;
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) {
      if (errno != EINTR) throw std::runtime_error(std::string("waiting for python: ") + std::strerror(errno));
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    std::cerr << "wsc: error: " << python.string() << " ended by signal " << WTERMSIG(status) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "wsc: error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace wsc::app

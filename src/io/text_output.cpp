// Atomic text outputs and the number/CSV formatting they use.
#include "wsc/io/text_output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace wsc::io {

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), temp_(path_ + ".tmp." + std::to_string(::getpid())) {
  errno = 0;
  out_.open(temp_, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out_) {
    const int err = errno;
    throw std::runtime_error("cannot create " + temp_ + ": " +
                             (err != 0 ? std::strerror(err) : "open failed"));
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  try {
    if (out_.is_open()) out_.close();
  } catch (...) {
    // closing must not throw out of a destructor
  }
  if (std::remove(temp_.c_str()) != 0 && errno != ENOENT) {
    std::fprintf(stderr, "wsc: warning: could not remove %s\n", temp_.c_str());
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  out_.flush();
  if (!out_) throw std::runtime_error("writing " + temp_ + " failed (disk full?)");
  out_.close();
  if (out_.fail()) throw std::runtime_error("closing " + temp_ + " failed (disk full?)");
  rename_into_place(temp_, path_);
  committed_ = true;
}

void rename_into_place(const std::string& temp, const std::string& path) {
  errno = 0;
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    throw std::runtime_error("cannot rename " + temp + " to " + path + ": " +
                             (err != 0 ? std::strerror(err) : "rename failed"));
  }
}

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[40];
  for (int precision : {15, 16, 17}) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    const double back = std::strtod(buffer, nullptr);
    if (std::memcmp(&back, &value, sizeof value) == 0) break;
  }
  return buffer;  // %.17g always round-trips
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    line += fields[i];
  }
  line += '\n';
  return line;
}

}  // namespace wsc::io

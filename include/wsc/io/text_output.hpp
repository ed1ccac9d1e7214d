#pragma once
// Text outputs written atomically: content goes to "<path>.tmp.<pid>" and is
// renamed to <path> on commit(); an uncommitted file is removed.
#include <fstream>
#include <string>
#include <vector>

namespace wsc::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ofstream& stream() { return out_; }
  const std::string& temp_path() const { return temp_; }
  /// Closes, checks the stream, renames into place. Throws on failure.
  void commit();

 private:
  std::string path_;
  std::string temp_;
  std::ofstream out_;
  bool committed_ = false;
};

/// Renames temp -> path, throwing with both names on failure.
void rename_into_place(const std::string& temp, const std::string& path);

/// Shortest decimal that round-trips a double ("nan", "inf", "-inf" for the rest).
std::string format_double(double value);

/// A CSV field: quoted (with doubled quotes) when it holds , " or a newline.
std::string csv_field(const std::string& text);

/// One CSV line from fields (already formatted), with a trailing newline.
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace wsc::io

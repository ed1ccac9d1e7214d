#pragma once
// Files that appear complete or not at all, and survive a crash once written:
// the content goes to a fresh temporary file next to the destination, which
// commit() flushes to disk (fsync), renames over the destination (atomic on
// one file system) and makes the rename itself durable (fsync of the folder).
// A file that is never committed is removed. Every failing system call is
// reported with the file it was about.
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>

namespace wsc::io {

class AtomicFile {
 public:
  /// Creates the temporary file "<path>.tmp.<pid>.<n>" (a name no one else
  /// uses: created exclusively). Throws std::runtime_error naming it.
  explicit AtomicFile(std::string path);
  /// Unless committed: closes and removes the temporary file.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

  /// Text goes here (buffered; failures are reported by commit()).
  std::ostream& stream() { return stream_; }
  /// Appends bytes after what stream() has buffered. Throws on failure.
  void write(const void* data, std::size_t size);

  /// Writes out the buffer, fsyncs and closes the temporary file, renames it
  /// over the destination and fsyncs the folder. Throws std::runtime_error
  /// naming the file and the failed step; once the rename is done, the file
  /// is in place even if the folder could not be flushed. Idempotent.
  void commit();

 private:
  class Buffer;
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  std::unique_ptr<Buffer> buffer_;
  std::ostream stream_;
  bool committed_ = false;
};

/// The same for a file that another writer (HDF5) has finished and closed at
/// `temp`: fsync it, rename it over `path`, fsync the folder. Throws
/// std::runtime_error naming the file and the failed step.
void rename_into_place(const std::string& temp, const std::string& path);

}  // namespace wsc::io

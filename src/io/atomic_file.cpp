#include "wsc/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <streambuf>

namespace wsc::io {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + (err != 0 ? std::strerror(err) : "unknown error"));
}

/// write(2) of every byte, resumed after signals and short writes; 0 or the errno.
int write_fully(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, std::min<std::size_t>(size, std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

/// Makes a rename in `path`'s folder durable. File systems that cannot sync
/// a folder say EINVAL; the file is in place either way.
void sync_folder_of(const std::string& path) {
  std::string folder = std::filesystem::path(path).parent_path().string();
  if (folder.empty()) folder = ".";
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail("cannot open the folder " + folder + " of " + path, err);
  }
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);  // read-only: nothing to lose
  if (err != 0 && err != EINVAL) fail("cannot flush the folder " + folder + " of " + path + " to disk", err);
}

void rename_over(const std::string& temp, const std::string& path) {
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fail("cannot rename " + temp + " to " + path, err);
  }
}

}  // namespace

/// The stream's buffer: collects text and writes it to the descriptor when
/// full or drained, keeping the first write error for commit() to report.
class AtomicFile::Buffer final : public std::streambuf {
 public:
  explicit Buffer(int fd) : fd_(fd) { setp(data_, data_ + sizeof data_); }
  int error() const { return error_; }
  /// Writes out what is buffered; false once any write has failed.
  bool drain() {
    if (error_ == 0) error_ = write_fully(fd_, pbase(), static_cast<std::size_t>(pptr() - pbase()));
    setp(data_, data_ + sizeof data_);
    return error_ == 0;
  }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  int fd_;
  int error_ = 0;
  char data_[1 << 16];
};

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), stream_(nullptr) {
  // A fresh name next to the destination (same file system, so the rename is
  // atomic); O_EXCL never reuses a file someone else is writing.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    temp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    const int err = errno;
    if (fd_ < 0 && err != EEXIST) fail("cannot create " + temp_, err);
  }
  if (fd_ < 0) fail("cannot create a temporary file next to " + path_, EEXIST);
  buffer_ = std::make_unique<Buffer>(fd_);
  stream_.rdbuf(buffer_.get());
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  if (::unlink(temp_.c_str()) != 0) {
    const int err = errno;
    if (err != ENOENT) std::fprintf(stderr, "wsc: warning: could not remove %s: %s\n", temp_.c_str(), std::strerror(err));
  }
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (fd_ < 0) throw std::logic_error("AtomicFile::write after commit of " + path_);
  if (!buffer_->drain()) fail("cannot write " + temp_, buffer_->error());
  if (const int err = write_fully(fd_, static_cast<const char*>(data), size); err != 0) {
    fail("cannot write " + temp_, err);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (!buffer_->drain()) fail("cannot write " + temp_, buffer_->error());
  if (stream_.bad()) fail("cannot write " + temp_ + " (the text stream failed)", 0);
  if (::fsync(fd_) != 0) {
    const int err = errno;
    fail("cannot flush " + temp_ + " to disk", err);
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    fail("cannot close " + temp_, err);
  }
  rename_over(temp_, path_);
  committed_ = true;
  sync_folder_of(path_);
}

void rename_into_place(const std::string& temp, const std::string& path) {
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail("cannot open " + temp, err);
  }
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);  // read-only: nothing to lose
  if (err != 0) fail("cannot flush " + temp + " to disk", err);
  rename_over(temp, path);
  sync_folder_of(path);
}

}  // namespace wsc::io

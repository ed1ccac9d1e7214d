#include "wsc/app/checkpoint.hpp"

#include "wsc/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/archive/archive_exception.hpp>
#include <boost/archive/basic_archive.hpp>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/level.hpp>
#include <boost/serialization/tracking.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <streambuf>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xxhash.h>

// ---------------------------------------------------------------------------
// Serialization of the engine's plain structs (non-intrusive: the engine does
// not know about Boost). Pure data, no class information or object tracking in
// the archive: the file's own format version covers the layout.

BOOST_CLASS_IMPLEMENTATION(wsc::engine::IndexRange, boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(wsc::engine::IndexRange, boost::serialization::track_never)
BOOST_CLASS_IMPLEMENTATION(wsc::engine::RunState, boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(wsc::engine::RunState, boost::serialization::track_never)

namespace wsc::app::detail {

/// Thrown while decoding a payload that is well-formed for the archive but
/// not a valid RunState.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads from a byte range without copying it.
class MemorySource : public std::streambuf {
 public:
  MemorySource(const char* data, std::size_t size) {
    char* begin = const_cast<char*>(data);  // never written through: get area only
    setg(begin, begin, begin + size);
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

/// The payload being decoded on this thread (set by decode()): what a
/// sequence's count is checked against.
inline thread_local const MemorySource* decoding = nullptr;

/// Refuses a count of `count` items of at least `item_bytes` bytes each that
/// the rest of the payload cannot hold, before anything is allocated.
inline void check_count(std::uint64_t count, std::uint64_t item_bytes, const char* what) {
  if (decoding == nullptr) return;
  const std::uint64_t left = decoding->remaining();
  if (count > left / item_bytes) {
    throw DecodeError(std::string(what) + " of " + std::to_string(count) + " claims more than the " +
                      std::to_string(left) + " bytes left in the payload");
  }
}

// Sequences are stored as a uint64 element count followed by the elements.
// A count is checked against the bytes left in the payload before anything is
// allocated; loading also grows the container in bounded steps, so even an
// unchecked count would run into the end of the payload (an archive
// exception) instead of allocating whatever it claims.
constexpr std::uint64_t kLoadStep = std::uint64_t{1} << 16;

template <class Archive, class T>
void io_array(Archive& ar, std::vector<T>& v) {
  static_assert(std::is_arithmetic_v<T>);
  if constexpr (Archive::is_loading::value) {
    std::uint64_t count = 0;
    ar & count;
    check_count(count, sizeof(T), "an array");
    v.clear();
    while (v.size() < count) {
      const std::size_t old = v.size();
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(count - old, kLoadStep));
      v.resize(old + step);
      ar & boost::serialization::make_array(v.data() + old, step);
    }
  } else {
    std::uint64_t count = v.size();
    ar & count;
    if (!v.empty()) ar & boost::serialization::make_array(v.data(), v.size());
  }
}

template <class Archive>
void io_string(Archive& ar, std::string& s) {
  if constexpr (Archive::is_loading::value) {
    std::uint64_t count = 0;
    ar & count;
    check_count(count, 1, "a string");
    s.clear();
    while (s.size() < count) {
      const std::size_t old = s.size();
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(count - old, kLoadStep));
      s.resize(old + step);
      ar.load_binary(&s[old], step);
    }
  } else {
    std::uint64_t count = s.size();
    ar & count;
    if (!s.empty()) ar.save_binary(s.data(), s.size());
  }
}

template <class Archive, class T>
void io_nested(Archive& ar, std::vector<std::vector<T>>& v) {
  if constexpr (Archive::is_loading::value) {
    std::uint64_t count = 0;
    ar & count;
    check_count(count, sizeof(std::uint64_t), "a list of arrays");  // each at least its own count
    v.clear();
    while (v.size() < count) {
      const std::size_t old = v.size();
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(count - old, kLoadStep));
      v.resize(old + step);
      for (std::size_t i = old; i < old + step; ++i) io_array(ar, v[i]);
    }
  } else {
    std::uint64_t count = v.size();
    ar & count;
    for (auto& inner : v) io_array(ar, inner);
  }
}

template <class Archive>
void io_bool(Archive& ar, bool& b) {
  // Through a byte, checked: loading an arbitrary byte into a bool is undefined.
  std::uint8_t byte = b ? 1 : 0;
  ar & byte;
  if constexpr (Archive::is_loading::value) {
    if (byte > 1) throw DecodeError("invalid boolean value " + std::to_string(byte));
    b = byte == 1;
  }
}

}  // namespace wsc::app::detail

namespace boost::serialization {

template <class Archive>
void serialize(Archive& ar, wsc::engine::IndexRange& r, const unsigned int /*version*/) {
  ar & r.begin;
  ar & r.end;
}

template <class Archive>
void serialize(Archive& ar, wsc::engine::RunState& s, const unsigned int /*version*/) {
  namespace d = wsc::app::detail;
  ar & s.fingerprint;
  d::io_string(ar, s.description);
  ar & s.permutations;
  ar & s.encodability;
  ar & s.bootstrap;
  ar & s.permutations_done;
  ar & s.encodability_done;
  ar & s.bootstrap_done;
  d::io_array(ar, s.observed_abs);
  d::io_array(ar, s.exceed_cell);
  d::io_array(ar, s.exceed_max);
  d::io_array(ar, s.null_max);
  d::io_array(ar, s.null_cells);
  ar & s.cells;
  d::io_bool(ar, s.keep_cells);
  ar & s.sensitivity_ks;
  d::io_array(ar, s.sensitivity_observed_abs);
  d::io_array(ar, s.sensitivity_exceed_cell);
  d::io_array(ar, s.sensitivity_exceed_max);
  d::io_array(ar, s.sensitivity_null_max);
  ar & s.look;
  d::io_array(ar, s.segment_exceed_cell);
  d::io_array(ar, s.segment_exceed_max);
  d::io_array(ar, s.segment_sensitivity_exceed_cell);
  d::io_array(ar, s.segment_sensitivity_exceed_max);
  ar & s.permutation_fits;
  ar & s.permutation_unconverged;
  ar & s.permutation_max_iterations;
  ar & s.permutation_max_grad;
  d::io_nested(ar, s.score_null);
  ar & s.encodability_fits;
  d::io_array(ar, s.boot_cells);
}

}  // namespace boost::serialization

namespace wsc::app {

namespace {

constexpr char kMagic[8] = {'W', 'S', 'C', 'C', 'K', 'P', 'T', '1'};
constexpr unsigned kArchiveFlags = boost::archive::no_codecvt;

/// Appends everything written to it to a string.
class StringSink : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

using detail::MemorySource;

void put_le(unsigned char* out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

std::uint64_t get_le(const unsigned char* in, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= std::uint64_t{in[i]} << (8 * i);
  return value;
}

std::string errno_text(int err) { return err != 0 ? std::strerror(err) : "unknown error"; }

/// Reads up to `size` bytes; returns how many were read (fewer only at end of file).
std::size_t read_up_to(int fd, char* data, std::size_t size, const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const std::size_t chunk = std::min<std::size_t>(size - done, std::size_t{1} << 30);
    const ssize_t n = ::read(fd, data + done, chunk);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      throw CheckpointError("cannot read checkpoint " + path + ": " + errno_text(err));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string encode(const engine::RunState& state) {
  std::string payload;
  StringSink sink(payload);
  {
    boost::archive::binary_oarchive archive(sink, kArchiveFlags);
    archive << state;
  }
  return payload;
}

}  // namespace

std::uint64_t payload_checksum(const void* data, std::size_t size) { return XXH3_64bits(data, size); }

void write_checkpoint(const std::string& path, const engine::RunState& state) {
  std::string payload;
  try {
    payload = encode(state);
  } catch (const std::exception& e) {
    throw CheckpointError("cannot write checkpoint " + path + ": encoding the state failed: " + e.what());
  }

  unsigned char header[kCheckpointHeaderSize];
  std::memcpy(header, kMagic, sizeof kMagic);
  put_le(header + 8, engine::RunState::kFormatVersion, 4);
  put_le(header + 12, payload.size(), 8);
  put_le(header + 20, payload_checksum(payload.data(), payload.size()), 8);

  try {
    io::AtomicFile file(path);
    file.write(header, sizeof header);
    file.write(payload.data(), payload.size());
    file.commit();
  } catch (const std::exception& e) {
    throw CheckpointError("cannot write checkpoint " + path + ": " + e.what());
  }
}

namespace {

/// Opens the checkpoint for reading; returns the file descriptor.
int open_checkpoint(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw CheckpointError("checkpoint " + path + " does not exist");
    throw CheckpointError("cannot open checkpoint " + path + ": " + errno_text(err));
  }
  return fd;
}

/// The size of the open checkpoint, which must be a regular file.
std::uint64_t regular_file_size(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    throw CheckpointError("cannot read checkpoint " + path + ": " + errno_text(err));
  }
  if (!S_ISREG(info.st_mode)) throw CheckpointError("checkpoint " + path + " is not a regular file");
  return static_cast<std::uint64_t>(info.st_size);
}

CheckpointError truncated(const std::string& path, std::uint64_t has, const std::string& expected) {
  return CheckpointError("checkpoint " + path + " is truncated: has " + std::to_string(has) + " bytes, expected " +
                         expected);
}

/// What the header says about the payload.
struct PayloadHeader {
  std::uint64_t size = 0;
  std::uint64_t checksum = 0;
};

/// Reads the header and checks it: the magic, the format version, and a
/// payload size that matches the file's size exactly.
PayloadHeader read_header(int fd, const std::string& path, std::uint64_t file_size) {
  unsigned char header[kCheckpointHeaderSize];
  const std::size_t got = read_up_to(fd, reinterpret_cast<char*>(header), sizeof header, path);

  // Each field is judged as soon as it is there: a short file that does not
  // start like a checkpoint is not one; a checkpoint of another version may
  // have another header.
  if (std::memcmp(header, kMagic, std::min(got, sizeof kMagic)) != 0)
    throw CheckpointError(path + " is not a wsc checkpoint (it does not start with \"WSCCKPT1\")");
  if (got >= 12) {
    const std::uint64_t version = get_le(header + 8, 4);
    if (version != engine::RunState::kFormatVersion)
      throw CheckpointError("checkpoint " + path + " was written by checkpoint format version " +
                            std::to_string(version) + ", this wsc reads version " +
                            std::to_string(engine::RunState::kFormatVersion));
  }
  if (got < sizeof header) throw truncated(path, got, "at least " + std::to_string(sizeof header));

  const PayloadHeader payload{get_le(header + 12, 8), get_le(header + 20, 8)};
  if (payload.size > UINT64_MAX - sizeof header)
    throw CheckpointError("checkpoint " + path + " is corrupted: impossible payload size " +
                          std::to_string(payload.size));
  const std::uint64_t expected = sizeof header + payload.size;
  if (file_size < expected) throw truncated(path, file_size, std::to_string(expected));
  if (file_size > expected)
    throw CheckpointError("checkpoint " + path + " has " + std::to_string(file_size - expected) +
                          " trailing bytes after the payload (has " + std::to_string(file_size) +
                          " bytes, expected " + std::to_string(expected) + ")");
  return payload;
}

/// Reads the payload after the header and checks it: all there, nothing
/// after it, the checksum matching.
std::string read_payload(int fd, const std::string& path, const PayloadHeader& header) {
  const std::uint64_t expected = kCheckpointHeaderSize + header.size;
  std::string payload;
  try {
    payload.resize(static_cast<std::size_t>(header.size));  // at most the file's size
  } catch (const std::exception& e) {
    throw CheckpointError("cannot read checkpoint " + path + ": " + e.what());
  }
  const std::size_t read = read_up_to(fd, payload.data(), payload.size(), path);
  if (read < payload.size()) throw truncated(path, kCheckpointHeaderSize + read, std::to_string(expected));
  char extra = 0;
  if (read_up_to(fd, &extra, 1, path) != 0)  // the file grew while being read
    throw CheckpointError("checkpoint " + path + " has trailing bytes after the payload");

  const std::uint64_t checksum = payload_checksum(payload.data(), payload.size());
  if (checksum != header.checksum)
    throw CheckpointError("checkpoint " + path + " is corrupted: the payload checksum does not match");
  return payload;
}

/// Boost's binary archive opens with its signature as a std::string: a
/// size_t length, then the characters. Boost allocates that length before
/// it checks anything, so a payload that does not start with exactly that
/// signature is refused here, before Boost sees it.
void check_archive_signature(const std::string& payload, const std::string& path) {
  const std::string signature = boost::archive::BOOST_ARCHIVE_SIGNATURE();
  const std::size_t length = signature.size();
  std::string archive_start(sizeof length, '\0');
  std::memcpy(archive_start.data(), &length, sizeof length);
  archive_start += signature;
  if (payload.compare(0, archive_start.size(), archive_start) != 0)
    throw CheckpointError("checkpoint " + path +
                          " has a payload that cannot be decoded: it is not a Boost.Serialization archive");
}

/// Decodes a checked payload into the state; all of it must be used.
engine::RunState decode(const std::string& payload, const std::string& path) {
  engine::RunState state;
  try {
    MemorySource source(payload.data(), payload.size());
    {
      boost::archive::binary_iarchive archive(source, kArchiveFlags);
      struct Decoding {
        explicit Decoding(const MemorySource* s) { detail::decoding = s; }
        ~Decoding() { detail::decoding = nullptr; }
        Decoding(const Decoding&) = delete;
        Decoding& operator=(const Decoding&) = delete;
      } decoding(&source);
      archive >> state;
    }
    if (source.remaining() != 0)
      throw detail::DecodeError(std::to_string(source.remaining()) + " bytes left over after the state");
  } catch (const boost::archive::archive_exception& e) {
    throw CheckpointError("checkpoint " + path + " has a payload that cannot be decoded: " + e.what());
  } catch (const std::bad_alloc&) {
    throw CheckpointError("checkpoint " + path + " has a payload that cannot be decoded: out of memory");
  } catch (const std::exception& e) {
    throw CheckpointError("checkpoint " + path + " has a payload that cannot be decoded: " + e.what());
  }
  return state;
}

}  // namespace

engine::RunState read_checkpoint(const std::string& path) {
  const FileDescriptor fd(open_checkpoint(path));
  const std::uint64_t file_size = regular_file_size(fd.get(), path);
  const PayloadHeader header = read_header(fd.get(), path, file_size);
  const std::string payload = read_payload(fd.get(), path, header);
  check_archive_signature(payload, path);
  engine::RunState state = decode(payload, path);
  const std::string problem = engine::state_problem(state);
  if (!problem.empty()) throw CheckpointError("checkpoint " + path + " is inconsistent: " + problem);
  return state;
}

}  // namespace wsc::app

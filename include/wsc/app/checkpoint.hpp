#pragma once
// Checkpoint files: the resumable state of an analysis (engine::RunState) on
// disk, written atomically and verified on reading.
//
// Layout (header integers little-endian):
//   offset  0  8 bytes   magic "WSCCKPT1"
//   offset  8  uint32    format version (engine::RunState::kFormatVersion)
//   offset 12  uint64    payload size in bytes
//   offset 20  uint64    payload checksum (64-bit XXH3 of the payload bytes)
//   offset 28  payload   a Boost.Serialization binary archive of the RunState
// Nothing follows the payload. The binary archive is native (byte order and
// type sizes of the writing machine); Boost's own archive header refuses a
// payload from an incompatible machine.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "wsc/engine/run_state.hpp"

namespace wsc::app {

/// A checkpoint could not be written or read: the one-line message names the
/// path and the problem.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bytes before the payload: magic, version, payload size, payload checksum.
inline constexpr std::size_t kCheckpointHeaderSize = 8 + 4 + 8 + 8;

/// The payload checksum: 64-bit XXH3 (seed 0) of `size` bytes at `data`.
std::uint64_t payload_checksum(const void* data, std::size_t size);

/// Writes `state` to `path` atomically and durably (io::AtomicFile: a
/// temporary file in the same folder, fsync'ed, renamed over `path`, the
/// folder fsync'ed).
/// Throws CheckpointError naming the path on any I/O failure (and leaves no
/// temporary file behind).
void write_checkpoint(const std::string& path, const engine::RunState& state);

/// Reads and verifies a checkpoint. Throws CheckpointError with a one-line
/// message naming the path and the problem: missing file; not a wsc checkpoint
/// (magic); written by another format version; truncated ("has N bytes,
/// expected M"); corrupted (checksum mismatch); a payload that cannot be
/// decoded; trailing bytes.
engine::RunState read_checkpoint(const std::string& path);

}  // namespace wsc::app

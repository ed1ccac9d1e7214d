// Unit tests of checkpoint files: exact round trip of every RunState field,
// atomic replacement, and a refusal with a telling message for each way a
// file can be wrong (missing, foreign, other version, truncated, corrupted,
// undecodable, trailing bytes) or unwritable.
#include "wsc/app/checkpoint.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using wsc::app::CheckpointError;
using wsc::app::kCheckpointHeaderSize;
using wsc::app::read_checkpoint;
using wsc::app::write_checkpoint;
using wsc::engine::IndexRange;
using wsc::engine::RunState;
namespace fs = std::filesystem;

#if defined(__x86_64__) && defined(__GLIBCXX__)
// A tripwire: a field added to RunState must also be added to the checkpoint
// serialization (src/app/checkpoint.cpp), to MakeFull and ExpectSame below,
// and RunState::kFormatVersion bumped. Then update this size.
static_assert(sizeof(RunState) == 336 + 8 + 4 * 24 + 8 + 4 * 24, "RunState changed: update the checkpoint serialization and its tests");
#endif

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wsc_checkpoint_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::uint64_t bits(double x) {
  std::uint64_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

double from_bits(std::uint64_t b) {
  double x = 0;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

std::vector<std::uint64_t> bits(const std::vector<double>& v) {
  std::vector<std::uint64_t> out;
  for (double x : v) out.push_back(bits(x));
  return out;
}

// Doubles whose bit patterns a lossy path would not keep.
const double kQuietNan = std::numeric_limits<double>::quiet_NaN();
const double kNanWithPayload = from_bits(0xFFF8'0000'DEAD'BEEFULL);  // negative, payload bits
const double kInf = std::numeric_limits<double>::infinity();
const double kNegZero = -0.0;
const double kDenormal = std::numeric_limits<double>::denorm_min();

/// n values in [lo, lo + span), a few of them the awkward doubles (-0.0, a
/// denormal, the ends).
std::vector<double> Spread(std::size_t n, double lo, double span) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = lo + span * static_cast<double>((i * 37) % 101) / 101.0;
  if (n > 0) v[0] = kNegZero;
  if (n > 1) v[1] = kDenormal;
  if (n > 2) v[2] = lo + span;
  return v;
}

/// A consistent state (state_problem() finds nothing) with every field set
/// to something other than its default, and awkward doubles where allowed.
RunState MakeFull() {
  RunState s;
  s.fingerprint = 0xF00D'CAFE'1234'5678ULL;
  s.description = std::string("model m.h5, config \"c.toml\"\n\t\xc3\xa9") + std::string(1, '\0') + "end";
  s.permutations = {3, 11};
  s.encodability = {2, 7};
  s.bootstrap = {100, 250};
  s.permutations_done = 6;
  s.encodability_done = 4;
  s.bootstrap_done = 150;
  s.cells = 3;
  s.observed_abs = {1.0 / 3.0, kNegZero, kDenormal};
  s.exceed_cell = {0, 1, 6};
  s.exceed_max = {6, 5, 4};
  s.null_max = {0.25, 0.0, 1e-300, 1.0, kDenormal, 0.5, 0.0, 0.0};
  s.keep_cells = true;
  s.null_cells = Spread(8 * 3, -1.0, 2.0);
  s.sensitivity_ks = 2;
  s.sensitivity_observed_abs = {0.25, 0.0, 1.0, 0.5, kNegZero, 0.75};
  s.sensitivity_exceed_cell = {1, 2, 3, 4, 5, 6};
  s.sensitivity_exceed_max = {6, 5, 4, 3, 2, 1};
  s.sensitivity_null_max = Spread(8 * 2, 0.0, 1.0);
  s.look = 4;  // 2 segments of the 8 permutations
  s.segment_exceed_cell = {1, 0, 3, 4, 2, 2};
  s.segment_exceed_max = {2, 2, 4, 0, 1, 3};
  s.segment_sensitivity_exceed_cell = {4, 3, 2, 1, 0, 4, 1, 1, 2, 2, 3, 3};
  s.segment_sensitivity_exceed_max = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1};
  s.permutation_fits = 123456789012LL;
  s.permutation_unconverged = 4;
  s.permutation_max_iterations = 1000;
  s.permutation_max_grad = 3.5e-9;
  s.score_null = {{0.5, 0.75, kNanWithPayload, 0.0, 1.0}, {kQuietNan, 0.25, 0.125, 1.0 / 3.0, kDenormal}};
  s.encodability_fits = 42;
  s.boot_cells = Spread(150 * 3, -1.0, 2.0);
  return s;
}

void ExpectSame(const RunState& a, const RunState& b) {
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.permutations, b.permutations);
  EXPECT_EQ(a.encodability, b.encodability);
  EXPECT_EQ(a.bootstrap, b.bootstrap);
  EXPECT_EQ(a.permutations_done, b.permutations_done);
  EXPECT_EQ(a.encodability_done, b.encodability_done);
  EXPECT_EQ(a.bootstrap_done, b.bootstrap_done);
  EXPECT_EQ(bits(a.observed_abs), bits(b.observed_abs));
  EXPECT_EQ(a.exceed_cell, b.exceed_cell);
  EXPECT_EQ(a.exceed_max, b.exceed_max);
  EXPECT_EQ(bits(a.null_max), bits(b.null_max));
  EXPECT_EQ(bits(a.null_cells), bits(b.null_cells));
  EXPECT_EQ(a.cells, b.cells);
  EXPECT_EQ(a.keep_cells, b.keep_cells);
  EXPECT_EQ(a.sensitivity_ks, b.sensitivity_ks);
  EXPECT_EQ(bits(a.sensitivity_observed_abs), bits(b.sensitivity_observed_abs));
  EXPECT_EQ(a.sensitivity_exceed_cell, b.sensitivity_exceed_cell);
  EXPECT_EQ(a.sensitivity_exceed_max, b.sensitivity_exceed_max);
  EXPECT_EQ(bits(a.sensitivity_null_max), bits(b.sensitivity_null_max));
  EXPECT_EQ(a.look, b.look);
  EXPECT_EQ(a.segment_exceed_cell, b.segment_exceed_cell);
  EXPECT_EQ(a.segment_exceed_max, b.segment_exceed_max);
  EXPECT_EQ(a.segment_sensitivity_exceed_cell, b.segment_sensitivity_exceed_cell);
  EXPECT_EQ(a.segment_sensitivity_exceed_max, b.segment_sensitivity_exceed_max);
  EXPECT_EQ(a.permutation_fits, b.permutation_fits);
  EXPECT_EQ(a.permutation_unconverged, b.permutation_unconverged);
  EXPECT_EQ(a.permutation_max_iterations, b.permutation_max_iterations);
  EXPECT_EQ(bits(a.permutation_max_grad), bits(b.permutation_max_grad));
  ASSERT_EQ(a.score_null.size(), b.score_null.size());
  for (std::size_t i = 0; i < a.score_null.size(); ++i)
    EXPECT_EQ(bits(a.score_null[i]), bits(b.score_null[i])) << "score_null[" << i << "]";
  EXPECT_EQ(a.encodability_fits, b.encodability_fits);
  EXPECT_EQ(bits(a.boot_cells), bits(b.boot_cells));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The message of the CheckpointError `read_checkpoint(path)` throws ("" if none).
std::string ReadError(const std::string& path) {
  try {
    read_checkpoint(path);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

void PutLe(std::string& bytes, std::size_t offset, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[offset + static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
}

std::uint64_t GetLe(const std::string& bytes, std::size_t offset, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= std::uint64_t{static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)])} << (8 * i);
  return value;
}

// A file with a valid header for `payload` (right size and checksum).
std::string WithHeader(const std::string& payload) {
  std::string bytes(kCheckpointHeaderSize, '\0');
  std::memcpy(bytes.data(), "WSCCKPT1", 8);
  PutLe(bytes, 8, RunState::kFormatVersion, 4);
  PutLe(bytes, 12, payload.size(), 8);
  PutLe(bytes, 20, wsc::app::payload_checksum(payload.data(), payload.size()), 8);
  return bytes + payload;
}

TEST(Checkpoint, RoundTripKeepsEveryFieldExactly) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  const RunState original = MakeFull();
  write_checkpoint(path, original);
  const RunState back = read_checkpoint(path);
  ExpectSame(original, back);
  // The NaN payload survived, not just "some NaN".
  EXPECT_EQ(bits(back.score_null[0][2]), 0xFFF8'0000'DEAD'BEEFULL);
}

TEST(Checkpoint, RoundTripOfDefaultState) {
  TempDir dir;
  const std::string path = dir.file("empty.ckpt");
  write_checkpoint(path, RunState{});
  ExpectSame(RunState{}, read_checkpoint(path));
}

TEST(Checkpoint, RefusesInconsistentStatesNamingTheField) {
  // A state whose checksum matches but whose sizes, counts or values cannot
  // come from a run: refused on reading, before any size from it is used.
  const std::vector<std::pair<std::string, void (*)(RunState&)>> cases = {
      {"exceed_cell[2] = 7 is outside [0, 6]", [](RunState& s) { s.exceed_cell[2] = 7; }},
      {"exceed_max[0] = -1 is outside [0, 6]", [](RunState& s) { s.exceed_max[0] = -1; }},
      {"null_max holds 7 values, 8 expected", [](RunState& s) { s.null_max.pop_back(); }},
      {"null_cells holds 25 values, 24 expected", [](RunState& s) { s.null_cells.push_back(0.0); }},
      {"observed_abs holds 3 values, 4 expected", [](RunState& s) { s.cells = 4; }},
      {"cells = -1 is impossible", [](RunState& s) { s.cells = -1; }},
      {"permutations done = 9 is outside [0, 8]", [](RunState& s) { s.permutations_done = 9; }},
      {"encodability range [7, 2) is impossible", [](RunState& s) { s.encodability = {7, 2}; }},
      {"bootstrap range [0, 1099511627777) is impossible",
       [](RunState& s) { s.bootstrap = {0, (std::int64_t{1} << 40) + 1}; }},
      {"null_max[1] = nan is outside [0, 1]",
       [](RunState& s) { s.null_max[1] = std::numeric_limits<double>::quiet_NaN(); }},
      {"boot_cells[5] = 2 is outside [-1, 1]", [](RunState& s) { s.boot_cells[5] = 2.0; }},
      {"segment_exceed_cell[1] = 5 is outside [0, 4]", [](RunState& s) { s.segment_exceed_cell[1] = 5; }},
      {"segment_sensitivity_exceed_max holds 11 values, 12 expected",
       [](RunState& s) { s.segment_sensitivity_exceed_max.pop_back(); }},
      {"sensitivity_null_max holds 16 values, 24 expected",
       [](RunState& s) {  // a third k everywhere but in the per-permutation maxima
         s.sensitivity_ks = 3;
         s.sensitivity_observed_abs.resize(9);
         s.sensitivity_exceed_cell.resize(9);
         s.sensitivity_exceed_max.resize(9);
         s.segment_sensitivity_exceed_cell.resize(18);
         s.segment_sensitivity_exceed_max.resize(18);
       }},
      {"score_null holds 4 values, 5 expected", [](RunState& s) { s.score_null[1].pop_back(); }},
      {"score_null[0] = 1.5 is outside [0, 1]", [](RunState& s) { s.score_null[0][0] = 1.5; }},
      {"a fit counter is negative", [](RunState& s) { s.encodability_fits = -1; }},
  };
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  for (const auto& [expected, corrupt] : cases) {
    RunState s = MakeFull();
    corrupt(s);
    write_checkpoint(path, s);
    try {
      read_checkpoint(path);
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const wsc::app::CheckpointError& e) {
      EXPECT_EQ(std::string(e.what()), "checkpoint " + path + " is inconsistent: " + expected);
    }
  }
}

TEST(Checkpoint, HeaderLayout) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  const std::string bytes = ReadBytes(path);
  ASSERT_GT(bytes.size(), kCheckpointHeaderSize);
  EXPECT_EQ(bytes.substr(0, 8), "WSCCKPT1");
  EXPECT_EQ(GetLe(bytes, 8, 4), RunState::kFormatVersion);
  EXPECT_EQ(GetLe(bytes, 12, 8), bytes.size() - kCheckpointHeaderSize);
  const std::string payload = bytes.substr(kCheckpointHeaderSize);
  EXPECT_EQ(GetLe(bytes, 20, 8), wsc::app::payload_checksum(payload.data(), payload.size()));
  // XXH3 64-bit reference values (the empty input's is the specification's).
  EXPECT_EQ(wsc::app::payload_checksum("", 0), 0x2D06800538D394C2ULL);
  EXPECT_EQ(wsc::app::payload_checksum("a", 1), 0xE6C632B61E964E1FULL);
  EXPECT_EQ(wsc::app::payload_checksum("abc", 3), 0x78AF5F94892F3950ULL);
}

TEST(Checkpoint, ReplacesAnExistingCheckpointAtomically) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  RunState first = MakeFull();
  write_checkpoint(path, first);
  RunState second = MakeFull();
  second.permutations_done = 8;
  second.bootstrap = {100, 600};
  second.boot_cells = Spread(500 * 3, -1.0, 2.0);
  second.description = "second";
  write_checkpoint(path, second);
  ExpectSame(second, read_checkpoint(path));
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"run.ckpt"});
  // Replacing with a smaller state leaves no bytes of the larger one.
  write_checkpoint(path, first);
  ExpectSame(first, read_checkpoint(path));
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"run.ckpt"});
}

TEST(Checkpoint, RefusesAMissingFile) {
  TempDir dir;
  const std::string path = dir.file("nothing.ckpt");
  EXPECT_EQ(ReadError(path), "checkpoint " + path + " does not exist");
}

TEST(Checkpoint, RefusesAFileThatIsNotACheckpoint) {
  TempDir dir;
  const std::string path = dir.file("config.toml");
  WriteBytes(path, "[input]\nembeddings = \"model.h5\"\n# a configuration, not a checkpoint\n");
  EXPECT_EQ(ReadError(path), path + " is not a wsc checkpoint (it does not start with \"WSCCKPT1\")");
  // Short foreign files too (not reported as truncated checkpoints).
  WriteBytes(path, "abc");
  EXPECT_NE(ReadError(path).find("is not a wsc checkpoint"), std::string::npos);

  // A real checkpoint with one magic byte changed.
  write_checkpoint(path, MakeFull());
  std::string bytes = ReadBytes(path);
  bytes[7] = '2';
  WriteBytes(path, bytes);
  EXPECT_NE(ReadError(path).find("is not a wsc checkpoint"), std::string::npos);
}

TEST(Checkpoint, RefusesAnotherFormatVersion) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  std::string bytes = ReadBytes(path);
  PutLe(bytes, 8, RunState::kFormatVersion + 1, 4);
  WriteBytes(path, bytes);
  const std::string expected = "checkpoint " + path + " was written by checkpoint format version " +
                               std::to_string(RunState::kFormatVersion + 1) + ", this wsc reads version " +
                               std::to_string(RunState::kFormatVersion);
  EXPECT_EQ(ReadError(path), expected);
  // The version is judged before the rest of the header (a later version may
  // lay it out differently).
  WriteBytes(path, bytes.substr(0, 12));
  EXPECT_EQ(ReadError(path), expected);
}

TEST(Checkpoint, RefusesVersion1) {
  // Version 1 had FNV-1a checksums and fingerprints: its states are refused
  // by their version, not as corrupted.
  static_assert(RunState::kFormatVersion == 3);
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  std::string bytes = ReadBytes(path);
  PutLe(bytes, 8, 1, 4);
  WriteBytes(path, bytes);
  EXPECT_EQ(ReadError(path),
            "checkpoint " + path + " was written by checkpoint format version 1, this wsc reads version 3");
}

TEST(Checkpoint, RefusesTruncatedFiles) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  const std::string bytes = ReadBytes(path);
  const std::size_t full = bytes.size();
  const std::size_t header = kCheckpointHeaderSize;
  ASSERT_GT(full, header + 16);

  // Inside the header: magic, version, size, checksum.
  for (std::size_t length : {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{10},
                             std::size_t{12}, std::size_t{19}, std::size_t{27}}) {
    WriteBytes(path, bytes.substr(0, length));
    EXPECT_EQ(ReadError(path), "checkpoint " + path + " is truncated: has " + std::to_string(length) +
                                   " bytes, expected at least " + std::to_string(header))
        << "length " << length;
  }
  // Inside the payload (and a payload missing altogether).
  for (std::size_t length : {header, header + 1, header + (full - header) / 2, full - 1}) {
    WriteBytes(path, bytes.substr(0, length));
    EXPECT_EQ(ReadError(path), "checkpoint " + path + " is truncated: has " + std::to_string(length) +
                                   " bytes, expected " + std::to_string(full))
        << "length " << length;
  }
  // A header claiming far more payload than the file holds: refused from the
  // file's size, before anything of that size is allocated.
  std::string huge = bytes;
  PutLe(huge, 12, std::uint64_t{1} << 40, 8);
  WriteBytes(path, huge);
  EXPECT_EQ(ReadError(path), "checkpoint " + path + " is truncated: has " + std::to_string(full) +
                                 " bytes, expected " + std::to_string(header + (std::uint64_t{1} << 40)));
  // One whose end would lie beyond any file.
  PutLe(huge, 12, ~std::uint64_t{0}, 8);
  WriteBytes(path, huge);
  EXPECT_EQ(ReadError(path), "checkpoint " + path + " is corrupted: impossible payload size " +
                                 std::to_string(~std::uint64_t{0}));
  WriteBytes(path, bytes);
  EXPECT_NO_THROW(read_checkpoint(path));
}

TEST(Checkpoint, RefusesAFlippedPayloadByte) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  const std::string bytes = ReadBytes(path);
  // The first, a middle and the last payload byte; each flip alone.
  for (std::size_t at : {kCheckpointHeaderSize, (kCheckpointHeaderSize + bytes.size()) / 2, bytes.size() - 1}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    WriteBytes(path, flipped);
    EXPECT_EQ(ReadError(path), "checkpoint " + path + " is corrupted: the payload checksum does not match")
        << "byte " << at;
  }
  // So is a damaged checksum field.
  std::string damaged = bytes;
  damaged[20] = static_cast<char>(damaged[20] ^ 0x01);
  WriteBytes(path, damaged);
  EXPECT_NE(ReadError(path).find("is corrupted"), std::string::npos);
}

TEST(Checkpoint, RefusesTrailingBytes) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  write_checkpoint(path, MakeFull());
  const std::string bytes = ReadBytes(path);
  WriteBytes(path, bytes + "garbage");
  EXPECT_EQ(ReadError(path), "checkpoint " + path + " has 7 trailing bytes after the payload (has " +
                                 std::to_string(bytes.size() + 7) + " bytes, expected " +
                                 std::to_string(bytes.size()) + ")");
  // A second checkpoint appended is trailing bytes too.
  WriteBytes(path, bytes + bytes);
  EXPECT_NE(ReadError(path).find("trailing bytes"), std::string::npos);
}

TEST(Checkpoint, RefusesAPayloadThatDoesNotDecode) {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  const std::string prefix = "checkpoint " + path + " has a payload that cannot be decoded: ";

  // Valid header and checksum, payload not an archive at all: refused before
  // Boost reads its first 8 bytes as a string length and allocates it.
  const std::string not_archive = prefix + "it is not a Boost.Serialization archive";
  WriteBytes(path, WithHeader("this is not a Boost archive"));
  EXPECT_EQ(ReadError(path), not_archive);
  WriteBytes(path, WithHeader(""));
  EXPECT_EQ(ReadError(path), not_archive);
  std::string huge_signature(8, '\xff');
  WriteBytes(path, WithHeader(huge_signature + "serialization::archive"));
  EXPECT_EQ(ReadError(path), not_archive);

  // A real payload cut short (checksum recomputed, so only decoding notices).
  write_checkpoint(path, MakeFull());
  const std::string payload = ReadBytes(path).substr(kCheckpointHeaderSize);
  WriteBytes(path, WithHeader(payload.substr(0, payload.size() - 3)));
  EXPECT_EQ(ReadError(path).rfind(prefix, 0), 0u) << ReadError(path);

  // A real payload with bytes after the state.
  WriteBytes(path, WithHeader(payload + "xyz"));
  EXPECT_EQ(ReadError(path), prefix + "3 bytes left over after the state");

  // A payload claiming an absurd element count: refused without trying to
  // allocate it. The description's length is the first count after the
  // fingerprint; find it by writing a state with a known description.
  RunState small;
  small.fingerprint = 0x0102030405060708ULL;
  small.description = "QQQQ";
  write_checkpoint(path, small);
  std::string small_payload = ReadBytes(path).substr(kCheckpointHeaderSize);
  const std::size_t text = small_payload.find("QQQQ");
  ASSERT_NE(text, std::string::npos);
  ASSERT_GE(text, 8u);
  ASSERT_EQ(GetLe(small_payload, text - 8, 8), 4u);
  const std::size_t left = small_payload.size() - text;  // the bytes after the description's count
  for (std::uint64_t count : {std::uint64_t{1} << 40, (std::uint64_t{1} << 61) - 1, std::uint64_t{1} << 61,
                              std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t{left + 1}}) {
    std::string absurd = small_payload;
    PutLe(absurd, text - 8, count, 8);
    WriteBytes(path, WithHeader(absurd));
    // Refused against the bytes left before anything is allocated.
    EXPECT_EQ(ReadError(path), prefix + "a string of " + std::to_string(count) + " claims more than the " +
                                   std::to_string(left) + " bytes left in the payload")
        << "count " << count;
  }
  // Every array and the list of encodability nulls: a full state with each
  // count in turn replaced by lengths near 2^61 (counts found by their values).
  RunState counted;
  counted.observed_abs.assign(3, 0.5);
  counted.null_max.assign(5, 0.25);
  counted.score_null.assign(7, std::vector<double>(2, 0.125));
  counted.boot_cells.assign(11, 1.0);
  write_checkpoint(path, counted);
  const std::string counted_payload = ReadBytes(path).substr(kCheckpointHeaderSize);
  struct Counted {
    std::uint64_t count;
    std::uint64_t after;  // a value that follows the count
    const char* kind;
  };
  const double half = 0.5, quarter = 0.25, one = 1.0;
  std::uint64_t half_bits = 0, quarter_bits = 0, one_bits = 0;
  std::memcpy(&half_bits, &half, 8);
  std::memcpy(&quarter_bits, &quarter, 8);
  std::memcpy(&one_bits, &one, 8);
  for (const Counted& c : {Counted{3, half_bits, "an array"}, Counted{5, quarter_bits, "an array"},
                           Counted{7, 2, "a list of arrays"}, Counted{11, one_bits, "an array"}}) {
    std::string marker(16, '\0');
    PutLe(marker, 0, c.count, 8);
    PutLe(marker, 8, c.after, 8);
    const std::size_t at = counted_payload.find(marker);
    ASSERT_NE(at, std::string::npos) << "count " << c.count;
    for (std::uint64_t count : {(std::uint64_t{1} << 61) - 1, std::uint64_t{1} << 61, (std::uint64_t{1} << 61) + 1}) {
      std::string absurd = counted_payload;
      PutLe(absurd, at, count, 8);
      WriteBytes(path, WithHeader(absurd));
      const std::string message = ReadError(path);
      EXPECT_EQ(message.rfind(prefix + c.kind + " of " + std::to_string(count) + " claims more than the ", 0), 0u)
          << message;
      EXPECT_EQ(message.find('\n'), std::string::npos);
    }
  }

  // An invalid boolean (keep_cells): a state with a single vector field
  // set, then the byte after the cell count altered.
  RunState flag;
  flag.cells = 0x1122334455667788LL;
  flag.keep_cells = true;
  write_checkpoint(path, flag);
  std::string flag_payload = ReadBytes(path).substr(kCheckpointHeaderSize);
  std::string marker(8, '\0');
  PutLe(marker, 0, 0x1122334455667788ULL, 8);
  const std::size_t at = flag_payload.find(marker);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(flag_payload[at + 8], '\1');
  flag_payload[at + 8] = '\7';
  WriteBytes(path, WithHeader(flag_payload));
  EXPECT_EQ(ReadError(path), prefix + "invalid boolean value 7");
}

TEST(Checkpoint, RefusesAnUnwritableDestination) {
  TempDir dir;
  const RunState state = MakeFull();

  // A folder that does not exist.
  const std::string missing = dir.file("no/such/folder/run.ckpt");
  try {
    write_checkpoint(missing, state);
    ADD_FAILURE() << "no error for " << missing;
  } catch (const CheckpointError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot write checkpoint " + missing + ": ", 0), 0u) << e.what();
  }

  // A "folder" that is a regular file (refused even for root).
  WriteBytes(dir.file("plain"), "x");
  const std::string under_file = dir.file("plain/run.ckpt");
  EXPECT_THROW(write_checkpoint(under_file, state), CheckpointError);

  // The destination is a folder: the temporary file is written, the rename
  // fails, and the temporary file is removed.
  fs::create_directory(dir.file("taken"));
  try {
    write_checkpoint(dir.file("taken"), state);
    ADD_FAILURE() << "no error for a folder as destination";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write checkpoint " + dir.file("taken")), std::string::npos);
  }
  EXPECT_EQ(Entries(dir.path()), (std::vector<std::string>{"plain", "taken"}));

  // A folder without write permission (root writes anyway: not testable there).
  if (::geteuid() != 0) {
    const std::string locked = dir.file("locked");
    fs::create_directory(locked);
    write_checkpoint(locked + "/run.ckpt", state);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(write_checkpoint(locked + "/run.ckpt", state), CheckpointError);
    fs::permissions(locked, fs::perms::owner_all);
    EXPECT_EQ(Entries(locked), std::vector<std::string>{"run.ckpt"});
    ExpectSame(state, read_checkpoint(locked + "/run.ckpt"));
  }
}

TEST(Checkpoint, RefusesAFolderAsCheckpoint) {
  TempDir dir;
  EXPECT_EQ(ReadError(dir.path().string()), "checkpoint " + dir.path().string() + " is not a regular file");
}

}  // namespace

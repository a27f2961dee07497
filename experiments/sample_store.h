#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "experiments/sample.h"
#include "experiments/status.h"

namespace gameday {

// The run's sample store: every probe sample of every verifier of every experiment, appended to
// one file as the samples are decided, so that a run of any length holds only a bounded buffer in
// memory. result.json references it when an experiment's samples are too many to keep inline.
//
// Why a file of our own and not SQLite: a soak of 20 verifiers every 10 ms for 8 hours is 57.6 M
// samples. Sample times sit on a schedule, so delta-encoded varints take about 7.5 bytes a sample
// (bench/sample_store_bench: 100 streams, 10 ms ±50 µs, 0.5 % failing; about 430 MB for that
// soak, written at 2.6 M samples/s) where a SQLite row with its rowid and record header takes 40-50
// (over 2.5 GB); appends need no transaction, a torn tail loses only the block being written, and
// the reader is one small, fuzzed parser.
//
// Format (little-endian), file name `samples.gdsamples` next to result.json:
//   magic   "GDSAMPL1"
//   record* each: u8 type, u32 payload length, payload, u32 CRC-32 (IEEE) of type+length+payload
//     type 1 DECLARE: u32 stream, u16+bytes experiment name, u16+bytes verifier name,
//                     f64 interval seconds
//     type 2 BLOCK:   u32 stream, u32 count, then the count samples column by column:
//                     t_send (µs, zigzag varints: the first t_send, then the first step
//                     t1 - t0, then each step minus the step before: on a schedule that is the
//                     jitter, one byte), t_done - t_send (µs, zigzag varint), health (1 byte
//                     each: 0 healthy, 1 unhealthy, 2 unknown), latency minus (t_done - t_send)
//                     (µs, zigzag varint: usually 0), value presence (1 byte each) then f64 per
//                     present value, detail index (varint: 0 none, k = the block's k-th
//                     detail), then u32 detail count and u16+bytes each.
// Times are kept to the microsecond, as result.json keeps them. Every block stands alone, so a
// damaged block costs its own samples only when the damage can be delimited.
//
// Limits the reader enforces (a store is outside input once written): payload <= 16 MiB, count
// <= 1,000,000 per block, names and details <= 4 KiB, stream ids < 1,000,000, a BLOCK only for a
// declared stream, every varint <= 10 bytes, times finite.
// Further, as the writer writes them: the magic first; a stream declared once; a block's fields
// exactly fill its payload; a block holds at most as many details as samples and every detail
// index is <= that count; times and latencies within ±2^53 µs (exact as doubles); health <= 2,
// value presence 0 or 1, values finite (a value that is not finite is written as none, as
// result.json holds it: null); the interval finite and >= 0. The writer cuts a detail longer than
// 4 KiB at a UTF-8 character boundary and refuses longer names, and dedups details per block.
// Latency is stored in µs: result.json keeps latency_ms to 0.001, so both hold the same numbers.
// An error reads "FILE: byte OFFSET: what was expected", OFFSET being the start of the record at
// fault (0 for the magic). A reader skipping another stream's block reads its header and stream
// id only (its checksum is not checked then).

// The store's name in a run's report folder, next to result.json.
inline constexpr char kSampleStoreFileName[] = "samples.gdsamples";

// Where one verifier's samples are in a store.
struct SampleStreamInfo {
  uint32_t stream = 0;
  std::string experiment;
  std::string verifier;
  double interval_s = 0;
};

// Appends samples. Not thread-safe: the engine's sample feed calls it under its own lock.
class SampleWriter {
 public:
  // Creates `path` (O_CREAT|O_EXCL|O_NOFOLLOW, exactly mode `mode`: the umask does not narrow it)
  // in a folder that passes CheckTrustedDir (experiments/files.h) and writes the magic. An empty
  // path makes an anonymous temporary file (O_TMPFILE in $TMPDIR or /tmp, else mkstemp+unlink)
  // that disappears when the writer closes (engine tests, dry runs). After a write error every
  // later call returns that error: the file may end in a torn record.
  static Result<std::unique_ptr<SampleWriter>> Create(const std::string& path, unsigned mode);
  ~SampleWriter();
  SampleWriter(const SampleWriter&) = delete;
  SampleWriter& operator=(const SampleWriter&) = delete;

  // Declares a stream before its first sample. Ids are the caller's (unique per store).
  Status Declare(const SampleStreamInfo& info);
  // Buffers one sample of a declared stream; a full buffer (kBlockSamples) becomes a block.
  // InvalidArgument for a stream not declared or a time/latency not finite.
  Status Append(uint32_t stream, const Sample& s);
  // Writes every buffered sample as blocks (no fsync).
  Status Flush();
  // Flush, fsync. The writer stays readable (ReadAll) after Close.
  Status Close();

  // Reads back everything written so far (flushing first): the engine's final pass.
  Status ReadAll(const std::function<void(uint32_t stream, const Sample&)>& fn);
  const std::string& path() const { return path_; }
  uint64_t bytes_written() const { return bytes_; }

  static constexpr size_t kBlockSamples = 2048;

 private:
  SampleWriter() = default;
  struct Buffer;
  Buffer* Find(uint32_t stream);
  Status WriteRecord(uint8_t type, const std::string& payload);
  Status WriteBlock(Buffer& b);
  int fd_ = -1;
  std::string path_;
  std::string name_;  // for messages: the path, or what the anonymous file is
  uint64_t bytes_ = 0;
  Status broken_;  // the first write error: the file may end in a torn record after it
  bool closed_ = false;
  std::vector<std::unique_ptr<Buffer>> buffers_;  // in declaration order
  std::unordered_map<uint32_t, size_t> index_;    // stream id -> buffers_ index
};

// Reads a store. Every error names the file and the byte offset of the record at fault.
class SampleReader {
 public:
  // Opens `path` (O_NOFOLLOW) and checks the magic.
  static Result<SampleReader> Open(const std::string& path);
  // Reads the stream declarations only (skipping the blocks' contents).
  Result<std::vector<SampleStreamInfo>> Streams();
  // Calls `fn` for every sample of `streams` (all streams when empty), in file order, which is
  // send order within a stream. A damaged or truncated record ends the pass with an error after
  // the samples before it were delivered. NotFound when a stream of `streams` is not declared.
  Status ForEach(const std::vector<uint32_t>& streams,
                 const std::function<void(const SampleStreamInfo&, const Sample&)>& fn);

 private:
  std::string path_;
  std::shared_ptr<int> fd_;
};

}  // namespace gameday

#include "experiments/sample_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "experiments/crc32.h"
#include "experiments/files.h"

namespace gameday {
namespace {

constexpr char kMagic[] = "GDSAMPL1";
constexpr size_t kMagicLen = 8;
constexpr uint8_t kDeclare = 1;
constexpr uint8_t kBlock = 2;
constexpr size_t kHeaderLen = 5;  // u8 type, u32 length
constexpr size_t kCrcLen = 4;
constexpr uint32_t kMaxPayload = 16u << 20;
constexpr uint32_t kMaxCount = 1000000;
constexpr size_t kMaxText = 4096;
constexpr uint32_t kMaxStream = 1000000;  // ids are below this
constexpr size_t kMaxVarint = 10;
// Times and latencies in µs stay within ±2^53 so that they are exact in a double.
constexpr int64_t kMaxMicros = int64_t{1} << 53;
// The fewest bytes one sample takes in a BLOCK: a varint each for t_send, t_done and latency,
// a health byte, a presence byte and a detail-index varint.
constexpr uint32_t kMinSampleBytes = 6;

std::string ErrnoText(int err) { return std::strerror(err); }

// ---------------------------------------------------------------------------------------------
// Encoding

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU16(std::string& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutF64(std::string& out, double d) {
  uint64_t v;
  std::memcpy(&v, &d, sizeof v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
void PutText(std::string& out, const std::string& s) {
  PutU16(out, static_cast<uint16_t>(s.size()));
  out += s;
}

// `s` cut to kMaxText bytes, at a UTF-8 character boundary when it is UTF-8.
std::string Capped(const std::string& s) {
  if (s.size() <= kMaxText) return s;
  size_t n = kMaxText;
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xC0) == 0x80) --n;
  if (n == 0) n = kMaxText;
  return s.substr(0, n);
}

// Seconds (or milliseconds) to integer µs, rounded as result.json rounds them; false when not
// finite or out of range.
bool ToMicros(double v, double scale, int64_t* out) {
  if (!std::isfinite(v)) return false;
  const double us = std::round(v * scale);
  if (!(std::fabs(us) <= static_cast<double>(kMaxMicros))) return false;
  *out = static_cast<int64_t>(us);
  return true;
}

Status WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::Internal(ErrnoText(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Decoding: a cursor over one record's payload. Every read checks the bytes left first.

class Cursor {
 public:
  Cursor(const std::string& data, std::string* error) : data_(data), error_(error) {}
  bool ok() const { return error_->empty(); }
  size_t left() const { return data_.size() - pos_; }

  bool Fail(const std::string& what) {
    if (error_->empty()) *error_ = what;
    return false;
  }
  bool Need(size_t n, const char* what) {
    if (!ok()) return false;
    if (left() < n) {
      return Fail(std::string(what) + ": expected " + std::to_string(n) + " more bytes, the " +
                  "payload has " + std::to_string(left()));
    }
    return true;
  }
  bool U8(uint8_t* v, const char* what) {
    if (!Need(1, what)) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v, const char* what) {
    if (!Need(2, what)) return false;
    *v = static_cast<uint16_t>(Byte(0) | (Byte(1) << 8));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v, const char* what) {
    if (!Need(4, what)) return false;
    *v = Byte(0) | (Byte(1) << 8) | (Byte(2) << 16) | (Byte(3) << 24);
    pos_ += 4;
    return true;
  }
  bool F64(double* d, const char* what) {
    if (!Need(8, what)) return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(Byte(i)) << (8 * i);
    std::memcpy(d, &v, sizeof v);
    pos_ += 8;
    return true;
  }
  bool Varint(uint64_t* v, const char* what) {
    uint64_t out = 0;
    for (size_t i = 0; i < kMaxVarint; ++i) {
      uint8_t b;
      if (!U8(&b, what)) return false;
      if (i == kMaxVarint - 1 && (b & 0x80)) break;
      if (i == kMaxVarint - 1 && b > 1) {
        return Fail(std::string(what) + ": a varint that does not fit 64 bits");
      }
      out |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) {
        *v = out;
        return true;
      }
    }
    return Fail(std::string(what) + ": a varint longer than 10 bytes");
  }
  bool SignedVarint(int64_t* v, const char* what) {
    uint64_t u;
    if (!Varint(&u, what)) return false;
    *v = UnZigZag(u);
    return true;
  }
  // u16 length + bytes, at most kMaxText.
  bool Text(std::string* s, const char* what) {
    uint16_t n;
    if (!U16(&n, what)) return false;
    if (n > kMaxText) {
      return Fail(std::string(what) + ": " + std::to_string(n) + " bytes, at most " +
                  std::to_string(kMaxText) + " expected");
    }
    if (!Need(n, what)) return false;
    s->assign(data_, pos_, n);
    pos_ += n;
    return true;
  }

 private:
  uint32_t Byte(size_t i) const { return static_cast<uint8_t>(data_[pos_ + i]); }
  const std::string& data_;
  std::string* error_;
  size_t pos_ = 0;
};

bool InRange(int64_t us) { return us >= -kMaxMicros && us <= kMaxMicros; }

// Decodes a BLOCK's samples after its stream id. Empty string: fine; otherwise what is wrong.
std::string DecodeBlock(const std::string& payload, uint32_t* stream_out,
                        std::vector<Sample>* out) {
  std::string error;
  Cursor c(payload, &error);
  uint32_t stream = 0, count = 0;
  c.U32(&stream, "stream id");
  c.U32(&count, "sample count");
  if (!c.ok()) return error;
  *stream_out = stream;
  if (count > kMaxCount) {
    return "a block of " + std::to_string(count) + " samples, at most " +
           std::to_string(kMaxCount) + " expected";
  }
  if (static_cast<uint64_t>(count) * kMinSampleBytes > c.left()) {
    return "a block of " + std::to_string(count) + " samples needs at least " +
           std::to_string(static_cast<uint64_t>(count) * kMinSampleBytes) +
           " more bytes, the payload has " + std::to_string(c.left());
  }
  out->assign(count, Sample{});
  // Every stored difference of two in-range values is within ±2^55; checking that first keeps
  // the sums below from overflowing.
  auto small = [](int64_t v) { return v >= -4 * kMaxMicros && v <= 4 * kMaxMicros; };
  std::vector<int64_t> send(count), done(count);
  int64_t t = 0, step = 0;
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    int64_t v;
    if (!c.SignedVarint(&v, "t_send column")) break;
    if (i == 0) {
      t = v;
    } else if (small(v)) {
      step = i == 1 ? v : step + v;
      if (small(step)) t += step;
    }
    if (!small(v) || !small(step) || !InRange(t)) {
      c.Fail("t_send column: sample " + std::to_string(i) + " is out of range");
      break;
    }
    send[i] = t;
    (*out)[i].t_send = static_cast<double>(t) / 1e6;
  }
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    int64_t d;
    if (!c.SignedVarint(&d, "t_done column")) break;
    if (!small(d) || !InRange(send[i] + d)) {
      c.Fail("t_done column: sample " + std::to_string(i) + " is out of range");
      break;
    }
    done[i] = send[i] + d;
    (*out)[i].t_done = static_cast<double>(done[i]) / 1e6;
  }
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    uint8_t h;
    if (!c.U8(&h, "health column")) break;
    if (h > 2) {
      c.Fail("health column: sample " + std::to_string(i) + " has health " + std::to_string(h) +
             ", expected 0 (healthy), 1 (unhealthy) or 2 (unknown)");
      break;
    }
    (*out)[i].health = static_cast<Health>(h);
  }
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    int64_t d;
    if (!c.SignedVarint(&d, "latency column")) break;
    const int64_t us = small(d) ? d + (done[i] - send[i]) : 0;
    if (!small(d) || !InRange(us)) {
      c.Fail("latency column: sample " + std::to_string(i) + " is out of range");
      break;
    }
    (*out)[i].latency_ms = static_cast<double>(us) / 1e3;
  }
  std::vector<uint8_t> present(count);
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    if (!c.U8(&present[i], "value presence column")) break;
    if (present[i] > 1) {
      c.Fail("value presence column: sample " + std::to_string(i) + " has " +
             std::to_string(present[i]) + ", expected 0 or 1");
      break;
    }
  }
  for (uint32_t i = 0; i < count && c.ok(); ++i) {
    if (!present[i]) continue;
    double v;
    if (!c.F64(&v, "value column")) break;
    if (!std::isfinite(v)) {
      c.Fail("value column: sample " + std::to_string(i) + " has a value that is not finite");
      break;
    }
    (*out)[i].value = v;
  }
  std::vector<uint64_t> detail_index(count);
  for (uint32_t i = 0; i < count && c.ok(); ++i) c.Varint(&detail_index[i], "detail index column");
  uint32_t details = 0;
  if (c.U32(&details, "detail count") && details > count) {
    c.Fail("detail count " + std::to_string(details) + " is more than the block's " +
           std::to_string(count) + " samples");
  }
  if (!c.ok()) return error;
  std::vector<std::string> table(details);
  for (uint32_t k = 0; k < details && c.ok(); ++k) c.Text(&table[k], "detail");
  if (!c.ok()) return error;
  for (uint32_t i = 0; i < count; ++i) {
    if (detail_index[i] > details) {
      return "detail index column: sample " + std::to_string(i) + " names detail " +
             std::to_string(detail_index[i]) + ", the block has " + std::to_string(details);
    }
    if (detail_index[i] > 0) (*out)[i].detail = table[detail_index[i] - 1];
  }
  if (c.left() != 0) {
    return std::to_string(c.left()) + " bytes after the block's last field";
  }
  return {};
}

std::string DecodeDeclare(const std::string& payload, SampleStreamInfo* info) {
  std::string error;
  Cursor c(payload, &error);
  c.U32(&info->stream, "stream id");
  c.Text(&info->experiment, "experiment name");
  c.Text(&info->verifier, "verifier name");
  c.F64(&info->interval_s, "interval");
  if (!c.ok()) return error;
  if (info->stream >= kMaxStream) {
    return "stream id " + std::to_string(info->stream) + ", below " + std::to_string(kMaxStream) +
           " expected";
  }
  if (!std::isfinite(info->interval_s) || info->interval_s < 0) {
    return "the interval is not a finite number of seconds >= 0";
  }
  if (c.left() != 0) return std::to_string(c.left()) + " bytes after the declaration's fields";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Reading a store through a file descriptor (the reader's own, or the writer's).

bool ReadAt(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

struct ScanWant {
  bool samples = false;  // decode blocks (else skip them by their header)
  const std::unordered_set<uint32_t>* only = nullptr;  // streams whose blocks to decode
};

// One pass over the store: `on_declare` for each declaration, `on_block` for each decoded block
// of a wanted stream.
Status Scan(int fd, const std::string& name, const ScanWant& want,
            const std::function<void(const SampleStreamInfo&)>& on_declare,
            const std::function<void(const SampleStreamInfo&, std::vector<Sample>&)>& on_block) {
  auto at = [&](uint64_t offset, const std::string& what) {
    return Status::InvalidArgument(name + ": byte " + std::to_string(offset) + ": " + what);
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::Internal(name + ": cannot stat: " + ErrnoText(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string buf;
  if (size < kMagicLen || !ReadAt(fd, 0, kMagicLen, &buf)) {
    return at(0,
              "expected the magic \"GDSAMPL1\", the file has " + std::to_string(size) + " bytes");
  }
  if (buf != kMagic) return at(0, "expected the magic \"GDSAMPL1\" (not a gameday sample store)");
  std::unordered_map<uint32_t, SampleStreamInfo> declared;
  std::vector<Sample> samples;
  uint64_t offset = kMagicLen;
  while (offset < size) {
    if (size - offset < kHeaderLen) {
      return at(offset, "truncated record: expected a 5-byte record header, the file ends after " +
                            std::to_string(size - offset));
    }
    std::string header;
    if (!ReadAt(fd, offset, kHeaderLen, &header)) return at(offset, "cannot read the header");
    const uint8_t type = static_cast<uint8_t>(header[0]);
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<uint32_t>(static_cast<uint8_t>(header[1 + i])) << (8 * i);
    if (type != kDeclare && type != kBlock) {
      return at(offset,
                "record type " + std::to_string(type) + ", expected 1 (DECLARE) or 2 (BLOCK)");
    }
    if (len > kMaxPayload) {
      return at(offset, "a payload of " + std::to_string(len) + " bytes, at most " +
                            std::to_string(kMaxPayload) + " expected");
    }
    const uint64_t total = kHeaderLen + uint64_t{len} + kCrcLen;
    if (size - offset < total) {
      return at(offset, "truncated record: expected " + std::to_string(total) +
                            " bytes, the file ends after " + std::to_string(size - offset));
    }
    const char* kind = type == kDeclare ? "DECLARE" : "BLOCK";
    bool decode = type == kDeclare || want.samples;
    if (type == kBlock && decode && want.only) {
      // Skip another stream's block by its id alone: neither checksum nor decoding.
      std::string id;
      if (len < 4 || !ReadAt(fd, offset + kHeaderLen, 4, &id)) {
        return at(offset,
                  "BLOCK: stream id: expected 4 bytes, the payload has " + std::to_string(len));
      }
      uint32_t stream = 0;
      for (int i = 0; i < 4; ++i)
        stream |= static_cast<uint32_t>(static_cast<uint8_t>(id[i])) << (8 * i);
      if (!want.only->count(stream)) {
        if (!declared.count(stream)) {
          return at(offset, "BLOCK of stream " + std::to_string(stream) +
                                ", which no DECLARE before it names");
        }
        decode = false;
      }
    }
    if (decode) {
      std::string record;
      if (!ReadAt(fd, offset, static_cast<size_t>(total), &record)) {
        return at(offset, "cannot read the record");
      }
      uint32_t want_crc = 0;
      for (int i = 0; i < 4; ++i) {
        want_crc |= static_cast<uint32_t>(static_cast<uint8_t>(record[kHeaderLen + len + i]))
                    << (8 * i);
      }
      const uint32_t got_crc = Crc32(record.data(), kHeaderLen + len);
      if (got_crc != want_crc) {
        return at(offset, std::string(kind) + ": checksum mismatch (the record is damaged)");
      }
      const std::string payload = record.substr(kHeaderLen, len);
      if (type == kDeclare) {
        SampleStreamInfo info;
        std::string err = DecodeDeclare(payload, &info);
        if (!err.empty()) return at(offset, "DECLARE: " + err);
        if (declared.count(info.stream)) {
          return at(offset,
                    "DECLARE: stream " + std::to_string(info.stream) + " is declared twice");
        }
        on_declare(info);
        declared.emplace(info.stream, std::move(info));
      } else {
        uint32_t stream = 0;
        std::string err = DecodeBlock(payload, &stream, &samples);
        auto it = declared.find(stream);
        if (err.empty() && it == declared.end()) {
          err = "BLOCK of stream " + std::to_string(stream) + ", which no DECLARE before it names";
        }
        if (!err.empty()) {
          return at(offset, err.rfind("BLOCK", 0) == 0 ? err : "BLOCK: " + err);
        }
        on_block(it->second, samples);
      }
    }
    offset += total;
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SampleWriter

// One stream's samples since its last block, already encoded column by column.
struct SampleWriter::Buffer {
  uint32_t stream = 0;
  uint32_t count = 0;
  int64_t last_send = 0;
  int64_t last_step = 0;
  std::string send, done, health, latency, present, values, detail_index;
  std::vector<std::string> details;
  std::unordered_map<std::string, uint32_t> detail_ids;  // detail -> 1-based index
  void Clear() {
    count = 0;
    last_send = 0;
    last_step = 0;
    for (std::string* s : {&send, &done, &health, &latency, &present, &values, &detail_index}) {
      s->clear();
    }
    details.clear();
    detail_ids.clear();
  }
};

Result<std::unique_ptr<SampleWriter>> SampleWriter::Create(const std::string& path, unsigned mode) {
  std::unique_ptr<SampleWriter> w(new SampleWriter());
  const int flags = O_RDWR | O_CLOEXEC;
  if (path.empty()) {
    const char* env = std::getenv("TMPDIR");
    const std::string dir = env && *env ? env : "/tmp";
    w->name_ = "anonymous sample store in " + dir;
    w->fd_ = ::open(dir.c_str(), flags | O_TMPFILE, 0600);
    if (w->fd_ < 0) {
      // Filesystems without O_TMPFILE: a named file, unlinked at once.
      std::string tmpl = dir + "/gameday-samples-XXXXXX";
      w->fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
      if (w->fd_ < 0) {
        return Status::Internal(w->name_ + ": cannot create: " + ErrnoText(errno));
      }
      ::unlink(tmpl.c_str());
    }
  } else {
    const size_t slash = path.find_last_of('/');
    const std::string dir =
        slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
    if (Status trusted = CheckTrustedDir(dir); !trusted.ok()) return trusted;
    w->path_ = path;
    w->name_ = path;
    w->fd_ = ::open(path.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode & 0777);
    if (w->fd_ < 0) return Status::Internal(path + ": cannot create: " + ErrnoText(errno));
    // Exactly `mode`, as every report file: the umask does not narrow it.
    if (::fchmod(w->fd_, mode & 0777) != 0) {
      return Status::Internal(path + ": cannot set its mode: " + ErrnoText(errno));
    }
  }
  if (Status s = WriteAll(w->fd_, kMagic, kMagicLen); !s.ok()) {
    return Status::Internal(w->name_ + ": cannot write: " + s.message());
  }
  w->bytes_ = kMagicLen;
  return w;
}

SampleWriter::~SampleWriter() {
  if (fd_ >= 0) ::close(fd_);
}

SampleWriter::Buffer* SampleWriter::Find(uint32_t stream) {
  auto it = index_.find(stream);
  return it == index_.end() ? nullptr : buffers_[it->second].get();
}

Status SampleWriter::WriteRecord(uint8_t type, const std::string& payload) {
  if (!broken_.ok()) return broken_;
  std::string rec;
  rec.reserve(kHeaderLen + payload.size() + kCrcLen);
  PutU8(rec, type);
  PutU32(rec, static_cast<uint32_t>(payload.size()));
  rec += payload;
  PutU32(rec, Crc32(rec.data(), rec.size()));
  if (Status s = WriteAll(fd_, rec.data(), rec.size()); !s.ok()) {
    broken_ = Status::Internal(name_ + ": cannot write: " + s.message());
    return broken_;
  }
  bytes_ += rec.size();
  return Status::Ok();
}

Status SampleWriter::Declare(const SampleStreamInfo& info) {
  if (closed_) return Status::FailedPrecondition(name_ + ": the sample store is closed");
  if (info.stream >= kMaxStream) {
    return Status::InvalidArgument(name_ + ": stream id " + std::to_string(info.stream) +
                                   ", below " + std::to_string(kMaxStream) + " expected");
  }
  if (Find(info.stream)) {
    return Status::InvalidArgument(name_ + ": stream " + std::to_string(info.stream) +
                                   " is declared twice");
  }
  if (info.experiment.size() > kMaxText || info.verifier.size() > kMaxText) {
    return Status::InvalidArgument(name_ + ": stream " + std::to_string(info.stream) +
                                   ": names are at most 4096 bytes");
  }
  if (!std::isfinite(info.interval_s) || info.interval_s < 0) {
    return Status::InvalidArgument(name_ + ": stream " + std::to_string(info.stream) +
                                   ": the interval is not a finite number of seconds >= 0");
  }
  std::string payload;
  PutU32(payload, info.stream);
  PutText(payload, info.experiment);
  PutText(payload, info.verifier);
  PutF64(payload, info.interval_s);
  if (Status s = WriteRecord(kDeclare, payload); !s.ok()) return s;
  auto b = std::make_unique<Buffer>();
  b->stream = info.stream;
  index_.emplace(info.stream, buffers_.size());
  buffers_.push_back(std::move(b));
  return Status::Ok();
}

Status SampleWriter::Append(uint32_t stream, const Sample& s) {
  if (closed_) return Status::FailedPrecondition(name_ + ": the sample store is closed");
  if (!broken_.ok()) return broken_;
  Buffer* b = Find(stream);
  if (!b) {
    return Status::InvalidArgument(name_ + ": stream " + std::to_string(stream) +
                                   " was not declared");
  }
  int64_t send = 0, done = 0, latency = 0;
  if (!ToMicros(s.t_send, 1e6, &send) || !ToMicros(s.t_done, 1e6, &done) ||
      !ToMicros(s.latency_ms, 1e3, &latency)) {
    return Status::InvalidArgument(name_ + ": stream " + std::to_string(stream) +
                                   ": a sample's t_send, t_done or latency is not a finite "
                                   "number within ±2^53 µs");
  }
  // t_send: the first, then the first step, then how each step differs from the one before
  // (on a schedule, a few µs of jitter). Latency: how it differs from t_done - t_send.
  const int64_t step = send - b->last_send;
  PutVarint(b->send, ZigZag(b->count == 0 ? send : b->count == 1 ? step : step - b->last_step));
  b->last_step = step;
  b->last_send = send;
  PutVarint(b->done, ZigZag(done - send));
  PutU8(b->health, static_cast<uint8_t>(s.health));
  PutVarint(b->latency, ZigZag(latency - (done - send)));
  // A value that is not finite is stored as none, as result.json holds it (null).
  const bool present = s.value && std::isfinite(*s.value);
  PutU8(b->present, present ? 1 : 0);
  if (present) PutF64(b->values, *s.value);
  uint32_t detail = 0;
  if (!s.detail.empty()) {
    std::string text = Capped(s.detail);
    auto [it, added] = b->detail_ids.try_emplace(text, 0);
    if (added) {
      b->details.push_back(text);
      it->second = static_cast<uint32_t>(b->details.size());
    }
    detail = it->second;
  }
  PutVarint(b->detail_index, detail);
  ++b->count;
  if (b->count >= kBlockSamples) return WriteBlock(*b);
  return Status::Ok();
}

Status SampleWriter::WriteBlock(Buffer& b) {
  if (b.count == 0) return Status::Ok();
  std::string payload;
  PutU32(payload, b.stream);
  PutU32(payload, b.count);
  for (const std::string* col :
       {&b.send, &b.done, &b.health, &b.latency, &b.present, &b.values, &b.detail_index}) {
    payload += *col;
  }
  PutU32(payload, static_cast<uint32_t>(b.details.size()));
  for (const std::string& d : b.details) PutText(payload, d);
  Status s = WriteRecord(kBlock, payload);
  b.Clear();
  return s;
}

Status SampleWriter::Flush() {
  if (!broken_.ok()) return broken_;
  for (auto& b : buffers_) {
    if (Status s = WriteBlock(*b); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SampleWriter::Close() {
  if (closed_) return broken_;
  if (Status s = Flush(); !s.ok()) return s;
  closed_ = true;
  if (::fsync(fd_) != 0) {
    broken_ = Status::Internal(name_ + ": cannot fsync: " + ErrnoText(errno));
  }
  return broken_;
}

Status SampleWriter::ReadAll(const std::function<void(uint32_t stream, const Sample&)>& fn) {
  if (!closed_) {
    if (Status s = Flush(); !s.ok()) return s;
  }
  ScanWant want;
  want.samples = true;
  return Scan(
      fd_, name_, want, [](const SampleStreamInfo&) {},
      [&](const SampleStreamInfo& info, std::vector<Sample>& samples) {
        for (const Sample& s : samples) fn(info.stream, s);
      });
}

// ---------------------------------------------------------------------------------------------
// SampleReader

Result<SampleReader> SampleReader::Open(const std::string& path) {
  const int fd = ::open(path.c_str(),
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) {
    const int err = errno;
    const std::string why = err == ELOOP ? "is a symlink, not a sample store" : ErrnoText(err);
    if (err == ENOENT) return Status::NotFound(path + ": cannot open: " + why);
    return Status::InvalidArgument(path + ": cannot open: " + why);
  }
  SampleReader r;
  r.path_ = path;
  r.fd_ = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + ": not a regular file");
  }
  std::string magic;
  if (st.st_size < static_cast<off_t>(kMagicLen) || !ReadAt(fd, 0, kMagicLen, &magic) ||
      magic != kMagic) {
    return Status::InvalidArgument(path + ": byte 0: expected the magic \"GDSAMPL1\" (not a " +
                                   "gameday sample store)");
  }
  return r;
}

Result<std::vector<SampleStreamInfo>> SampleReader::Streams() {
  std::vector<SampleStreamInfo> out;
  Status s = Scan(
      *fd_, path_, ScanWant{}, [&](const SampleStreamInfo& info) { out.push_back(info); },
      [](const SampleStreamInfo&, std::vector<Sample>&) {});
  if (!s.ok()) return s;
  return out;
}

Status SampleReader::ForEach(
    const std::vector<uint32_t>& streams,
    const std::function<void(const SampleStreamInfo&, const Sample&)>& fn) {
  const std::unordered_set<uint32_t> only(streams.begin(), streams.end());
  std::unordered_set<uint32_t> seen;
  ScanWant want;
  want.samples = true;
  if (!only.empty()) want.only = &only;
  Status s = Scan(
      *fd_, path_, want, [&](const SampleStreamInfo& info) { seen.insert(info.stream); },
      [&](const SampleStreamInfo& info, std::vector<Sample>& samples) {
        for (const Sample& x : samples) fn(info, x);
      });
  if (!s.ok()) return s;
  for (uint32_t id : streams) {
    if (!seen.count(id)) {
      return Status::NotFound(path_ + ": no stream " + std::to_string(id) + " in the store");
    }
  }
  return Status::Ok();
}

}  // namespace gameday

#include "experiments/sample_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "experiments/crc32.h"
#include "reports/json_report.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

class SampleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "sample_store_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/samples.gdsamples";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SampleWriter> NewWriter(const std::string& path) {
    auto w = SampleWriter::Create(path, 0600);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }

  std::string Read() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Write(const std::string& bytes) {
    fs::remove(path_);
    std::ofstream(path_, std::ios::binary) << bytes;
  }

  // Every sample of the store at path_, by stream; the error of the pass in *status.
  std::map<uint32_t, std::vector<Sample>> ReadBack(Status* status,
                                                   const std::vector<uint32_t>& only = {}) {
    std::map<uint32_t, std::vector<Sample>> out;
    auto r = SampleReader::Open(path_);
    if (!r.ok()) {
      *status = r.status();
      return out;
    }
    *status = r->ForEach(only, [&](const SampleStreamInfo& info, const Sample& s) {
      out[info.stream].push_back(s);
    });
    return out;
  }

  // The message of reading the store at path_ to its end (empty when it reads cleanly).
  std::string ErrorOf(const std::string& bytes) {
    Write(bytes);
    Status s;
    ReadBack(&s);
    return s.message();
  }

  std::string dir_, path_;
};

// What result.json holds of a time in seconds (and a latency in ms): the store must hold the same.
double Micros(double v) { return std::round(v * 1e6) / 1e6 + 0.0; }
double MicroMillis(double v) { return std::round(v * 1e3) / 1e3 + 0.0; }

Sample Expected(Sample s) {
  s.t_send = Micros(s.t_send);
  s.t_done = Micros(s.t_done);
  s.latency_ms = MicroMillis(s.latency_ms);
  if (s.value && !std::isfinite(*s.value)) s.value.reset();
  return s;
}

void ExpectSame(const std::vector<Sample>& want, const std::vector<Sample>& got,
                const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    const Sample& a = want[i];
    const Sample& b = got[i];
    ASSERT_TRUE(a.t_send == b.t_send && a.t_done == b.t_done && a.health == b.health &&
                a.latency_ms == b.latency_ms && a.value == b.value && a.detail == b.detail)
        << what << "[" << i << "]: t_send " << a.t_send << "/" << b.t_send << " t_done " << a.t_done
        << "/" << b.t_done << " latency " << a.latency_ms << "/" << b.latency_ms << " health "
        << static_cast<int>(a.health) << "/" << static_cast<int>(b.health) << " value "
        << (a.value ? std::to_string(*a.value) : "none") << "/"
        << (b.value ? std::to_string(*b.value) : "none") << " detail '" << a.detail << "'/'"
        << b.detail << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-made records, for damaged files.

void U16(std::string& o, uint16_t v) {
  o += static_cast<char>(v & 0xFF);
  o += static_cast<char>(v >> 8);
}
void U32(std::string& o, uint32_t v) {
  for (int i = 0; i < 4; ++i) o += static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::string Record(uint8_t type, const std::string& payload) {
  std::string r(1, static_cast<char>(type));
  U32(r, static_cast<uint32_t>(payload.size()));
  r += payload;
  U32(r, Crc32(r.data(), r.size()));
  return r;
}
std::string DeclarePayload(uint32_t stream) {
  std::string p;
  U32(p, stream);
  U16(p, 1);
  p += "e";
  U16(p, 1);
  p += "v";
  const double interval = 0.01;
  uint64_t bits;
  std::memcpy(&bits, &interval, 8);
  U32(p, static_cast<uint32_t>(bits));
  U32(p, static_cast<uint32_t>(bits >> 32));
  return p;
}
// A block of one healthy sample at t = 1 µs, then `tail` (the detail table by default).
std::string OneSampleBlock(uint32_t stream,
                           const std::string& columns = std::string("\x02\x00\x00\x00\x00\x00", 6),
                           const std::string& tail = std::string(4, '\0')) {
  std::string p;
  U32(p, stream);
  U32(p, 1);
  return p + columns + tail;
}
const std::string kMagic = "GDSAMPL1";
const std::string kDeclared = kMagic + Record(1, DeclarePayload(0));  // 8 + 27 bytes

// ---------------------------------------------------------------------------------------------

TEST(Crc32Test, IsTheIeeeChecksum) {
  EXPECT_EQ(Crc32("123456789", 9), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(Crc32("", 0), 0u);
  EXPECT_EQ(Crc32("6789", 4, Crc32("12345", 5)), 0xCBF43926u);  // continues
}

TEST_F(SampleStoreTest, ManyInterleavedStreamsRoundTripToWhatResultJsonHolds) {
  auto w = NewWriter(path_);
  ASSERT_TRUE(w);
  const uint32_t kStreams = 7;
  // Sparse ids; stream 5 stays empty; the sizes hit a block boundary exactly, one past it, ...
  const std::vector<uint32_t> ids = {0, 3, 17, 999999, 42, 5, 8};
  const std::vector<size_t> sizes = {SampleWriter::kBlockSamples,
                                     SampleWriter::kBlockSamples + 1,
                                     1,
                                     3 * SampleWriter::kBlockSamples + 17,
                                     5000,
                                     0,
                                     2047};
  for (uint32_t k = 0; k < kStreams; ++k) {
    ASSERT_TRUE(w->Declare({ids[k], "exp " + std::to_string(k % 2), "verifier " + std::to_string(k),
                            0.01 * (k + 1)})
                    .ok());
  }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> jitter(-50e-6, 50e-6);
  std::map<uint32_t, std::vector<Sample>> want;
  std::vector<size_t> next(kStreams, 0);
  size_t left = 0;
  for (size_t n : sizes) left += n;
  while (left > 0) {
    const uint32_t k = static_cast<uint32_t>(rng() % kStreams);
    if (next[k] == sizes[k]) continue;
    const size_t i = next[k]++;
    --left;
    Sample s;
    s.t_send = 0.01 * static_cast<double>(i) + jitter(rng) + 1e-9 / 3;  // not on the µs grid
    s.t_done = s.t_send + 0.0012345678;
    s.latency_ms = 1.2345678 + static_cast<double>(i % 7);
    switch (i % 10) {
      case 3:
        s.health = Health::kUnhealthy;
        s.detail = i % 20 == 3 ? "HTTP 503" : "connection refused, \"quoted\"\nline";
        break;
      case 7:
        s.health = Health::kUnknown;
        s.detail = "prometheus: query timed out";
        break;
      default:
        s.health = Health::kHealthy;
    }
    if (k == 4) s.value = i % 3 == 0 ? std::optional<double>() : 0.1 + 1.0 / (i + 3.0);
    if (k == 4 && i == 9) s.value = std::numeric_limits<double>::quiet_NaN();  // stored as none
    if (k == 4 && i == 10) s.value = -std::numeric_limits<double>::infinity();
    if (k == 4 && i == 11) s.value = std::numeric_limits<double>::denorm_min();
    if (k == 4 && i == 12) s.value = -1e308;
    ASSERT_TRUE(w->Append(ids[k], s).ok());
    want[ids[k]].push_back(Expected(s));
  }
  ASSERT_TRUE(w->Close().ok());

  Status st;
  auto got = ReadBack(&st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(got.count(5));  // declared, never sampled
  for (uint32_t k = 0; k < kStreams; ++k) {
    ExpectSame(want[ids[k]], got[ids[k]], "stream " + std::to_string(ids[k]));
  }

  // The writer reads back the same through its own descriptor.
  std::map<uint32_t, std::vector<Sample>> again;
  ASSERT_TRUE(w->ReadAll([&](uint32_t id, const Sample& s) { again[id].push_back(s); }).ok());
  for (uint32_t id : ids) ExpectSame(want[id], again[id], "ReadAll " + std::to_string(id));

  // A filter delivers those streams only.
  auto some = ReadBack(&st, {17, 42});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(some.size(), 2u);
  ExpectSame(want[42], some[42], "filtered 42");

  // The declarations, in file order.
  auto reader = SampleReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  auto streams = reader->Streams();
  ASSERT_TRUE(streams.ok()) << streams.status().ToString();
  ASSERT_EQ(streams->size(), kStreams);
  EXPECT_EQ((*streams)[3].stream, 999999u);
  EXPECT_EQ((*streams)[3].verifier, "verifier 3");
  EXPECT_EQ((*streams)[3].experiment, "exp 1");
  EXPECT_EQ((*streams)[3].interval_s, 0.01 * 4);

  // Exactly what result.json holds for the same samples.
  RunResult run;
  run.experiments.resize(1);
  run.experiments[0].verifiers.resize(1);
  // Without the two extreme values: a number past 1e300 or below 1e-300 anywhere in a document
  // turns off ParseJson's full-precision path for all of it (experiments/json.cc), and then other
  // values may come back one ulp off. The store keeps every value's bits.
  std::vector<Sample> stored = got[42];
  stored.erase(stored.begin() + 11, stored.begin() + 13);
  run.experiments[0].verifiers[0].samples = stored;
  auto parsed = ParseJsonResult(RenderJson(run));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSame(parsed->experiments[0].verifiers[0].samples, stored, "result.json vs store");
  EXPECT_EQ(got[42][11].value, std::optional<double>(std::numeric_limits<double>::denorm_min()));
  EXPECT_EQ(got[42][12].value, std::optional<double>(-1e308));
  EXPECT_FALSE(got[42][9].value.has_value());   // NaN: none, as result.json holds it
  EXPECT_FALSE(got[42][10].value.has_value());  // -inf
}

TEST_F(SampleStoreTest, UnknownStreamInAFilterIsNotFound) {
  auto w = NewWriter(path_);
  ASSERT_TRUE(w->Declare({1, "e", "v", 1}).ok());
  ASSERT_TRUE(w->Close().ok());
  Status st;
  ReadBack(&st, {2});
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_EQ(st.message(), path_ + ": no stream 2 in the store");
}

// On a schedule a sample takes about 7 bytes: t_send's step changes by the jitter only, and
// latency is t_done - t_send give or take a few µs.
TEST_F(SampleStoreTest, ScheduledSamplesTakeFewBytes) {
  auto w = NewWriter(path_);
  ASSERT_TRUE(w->Declare({0, "e", "v", 0.01}).ok());
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> jitter(-50e-6, 50e-6), latency(0.3, 3.0);
  const size_t n = 20000;
  for (size_t i = 0; i < n; ++i) {
    Sample s;
    s.t_send = 0.01 * static_cast<double>(i) + jitter(rng);
    s.latency_ms = latency(rng);
    s.t_done = s.t_send + s.latency_ms / 1e3;
    s.health = Health::kHealthy;
    ASSERT_TRUE(w->Append(0, s).ok());
  }
  ASSERT_TRUE(w->Close().ok());
  EXPECT_LT(static_cast<double>(w->bytes_written()) / n, 7.5);
}

TEST_F(SampleStoreTest, DetailsAreStoredOncePerBlockAndCappedAt4KiB) {
  const std::string repeated(200, 'x');
  auto w = NewWriter(path_);
  ASSERT_TRUE(w->Declare({0, "e", "v", 0.01}).ok());
  for (int i = 0; i < 100; ++i) {
    Sample s;
    s.t_send = i * 0.01;
    s.t_done = s.t_send;
    s.health = Health::kUnhealthy;
    s.detail = repeated;
    ASSERT_TRUE(w->Append(0, s).ok());
  }
  ASSERT_TRUE(w->Flush().ok());
  // 100 samples of a 200-byte detail: the text once, an index per sample.
  EXPECT_LT(w->bytes_written(), 2000u);  // 20,000 if each sample carried its own copy

  // 4096 bytes at most, cut before a character that would not fit: "é" is 2 bytes.
  Sample s;
  s.detail = std::string(4095, 'a') + "\xc3\xa9" + "tail";
  ASSERT_TRUE(w->Append(0, s).ok());
  s.detail = std::string(5000, 'b');
  ASSERT_TRUE(w->Append(0, s).ok());
  std::vector<std::string> details;
  ASSERT_TRUE(w->ReadAll([&](uint32_t, const Sample& x) { details.push_back(x.detail); }).ok());
  ASSERT_EQ(details.size(), 102u);
  EXPECT_EQ(details[0], repeated);
  EXPECT_EQ(details[100], std::string(4095, 'a'));
  EXPECT_EQ(details[101], std::string(4096, 'b'));
}

TEST_F(SampleStoreTest, WriterRefusesWhatItCannotStore) {
  auto w = NewWriter(path_);
  ASSERT_TRUE(w->Declare({0, "e", "v", 0.01}).ok());
  EXPECT_EQ(w->Declare({0, "e", "w", 0.01}).message(), path_ + ": stream 0 is declared twice");
  EXPECT_EQ(w->Declare({1000000, "e", "v", 0.01}).message(),
            path_ + ": stream id 1000000, below 1000000 expected");
  EXPECT_EQ(w->Declare({2, std::string(4097, 'n'), "v", 0.01}).message(),
            path_ + ": stream 2: names are at most 4096 bytes");
  EXPECT_FALSE(w->Declare({3, "e", "v", std::nan("")}).ok());
  Sample s;
  EXPECT_EQ(w->Append(9, s).message(), path_ + ": stream 9 was not declared");
  s.t_done = std::numeric_limits<double>::infinity();
  EXPECT_EQ(w->Append(0, s).code(), Status::Code::kInvalidArgument);
  s.t_done = 0;
  s.t_send = 1e10;  // 1e16 µs > 2^53
  EXPECT_EQ(w->Append(0, s).code(), Status::Code::kInvalidArgument);
  s.t_send = 0;
  ASSERT_TRUE(w->Append(0, s).ok());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(w->Append(0, s).code(), Status::Code::kFailedPrecondition);
  size_t n = 0;
  ASSERT_TRUE(w->ReadAll([&](uint32_t, const Sample&) { ++n; }).ok());  // readable after Close
  EXPECT_EQ(n, 1u);
}

TEST_F(SampleStoreTest, CreateNeverReplacesNorFollowsAndGivesTheExactMode) {
  const mode_t old_umask = ::umask(077);
  auto w = SampleWriter::Create(path_, 0640);
  ::umask(old_umask);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_FALSE(SampleWriter::Create(path_, 0600).ok());  // exists
  const std::string link = dir_ + "/link.gdsamples";
  fs::create_symlink(dir_ + "/elsewhere", link);
  EXPECT_FALSE(SampleWriter::Create(link, 0600).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/elsewhere"));
  // Reading refuses a symlink too.
  fs::create_symlink(path_, dir_ + "/to-store");
  auto r = SampleReader::Open(dir_ + "/to-store");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            dir_ + "/to-store: cannot open: is a symlink, not a sample store");
  // A folder that others may write to is refused.
  fs::create_directory(dir_ + "/open");
  ::chmod((dir_ + "/open").c_str(), 0777);
  EXPECT_EQ(SampleWriter::Create(dir_ + "/open/s.gdsamples", 0600).status().code(),
            Status::Code::kFailedPrecondition);
}

TEST_F(SampleStoreTest, AnonymousStoreLeavesNoFileBehind) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", dir_.c_str(), 1);
  auto w = SampleWriter::Create("", 0600);
  if (old) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE((*w)->path().empty());
  EXPECT_TRUE(fs::is_empty(dir_));
  ASSERT_TRUE((*w)->Declare({0, "e", "v", 0.01}).ok());
  Sample s;
  s.t_send = 1.5;
  s.health = Health::kUnknown;
  ASSERT_TRUE((*w)->Append(0, s).ok());
  std::vector<Sample> got;
  ASSERT_TRUE((*w)->ReadAll([&](uint32_t, const Sample& x) { got.push_back(x); }).ok());
  ExpectSame({Expected(s)}, got, "anonymous");
}

TEST_F(SampleStoreTest, SamplesBeforeATornTailAreDelivered) {
  auto w = NewWriter(path_);
  ASSERT_TRUE(w->Declare({0, "e", "v", 0.01}).ok());
  Sample s;
  s.health = Health::kHealthy;
  for (size_t i = 0; i < SampleWriter::kBlockSamples + 3; ++i) {
    s.t_send = static_cast<double>(i) * 0.01;
    s.t_done = s.t_send;
    ASSERT_TRUE(w->Append(0, s).ok());
  }
  ASSERT_TRUE(w->Close().ok());
  const std::string bytes = Read();
  // The last block: header 5, stream and count 8, t_send 4+3+1 (20.48 s, a step of 10 ms, the
  // same step again), 3 bytes each for t_done, health, latency, presence and detail index, detail
  // count 4, CRC 4.
  const uint64_t second = w->bytes_written() - 44;
  Write(bytes.substr(0, bytes.size() - 3));
  Status st;
  auto got = ReadBack(&st);
  EXPECT_EQ(got[0].size(), SampleWriter::kBlockSamples);
  EXPECT_EQ(st.message(), path_ + ": byte " + std::to_string(second) +
                              ": truncated record: expected 44 bytes, the file ends after 41");
}

TEST_F(SampleStoreTest, DamagedFilesGiveTheirExactError) {
  const std::string at = path_ + ": byte ";
  const std::string block_at = at + "35: ";
  struct Case {
    std::string name, bytes, error;
  };
  const std::string ok_block = Record(2, OneSampleBlock(0));
  std::string bad_crc = kDeclared + ok_block;
  bad_crc[bad_crc.size() - 6] ^= 0x01;
  std::string huge_len = kDeclared + ok_block;
  huge_len[36] = '\xff';
  huge_len[37] = '\xff';
  huge_len[38] = '\xff';
  huge_len[39] = '\xff';
  std::string past_end = kDeclared + ok_block;
  past_end[36] = '\x40';  // 64 bytes of payload in a 31-byte record
  std::string count_2m;
  U32(count_2m, 0);
  U32(count_2m, 2000000);
  std::string count_1m;
  U32(count_1m, 0);
  U32(count_1m, 1000000);
  count_1m += std::string(10, '\0');
  std::string detail_4097;
  U32(detail_4097, 1);
  U16(detail_4097, 4097);
  detail_4097 += std::string(4097, 'd');
  const std::string index_1 = std::string("\x02\x00\x00\x00\x00\x01", 6);
  std::string dup_declare = kDeclared + Record(1, DeclarePayload(0));
  std::string nan_value = std::string("\x02\x00\x00\x00\x01", 5);
  const double nan = std::nan("");
  nan_value.append(reinterpret_cast<const char*>(&nan), 8);
  nan_value += '\0';
  const std::vector<Case> cases = {
      {"empty file", "", at + "0: expected the magic \"GDSAMPL1\" (not a gameday sample store)"},
      {"bad magic", "GDSAMPL2",
       at + "0: expected the magic \"GDSAMPL1\" (not a gameday sample store)"},
      {"torn header", kMagic + std::string("\x01\x00", 2),
       at + "8: truncated record: expected a 5-byte record header, the file ends after 2"},
      {"record type", kMagic + Record(3, ""),
       at + "8: record type 3, expected 1 (DECLARE) or 2 (BLOCK)"},
      {"bad checksum", bad_crc, block_at + "BLOCK: checksum mismatch (the record is damaged)"},
      {"huge length", huge_len,
       block_at + "a payload of 4294967295 bytes, at most 16777216 expected"},
      {"length past the end", past_end,
       block_at + "truncated record: expected 73 bytes, the file ends after 27"},
      {"undeclared stream", kMagic + Record(2, OneSampleBlock(7)),
       at + "8: BLOCK of stream 7, which no DECLARE before it names"},
      {"declared twice", dup_declare, block_at + "DECLARE: stream 0 is declared twice"},
      {"huge count", kDeclared + Record(2, count_2m),
       block_at + "BLOCK: a block of 2000000 samples, at most 1000000 expected"},
      {"count beyond the payload", kDeclared + Record(2, count_1m),
       block_at + "BLOCK: a block of 1000000 samples needs at least 6000000 more bytes, the "
                  "payload has 10"},
      {"overlong varint",
       kDeclared + Record(2, OneSampleBlock(0, std::string(11, '\x80') + std::string(5, '\0'))),
       block_at + "BLOCK: t_send column: a varint longer than 10 bytes"},
      {"varint past 64 bits",
       kDeclared +
           Record(2, OneSampleBlock(0, std::string(9, '\xff') + "\x02" + std::string(5, '\0'))),
       block_at + "BLOCK: t_send column: a varint that does not fit 64 bits"},
      {"time out of range",
       kDeclared +
           Record(2, OneSampleBlock(0, std::string(8, '\xff') + "\x7f" + std::string(5, '\0'))),
       block_at + "BLOCK: t_send column: sample 0 is out of range"},
      {"health",
       kDeclared + Record(2, OneSampleBlock(0, std::string("\x02\x00\x03\x00\x00\x00", 6))),
       block_at + "BLOCK: health column: sample 0 has health 3, expected 0 (healthy), 1 "
                  "(unhealthy) or 2 (unknown)"},
      {"value not finite", kDeclared + Record(2, OneSampleBlock(0, nan_value)),
       block_at + "BLOCK: value column: sample 0 has a value that is not finite"},
      {"detail index", kDeclared + Record(2, OneSampleBlock(0, index_1)),
       block_at + "BLOCK: detail index column: sample 0 names detail 1, the block has 0"},
      {"detail too long", kDeclared + Record(2, OneSampleBlock(0, index_1, detail_4097)),
       block_at + "BLOCK: detail: 4097 bytes, at most 4096 expected"},
      {"more details than samples",
       kDeclared + Record(2, OneSampleBlock(0, index_1, std::string("\x02\x00\x00\x00", 4))),
       block_at + "BLOCK: detail count 2 is more than the block's 1 samples"},
      {"bytes after the fields", kDeclared + Record(2, OneSampleBlock(0) + "!"),
       block_at + "BLOCK: 1 bytes after the block's last field"},
      {"short block", kDeclared + Record(2, OneSampleBlock(0, "\x02", "")),
       block_at + "BLOCK: a block of 1 samples needs at least 6 more bytes, the payload has 1"},
      {"declare cut short", kMagic + Record(1, DeclarePayload(0).substr(0, 12)),
       at + "8: DECLARE: interval: expected 8 more bytes, the payload has 2"},
      {"name too long",
       kMagic + Record(1, std::string("\0\0\0\0\x01\x10", 6) + std::string(4097, 'n')),
       at + "8: DECLARE: experiment name: 4097 bytes, at most 4096 expected"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorOf(c.bytes), c.error) << c.name;
  }
  // The well-formed version of those blocks reads.
  EXPECT_EQ(ErrorOf(kDeclared + ok_block), "");
  Write(kDeclared + ok_block);
  Status st;
  auto got = ReadBack(&st);
  ASSERT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[0][0].t_send, 1e-6);
}

TEST_F(SampleStoreTest, AFilterSkipsOtherStreamsBlocksWithoutDecodingThem) {
  // Stream 1's block is damaged inside (checksum); a reader of stream 0 never looks at it.
  std::string other = Record(2, OneSampleBlock(1));
  other[other.size() - 6] ^= 0x01;
  const std::string bytes =
      kDeclared + Record(1, DeclarePayload(1)) + other + Record(2, OneSampleBlock(0));
  Write(bytes);
  Status st;
  auto got = ReadBack(&st, {0});
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got[0].size(), 1u);
  ReadBack(&st, {1});
  EXPECT_EQ(st.message(), path_ + ": byte 62: BLOCK: checksum mismatch (the record is damaged)");
}

// The fuzz seed was written by an independent encoder (Python, from the format in the header):
// the reader must agree with it.
TEST_F(SampleStoreTest, ReadsAStoreWrittenByAnotherEncoder) {
  std::ifstream in(std::string(GAMEDAY_SOURCE_DIR) + "/tests/fuzz/corpus/sample_store/two-streams",
                   std::ios::binary);
  std::stringstream seed;
  seed << in.rdbuf();
  ASSERT_GT(seed.str().size(), 1u);
  Write(seed.str().substr(1));  // the fuzz target's first byte is its mode
  Status st;
  auto got = ReadBack(&st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(got[0].size(), 15u);
  ASSERT_EQ(got[7].size(), 6u);
  const Sample& a = got[0][5];
  EXPECT_EQ(a.t_send, 0.050007);
  EXPECT_EQ(a.t_done, 0.051234);
  EXPECT_EQ(a.health, Health::kUnhealthy);
  EXPECT_EQ(a.latency_ms, 1.234);
  EXPECT_FALSE(a.value.has_value());
  EXPECT_EQ(a.detail, "HTTP 503");
  const Sample& b = got[7][3];
  EXPECT_EQ(b.t_send, 0.060003);
  EXPECT_EQ(b.t_done, 0.0609);
  EXPECT_EQ(b.health, Health::kUnknown);
  EXPECT_EQ(b.value, std::optional<double>(0.75));
  EXPECT_EQ(b.detail, "timeout");
  EXPECT_EQ(got[0][14].t_send, 0.02);  // the third block starts over at its own first time
}

}  // namespace
}  // namespace gameday

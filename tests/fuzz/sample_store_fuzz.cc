// The sample store reader (SampleReader, what `gameday report` reads of a long run) on arbitrary
// file content. Random bytes almost never carry a right checksum, so when the input's first byte
// is odd every record that fits gets its correct CRC-32 first and the fuzzer reaches the
// decoding behind it; even: the bytes as they are. Every sample it accepts must survive a trip
// through SampleWriter unchanged (the writer and the reader agree on the format).
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "experiments/crc32.h"
#include "experiments/sample_store.h"

namespace {

// One file per fuzzing process, rewritten for each input, removed at exit.
const std::string& StorePath() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/sample_store_fuzz-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) std::abort();
    ::close(fd);
    static std::string keep = tmpl;
    std::atexit([] { ::unlink(keep.c_str()); });
    return tmpl;
  }();
  return path;
}

// Gives every record that fits in `s` its right checksum (the layout of sample_store.h).
void FixChecksums(std::string& s) {
  size_t at = 8;
  while (at + 5 <= s.size()) {
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1 + i])) << (8 * i);
    if (len > s.size() || at + 5 + len + 4 > s.size()) return;
    const uint32_t crc = gameday::Crc32(s.data() + at, 5 + len);
    for (int i = 0; i < 4; ++i) s[at + 5 + len + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    at += 5 + len + 4;
  }
}

bool Same(const gameday::Sample& a, const gameday::Sample& b) {
  return a.t_send == b.t_send && a.t_done == b.t_done && a.health == b.health &&
         a.latency_ms == b.latency_ms && a.value == b.value && a.detail == b.detail;
}

// Far enough inside ±2^53 µs that seconds -> µs -> seconds is exact.
bool Moderate(const gameday::Sample& s) {
  return std::fabs(s.t_send) < 1e9 && std::fabs(s.t_done) < 1e9 && std::fabs(s.latency_ms) < 1e12;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string content(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FixChecksums(content);
  const int fd = ::open(StorePath().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0 ||
      ::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    std::abort();
  }
  ::close(fd);

  auto reader = gameday::SampleReader::Open(StorePath());
  if (!reader.ok()) return 0;
  auto streams = reader->Streams();
  std::vector<gameday::SampleStreamInfo> infos;
  std::vector<gameday::Sample> samples;
  std::vector<uint32_t> ids;
  (void)reader->ForEach({}, [&](const gameday::SampleStreamInfo& info, const gameday::Sample& s) {
    if (!Moderate(s)) return;
    samples.push_back(s);
    ids.push_back(info.stream);
  });
  if (streams.ok() && !streams->empty()) {
    (void)reader->ForEach({streams->front().stream},
                          [](const gameday::SampleStreamInfo&, const gameday::Sample&) {});
  }
  if (!streams.ok() || samples.empty()) return 0;

  auto writer = gameday::SampleWriter::Create("", 0600);
  if (!writer.ok()) std::abort();
  for (const auto& info : *streams) {
    if (!(*writer)->Declare(info).ok()) std::abort();
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    const gameday::Status s = (*writer)->Append(ids[i], samples[i]);
    if (!s.ok()) {
      std::fprintf(stderr, "the writer refuses a sample the reader accepted: %s\n",
                   s.message().c_str());
      std::abort();
    }
  }
  // Blocks are written per stream, so compare stream by stream.
  std::map<uint32_t, std::vector<gameday::Sample>> want, got;
  for (size_t i = 0; i < samples.size(); ++i) want[ids[i]].push_back(samples[i]);
  const gameday::Status read =
      (*writer)->ReadAll([&](uint32_t id, const gameday::Sample& s) { got[id].push_back(s); });
  if (!read.ok()) std::abort();
  for (const auto& [id, list] : want) {
    const auto& back = got[id];
    for (size_t i = 0; i < list.size(); ++i) {
      if (i >= back.size() || !Same(list[i], back[i])) {
        std::fprintf(stderr, "stream %u sample %zu changed on a trip through the writer\n", id, i);
        std::abort();
      }
    }
    if (back.size() != list.size()) std::abort();
  }
  return 0;
}

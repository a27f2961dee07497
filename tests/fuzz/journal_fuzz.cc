// Journal replay (ParseJournal, what `gameday recover` trusts) on arbitrary file content. A
// journal line is "CRC32HEX JSON"; random bytes almost never carry a right checksum, so when the
// input's first byte is odd every following line is given its correct checksum first and the
// fuzzer reaches the record decoding behind it. Even: the bytes as they are (framing, torn
// tails, bad checksums).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "experiments/journal.h"

namespace {

// CRC-32 (IEEE, as zlib), the journal's line checksum.
uint32_t Crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

std::string Frame(const std::string& body) {
  std::string out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const std::string json = body.substr(start, end - start);
    char crc[9];
    std::snprintf(crc, sizeof(crc), "%08x", Crc32(json));
    out += std::string(crc) + " " + json + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string content = (data[0] & 1) ? Frame(rest) : rest;
  for (const gameday::JournalRecord& r : gameday::ParseJournal(content)) {
    (void)r.fault_id.size();
  }
  return 0;
}

#include "experiments/run_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <random>

namespace gameday {
namespace {

// 16 bytes from getrandom(2); std::random_device (itself the OS source) only if that fails.
void RandomBytes(uint8_t (&out)[16]) {
  size_t got = 0;
  while (got < sizeof out) {
    const ssize_t n = getrandom(out + got, sizeof out - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got == sizeof out) return;
  std::random_device rd;
  for (size_t i = got; i < sizeof out; ++i) out[i] = static_cast<uint8_t>(rd());
}

}  // namespace

std::string NewRunId(WallTime now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  uint8_t bytes[16];
  RandomBytes(bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = std::string(stamp) + "-";
  for (uint8_t b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

}  // namespace gameday

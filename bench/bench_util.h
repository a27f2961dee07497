// What every benchmark in bench/ needs: seconds since a start, and a way out with a message.
#pragma once

#include <errno.h>  // program_invocation_short_name

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gameday::bench {

inline double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// "NAME: MSG" on stderr, exit 1.
[[noreturn]] inline void Die(const std::string& msg) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg.c_str());
  std::exit(1);
}

}  // namespace gameday::bench

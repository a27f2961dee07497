#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace gameday::testing {

// Polls `done` every `every` until it holds or `timeout` passes. Returns whether it held.
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds every = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace gameday::testing

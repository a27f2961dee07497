#include "experiments/clock.h"

namespace gameday {
namespace {

class RealClock : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  bool SleepUntil(MonoTime deadline, std::stop_token stop) override {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    // wait_until returns the predicate: true only when a stop was requested.
    return !cv.wait_until(lock, stop, deadline, [] { return false; });
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

WallTime ToWall(const Clock& clock, MonoTime t) {
  const MonoTime mono_now = clock.Now();
  const WallTime wall_now = clock.WallNow();
  return wall_now + std::chrono::duration_cast<WallTime::duration>(t - mono_now);
}

}  // namespace gameday

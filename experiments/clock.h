#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

namespace gameday {

// Monotonic time for every interval and deadline; wall time only for people (reports, logs).
using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;
using WallTime = std::chrono::system_clock::time_point;

inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline Duration FromSeconds(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;
  virtual WallTime WallNow() const = 0;
  // Sleeps until `deadline` or until `stop` is requested. Returns false if stopped early.
  virtual bool SleepUntil(MonoTime deadline, std::stop_token stop) = 0;
  bool SleepFor(Duration d, std::stop_token stop) { return SleepUntil(Now() + d, stop); }

  // The process-wide real clock.
  static Clock& Real();
};

// Converts a monotonic instant to wall time using the current offset between the two clocks.
WallTime ToWall(const Clock& clock, MonoTime t);

// A clock that only moves when told to; SleepUntil advances it to the deadline at once.
class FakeClock : public Clock {
 public:
  explicit FakeClock(MonoTime start = MonoTime{} + std::chrono::hours(1),
                     WallTime wall_start = WallTime{} + std::chrono::hours(24 * 365 * 50))
      : now_(start), wall_offset_(wall_start - WallTime{} - start.time_since_epoch()) {}
  MonoTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  WallTime WallNow() const override {
    std::lock_guard lock(mu_);
    return WallTime{} +
           std::chrono::duration_cast<WallTime::duration>(now_.time_since_epoch() + wall_offset_);
  }
  bool SleepUntil(MonoTime deadline, std::stop_token stop) override {
    if (stop.stop_requested()) return false;
    std::lock_guard lock(mu_);
    if (deadline > now_) now_ = deadline;
    return true;
  }
  void Advance(Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  MonoTime now_;
  Duration wall_offset_;
};

}  // namespace gameday

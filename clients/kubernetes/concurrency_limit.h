#pragma once

#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// How many requests one client keeps in flight to its API server.
struct ConcurrencyLimitOptions {
  int initial = 32;
  int min = 4;
  int max = 256;
  // False pins the limit at `initial` (for comparisons, and for servers known to be fragile).
  bool adaptive = true;
  // Latency is "climbing" when its recent average (the last ~5 answers) is more than this factor
  // above its long-run average (the last ~50): then the limit holds instead of growing.
  double latency_tolerance = 1.5;
  // On an overload signal the limit is multiplied by this.
  double decrease_factor = 0.5;
  // A Retry-After pauses every new request to the server for at most this long; the request
  // that got it waits the (separately capped) full value before its retry.
  Duration max_pause = std::chrono::seconds(2);
};

// What one answer says about the server's load.
enum class LoadSignal {
  kAnswered,  // a normal answer (2xx, and 4xx other than 429): the server keeps up
  kOverload,  // 429 (priority-and-fairness or max-in-flight rejection), 5xx, or a timeout
  kNeutral,   // says nothing about load (connection refused, cancelled, TLS)
};

// An AIMD limit on requests in flight, shared by every thread that talks to one API server.
// It grows by one for every `limit` answers that came back normally while the limit was in use
// (all slots taken, or callers waiting) and latency did not climb (additive increase, as TCP's
// congestion avoidance), and is cut by `decrease_factor` on an overload signal, at most once per
// round of requests: answers to requests that started before the last cut do not cut again, so 32
// rejections from one burst halve the limit once, not 32 times. Floor and ceiling: `min`, `max`.
//
// A Retry-After from the server also pauses new requests (Pause): a server asking one request
// to back off is asking the client to.
//
// Callers wait in arrival order; a wait ends at the caller's deadline or stop request. Waits use
// real time in short slices and read `clock` for deadlines, so a fake clock works in tests.
// Thread-safe.
class ConcurrencyLimit {
 public:
  struct Ticket {
    uint64_t epoch = 0;  // the number of cuts before this request started
    MonoTime start{};    // for its latency
  };

  struct Snapshot {
    double limit = 0;
    int in_flight = 0;
    int waiting = 0;
    uint64_t increases = 0;  // +1 steps
    uint64_t decreases = 0;  // multiplicative cuts
    uint64_t waits = 0;      // callers that found no free slot and waited
    uint64_t wait_timeouts = 0;
    uint64_t pauses = 0;     // Retry-After pauses begun or extended
    Duration paused_for{0};  // from now, 0 when not paused
  };

  ConcurrencyLimit(ConcurrencyLimitOptions options, Clock* clock);

  // Waits for a free slot (in arrival order, and not while paused) until `deadline` or `stop`.
  // DeadlineExceeded / Aborted otherwise; the message says what it waited for.
  Result<Ticket> Acquire(MonoTime deadline, const std::stop_token& stop);
  // A slot now, or none (when the limit is used, the server paused, or others are waiting).
  std::optional<Ticket> TryAcquire();
  // Ends the request of `ticket` with what its answer said.
  void Release(const Ticket& ticket, LoadSignal signal);
  // Pauses new requests for `d` (capped at max_pause); extends a pause, never shortens one.
  void Pause(Duration d);

  Snapshot Stats() const;
  const ConcurrencyLimitOptions& options() const { return options_; }

 private:
  bool FreeLocked(MonoTime now) const;
  Ticket GrantLocked(MonoTime now);
  void OnAnsweredLocked(Duration latency, bool in_use);

  const ConcurrencyLimitOptions options_;
  Clock* const clock_;
  // A waiting caller; each has its own condition, so a freed slot wakes only the first in line.
  struct Waiter {
    std::condition_variable cv;
  };
  void WakeFirstLocked();

  mutable std::mutex mu_;
  double limit_;
  int in_flight_ = 0;
  uint64_t epoch_ = 0;
  std::list<Waiter*> waiters_;  // arrival order
  MonoTime paused_until_{};
  double short_latency_s_ = -1;  // EWMAs; -1 before the first answer
  double long_latency_s_ = -1;
  Snapshot counters_;
};

// The delay a Retry-After header value asks for: delay-seconds ("120") or an IMF-fixdate
// ("Wed, 21 Oct 2015 07:28:00 GMT", relative to `now`; a date in the past is 0). Anything else,
// including the obsolete date forms, is nullopt. Hostile values cannot overflow: the result is at
// most one day, however large the number or far the date.
std::optional<Duration> ParseRetryAfter(std::string_view value, WallTime now);

}  // namespace gameday

#pragma once

// The bound on SSH handshakes in flight at once. A handshake (TCP connect, key exchange, login)
// is the expensive, bursty part of reaching a host: a fault that acts on a whole fleet at once
// would otherwise open every session in the same instant, which costs a burst of CPU here and on
// the hosts, and runs into sshd's MaxStartups (by default sshd starts dropping new connections
// once 10 are unauthenticated). Commands on open sessions are not bounded here.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <random>

#include "experiments/clock.h"

namespace gameday {

class HandshakeLimiter {
 public:
  // Slots of the process-wide limiter (Process()).
  static constexpr size_t kDefaultLimit = 16;

  // `limit` handshakes at once; 0 is taken as 1.
  explicit HandshakeLimiter(size_t limit);
  HandshakeLimiter(const HandshakeLimiter&) = delete;
  HandshakeLimiter& operator=(const HandshakeLimiter&) = delete;

  // The limiter every SshClient shares unless its options name another, so the bound holds for
  // the whole process (the service-stop and host-partition kinds each have a client of their
  // own, and `recover` reverts with yet another).
  static std::shared_ptr<HandshakeLimiter> Process();

  // One slot, given back when the Slot is destroyed or Release()d. Empty when none was had.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

    explicit operator bool() const { return owner_ != nullptr; }
    void Release();

   private:
    friend class HandshakeLimiter;
    explicit Slot(HandshakeLimiter* owner) : owner_(owner) {}
    HandshakeLimiter* owner_ = nullptr;
  };

  // Waits for a free slot until `deadline` (steady clock). Slots go to waiters in the order they
  // came, so under a long queue every host waits about its place in it, and a timeout means the
  // queue really did not move. An empty Slot when none was free by the deadline.
  Slot Acquire(MonoTime deadline);

  // A handshake the server cut off as sshd does past MaxStartups, about to be tried again.
  void NoteThrottledRetry();

  struct Stats {
    size_t limit = 0;
    size_t in_flight = 0;       // slots held now
    size_t waiting = 0;         // callers queued now
    size_t peak_in_flight = 0;  // most slots ever held at once
    uint64_t acquired = 0;      // slots handed out
    uint64_t waited = 0;        // of those, how many had to queue
    uint64_t timed_out = 0;     // callers whose deadline passed in the queue
    uint64_t throttled_retries = 0;
  };
  Stats stats() const;
  size_t limit() const { return limit_; }

 private:
  void ReleaseOne();

  const size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Tickets of the queued callers, oldest first.
  std::list<uint64_t> queue_;
  uint64_t next_ticket_ = 0;
  Stats stats_;
};

// How long to wait before try `attempt` (1 = the first retry) of a throttled handshake:
// exponential from `base`, capped at `cap`, and jittered over its upper half ("equal jitter"), so
// the hosts' retries spread out instead of arriving at the server together again.
Duration HandshakeBackoff(int attempt, Duration base, Duration cap, std::mt19937_64& rng);

// Whether a failed libssh2 handshake looks like sshd's MaxStartups throttling: the server took
// the TCP connection and closed (or reset) it before sending its SSH banner — what OpenSSH's own
// client reports as "kex_exchange_identification: Connection closed by remote host". sshd 8.x
// and later first write a line "Exceeded MaxStartups", which is no banner: only a line that
// starts with "SSH-" is. `libssh2_rc` is libssh2_session_handshake's result, `banner` what
// libssh2_session_banner_get gave (nullptr when nothing).
bool LooksThrottled(int libssh2_rc, const char* banner);

}  // namespace gameday

#include "clients/ssh/handshake_limiter.h"

#include <libssh2.h>

#include <algorithm>
#include <cstring>

namespace gameday {

HandshakeLimiter::HandshakeLimiter(size_t limit) : limit_(std::max<size_t>(limit, 1)) {
  stats_.limit = limit_;
}

std::shared_ptr<HandshakeLimiter> HandshakeLimiter::Process() {
  static const std::shared_ptr<HandshakeLimiter> process =
      std::make_shared<HandshakeLimiter>(kDefaultLimit);
  return process;
}

HandshakeLimiter::Slot& HandshakeLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void HandshakeLimiter::Slot::Release() {
  if (owner_ != nullptr) owner_->ReleaseOne();
  owner_ = nullptr;
}

HandshakeLimiter::Slot HandshakeLimiter::Acquire(MonoTime deadline) {
  std::unique_lock lock(mu_);
  if (queue_.empty() && stats_.in_flight < limit_) {
    ++stats_.in_flight;
    ++stats_.acquired;
    stats_.peak_in_flight = std::max(stats_.peak_in_flight, stats_.in_flight);
    return Slot(this);
  }
  const uint64_t ticket = next_ticket_++;
  auto me = queue_.insert(queue_.end(), ticket);
  stats_.waiting = queue_.size();
  // Only the oldest waiter may take a free slot; every release wakes all waiters so the new
  // oldest one sees its turn (a few dozen waiters at most, so the broadcast is cheap).
  const bool got = cv_.wait_until(
      lock, deadline, [&] { return queue_.front() == ticket && stats_.in_flight < limit_; });
  queue_.erase(me);
  stats_.waiting = queue_.size();
  if (!got) {
    ++stats_.timed_out;
    // The next in line may be able to go now that this one left the head of the queue.
    cv_.notify_all();
    return Slot();
  }
  ++stats_.in_flight;
  ++stats_.acquired;
  ++stats_.waited;
  stats_.peak_in_flight = std::max(stats_.peak_in_flight, stats_.in_flight);
  // More than one slot may be free (several released at once): let the next in line check.
  if (stats_.in_flight < limit_ && !queue_.empty()) cv_.notify_all();
  return Slot(this);
}

void HandshakeLimiter::ReleaseOne() {
  {
    std::lock_guard lock(mu_);
    --stats_.in_flight;
  }
  cv_.notify_all();
}

void HandshakeLimiter::NoteThrottledRetry() {
  std::lock_guard lock(mu_);
  ++stats_.throttled_retries;
}

HandshakeLimiter::Stats HandshakeLimiter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Duration HandshakeBackoff(int attempt, Duration base, Duration cap, std::mt19937_64& rng) {
  Duration d = std::max(base, Duration(1));
  for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  std::uniform_int_distribution<Duration::rep> half(d.count() / 2, d.count());
  return Duration(half(rng));
}

bool LooksThrottled(int libssh2_rc, const char* banner) {
  if (banner != nullptr && std::strncmp(banner, "SSH-", 4) == 0) return false;
  switch (libssh2_rc) {
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:  // EOF before the banner
    case LIBSSH2_ERROR_SOCKET_RECV:        // reset before the banner
    case LIBSSH2_ERROR_BANNER_RECV:
    case LIBSSH2_ERROR_SOCKET_SEND:  // reset while our banner went out
    case LIBSSH2_ERROR_BANNER_SEND:
      return true;
    default:
      return false;
  }
}

}  // namespace gameday

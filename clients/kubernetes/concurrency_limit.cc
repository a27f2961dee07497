#include "clients/kubernetes/concurrency_limit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace gameday {
namespace {

// Waits sleep at most this long before looking at the (possibly fake) clock again.
constexpr auto kWaitSlice = std::chrono::milliseconds(10);
constexpr Duration kOneDay = std::chrono::hours(24);
// Smoothing of the two latency averages (about the last 5 and the last 50 answers).
constexpr double kShortAlpha = 0.2;
constexpr double kLongAlpha = 0.02;

// A nonsensical configuration is made sensible rather than refused: the limit must stay >= 1.
ConcurrencyLimitOptions Sanitized(ConcurrencyLimitOptions o) {
  o.min = std::max(1, o.min);
  o.max = std::max(o.min, o.max);
  o.initial = std::clamp(o.initial, o.min, o.max);
  if (!(o.decrease_factor > 0 && o.decrease_factor < 1)) o.decrease_factor = 0.5;
  if (!(o.latency_tolerance >= 1)) o.latency_tolerance = 1.5;
  o.max_pause = std::clamp(o.max_pause, Duration{0}, kOneDay);
  return o;
}

}  // namespace

ConcurrencyLimit::ConcurrencyLimit(ConcurrencyLimitOptions options, Clock* clock)
    : options_(Sanitized(options)), clock_(clock), limit_(options_.initial) {}

bool ConcurrencyLimit::FreeLocked(MonoTime now) const {
  return in_flight_ < static_cast<int>(limit_) && now >= paused_until_;
}

ConcurrencyLimit::Ticket ConcurrencyLimit::GrantLocked(MonoTime now) {
  ++in_flight_;
  return Ticket{epoch_, now};
}

void ConcurrencyLimit::WakeFirstLocked() {
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
}

Result<ConcurrencyLimit::Ticket> ConcurrencyLimit::Acquire(MonoTime deadline,
                                                           const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  MonoTime now = clock_->Now();
  if (waiters_.empty() && FreeLocked(now)) return GrantLocked(now);
  ++counters_.waits;
  Waiter me;
  waiters_.push_back(&me);
  while (true) {
    now = clock_->Now();
    if (waiters_.front() == &me && FreeLocked(now)) {
      waiters_.pop_front();
      WakeFirstLocked();  // the next in line may fit as well
      return GrantLocked(now);
    }
    const bool stopped = stop.stop_requested();
    if (stopped || now >= deadline) {
      const bool first = waiters_.front() == &me;
      waiters_.remove(&me);
      if (first) WakeFirstLocked();
      if (stopped) return Status::Aborted("cancelled while waiting for a request slot");
      ++counters_.wait_timeouts;
      return Status::DeadlineExceeded(
          "no request slot to the API server came free in time (" + std::to_string(in_flight_) +
          " requests in flight, limit " + std::to_string(static_cast<int>(limit_)) +
          (paused_until_ > now ? ", paused by the server's Retry-After" : "") + ")");
    }
    // Short slices: a pause ends, a stop comes and a fake clock moves without a notification.
    const Duration left = std::min<Duration>(deadline - now, kWaitSlice);
    me.cv.wait_for(lock, left);
  }
}

std::optional<ConcurrencyLimit::Ticket> ConcurrencyLimit::TryAcquire() {
  std::lock_guard lock(mu_);
  const MonoTime now = clock_->Now();
  if (!waiters_.empty() || !FreeLocked(now)) return std::nullopt;
  return GrantLocked(now);
}

void ConcurrencyLimit::Release(const Ticket& ticket, LoadSignal signal) {
  std::lock_guard lock(mu_);
  // In use: this request held one of the last slots, or someone is waiting for one.
  const bool in_use = !waiters_.empty() || in_flight_ >= static_cast<int>(limit_);
  in_flight_ = std::max(0, in_flight_ - 1);
  const MonoTime now = clock_->Now();
  switch (signal) {
    case LoadSignal::kAnswered:
      OnAnsweredLocked(now - ticket.start, in_use);
      break;
    case LoadSignal::kOverload:
      // One cut per round: requests that were already in flight at the last cut saw the same
      // overload and must not cut again.
      if (options_.adaptive && ticket.epoch == epoch_) {
        const double cut =
            std::max<double>(options_.min, std::floor(limit_ * options_.decrease_factor));
        if (cut < limit_) ++counters_.decreases;
        limit_ = cut;
        ++epoch_;
      }
      break;
    case LoadSignal::kNeutral:
      break;
  }
  WakeFirstLocked();
}

void ConcurrencyLimit::OnAnsweredLocked(Duration latency, bool in_use) {
  const double s = std::max(0.0, ToSeconds(latency));
  if (short_latency_s_ < 0) {
    short_latency_s_ = long_latency_s_ = s;
  } else {
    short_latency_s_ += kShortAlpha * (s - short_latency_s_);
    long_latency_s_ += kLongAlpha * (s - long_latency_s_);
  }
  if (!options_.adaptive || !in_use) return;
  // Growing while the limit was not in use would only raise it for a burst that overruns the
  // server; growing while latency climbs would only lengthen the server's queue.
  if (short_latency_s_ > long_latency_s_ * options_.latency_tolerance) return;
  const int before = static_cast<int>(limit_);
  limit_ = std::min<double>(options_.max, limit_ + 1.0 / limit_);
  if (static_cast<int>(limit_) > before) ++counters_.increases;
}

void ConcurrencyLimit::Pause(Duration d) {
  d = std::clamp(d, Duration{0}, options_.max_pause);
  if (d <= Duration{0}) return;
  std::lock_guard lock(mu_);
  const MonoTime until = clock_->Now() + d;
  if (until > paused_until_) {
    paused_until_ = until;
    ++counters_.pauses;
  }
}

ConcurrencyLimit::Snapshot ConcurrencyLimit::Stats() const {
  std::lock_guard lock(mu_);
  Snapshot s = counters_;
  s.limit = limit_;
  s.in_flight = in_flight_;
  s.waiting = static_cast<int>(waiters_.size());
  const MonoTime now = clock_->Now();
  s.paused_for = paused_until_ > now ? paused_until_ - now : Duration{0};
  return s;
}

// ---- Retry-After ---------------------------------------------------------------------------

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110's IMF-fixdate), exactly 29 characters.
std::optional<int64_t> ParseImfFixdate(std::string_view s) {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                            "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  if (std::find(kDays.begin(), kDays.end(), s.substr(0, 3)) == kDays.end()) return std::nullopt;
  const auto month = std::find(kMonths.begin(), kMonths.end(), s.substr(8, 3));
  if (month == kMonths.end()) return std::nullopt;
  int day, year, hour, minute, second;
  if (!Digits(s, 5, 2, &day) || !Digits(s, 12, 4, &year) || !Digits(s, 17, 2, &hour) ||
      !Digits(s, 20, 2, &minute) || !Digits(s, 23, 2, &second)) {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month - kMonths.begin() + 1), day);
  return days * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + second;
}

}  // namespace

std::optional<Duration> ParseRetryAfter(std::string_view value, WallTime now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' ||
                            value.back() == '\n')) {
    value.remove_suffix(1);
  }
  if (value.empty() || value.size() > 64) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // More than six digits is more than a day whatever the digits are: no arithmetic on them.
    if (value.size() > 6) return kOneDay;
    int64_t seconds = 0;
    for (char c : value) seconds = seconds * 10 + (c - '0');
    return std::min<Duration>(std::chrono::seconds(seconds), kOneDay);
  }
  const std::optional<int64_t> at = ParseImfFixdate(value);
  if (!at) return std::nullopt;
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // Both are within a few thousand years of 1970, so the difference cannot overflow.
  const int64_t delta = *at - now_s;
  if (delta <= 0) return Duration{0};
  if (delta >= 86400) return kOneDay;
  return std::chrono::seconds(delta);
}

}  // namespace gameday

// The Kubernetes client's adaptive limit on requests in flight (AIMD), its Retry-After pause,
// waiting callers, and the Retry-After parser fed hostile values.

#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "clients/kubernetes/concurrency_limit.h"

namespace gameday {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

ConcurrencyLimitOptions Options(int initial, int min = 2, int max = 64) {
  ConcurrencyLimitOptions o;
  o.initial = initial;
  o.min = min;
  o.max = max;
  return o;
}

// Keeps the limit full: every answer comes back after `latency`, and its slot is taken again at
// once (as 64 engine workers do with a limit of 32).
void RunSaturated(ConcurrencyLimit& limit, FakeClock& clock, int answers, Duration latency,
                  LoadSignal signal = LoadSignal::kAnswered) {
  std::vector<ConcurrencyLimit::Ticket> held;
  while (auto t = limit.TryAcquire()) held.push_back(*t);
  for (int i = 0; i < answers; ++i) {
    clock.Advance(latency / static_cast<long>(held.size() ? held.size() : 1));
    limit.Release(held.front(), signal);
    held.erase(held.begin());
    while (auto t = limit.TryAcquire()) held.push_back(*t);
  }
  for (const auto& t : held) limit.Release(t, LoadSignal::kNeutral);
}

TEST(ConcurrencyLimitTest, GrowsByAboutOnePerLimitAnswersWhileFullAndLatencyFlat) {
  FakeClock clock;
  ConcurrencyLimit limit(Options(8), &clock);
  EXPECT_EQ(limit.Stats().limit, 8);
  RunSaturated(limit, clock, 200, milliseconds(10));
  // 200 answers at 1/limit each: L^2 grows by about 2 per answer, so from 8 to about 21 (less
  // while the averages settle), never more than one step per `limit` answers.
  const auto s = limit.Stats();
  EXPECT_GE(s.limit, 16);
  EXPECT_LE(s.limit, 8 + 200 / 8.0);
  EXPECT_GE(s.increases, 8u);
  EXPECT_EQ(s.decreases, 0u);
  EXPECT_EQ(s.in_flight, 0);
}

TEST(ConcurrencyLimitTest, DoesNotGrowWhenTheLimitIsNotInUse) {
  FakeClock clock;
  ConcurrencyLimit limit(Options(8), &clock);
  for (int i = 0; i < 500; ++i) {  // one request at a time
    auto t = limit.TryAcquire();
    ASSERT_TRUE(t);
    clock.Advance(milliseconds(5));
    limit.Release(*t, LoadSignal::kAnswered);
  }
  EXPECT_EQ(limit.Stats().limit, 8);
}

TEST(ConcurrencyLimitTest, HoldsWhileLatencyClimbs) {
  FakeClock clock;
  ConcurrencyLimit limit(Options(8), &clock);
  RunSaturated(limit, clock, 100, milliseconds(10));
  const double before = limit.Stats().limit;
  ASSERT_GT(before, 8);
  // The server's queue grows: latency five times what it was. Flat latency would have added
  // 20/limit (about 1.5) by now; while it climbs the limit holds (but for the first answers,
  // before the short average has moved).
  RunSaturated(limit, clock, 20, milliseconds(50));
  EXPECT_LT(limit.Stats().limit - before, 0.5);
}

TEST(ConcurrencyLimitTest, A429BurstCutsOncePerRoundDownToTheFloor) {
  FakeClock clock;
  ConcurrencyLimit limit(Options(32, 4, 256), &clock);
  std::vector<ConcurrencyLimit::Ticket> burst;
  while (auto t = limit.TryAcquire()) burst.push_back(*t);
  ASSERT_EQ(burst.size(), 32u);
  // All 32 rejected by priority and fairness: one halving, not 32.
  for (const auto& t : burst) limit.Release(t, LoadSignal::kOverload);
  EXPECT_EQ(limit.Stats().limit, 16);
  EXPECT_EQ(limit.Stats().decreases, 1u);
  // Each later round that is rejected halves again, down to the floor and no further.
  for (int round = 0; round < 6; ++round) {
    auto t = limit.TryAcquire();
    ASSERT_TRUE(t);
    limit.Release(*t, LoadSignal::kOverload);
  }
  EXPECT_EQ(limit.Stats().limit, 4);
  EXPECT_EQ(limit.Stats().decreases, 3u);  // 16 -> 8 -> 4, then at the floor
  // And it grows back once the server keeps up.
  RunSaturated(limit, clock, 100, milliseconds(10));
  EXPECT_GT(limit.Stats().limit, 8);
}

TEST(ConcurrencyLimitTest, NeutralAnswersNeitherGrowNorCut) {
  FakeClock clock;
  ConcurrencyLimit limit(Options(8), &clock);
  RunSaturated(limit, clock, 200, milliseconds(10), LoadSignal::kNeutral);
  EXPECT_EQ(limit.Stats().limit, 8);
}

TEST(ConcurrencyLimitTest, AFixedLimitStaysPut) {
  FakeClock clock;
  ConcurrencyLimitOptions o = Options(32);
  o.adaptive = false;
  ConcurrencyLimit limit(o, &clock);
  RunSaturated(limit, clock, 300, milliseconds(10));
  EXPECT_EQ(limit.Stats().limit, 32);
  RunSaturated(limit, clock, 10, milliseconds(10), LoadSignal::kOverload);
  EXPECT_EQ(limit.Stats().limit, 32);
}

TEST(ConcurrencyLimitTest, NonsensicalOptionsAreMadeSafe) {
  FakeClock clock;
  ConcurrencyLimitOptions o;
  o.initial = 0;
  o.min = -5;
  o.max = -1;
  o.decrease_factor = 7;
  ConcurrencyLimit limit(o, &clock);
  EXPECT_EQ(limit.Stats().limit, 1);
  auto t = limit.TryAcquire();
  ASSERT_TRUE(t);
  EXPECT_FALSE(limit.TryAcquire());
  limit.Release(*t, LoadSignal::kOverload);
  EXPECT_EQ(limit.Stats().limit, 1);
}

TEST(ConcurrencyLimitTest, RetryAfterPausesNewRequestsForAtMostMaxPause) {
  FakeClock clock;
  ConcurrencyLimitOptions o = Options(8);
  o.max_pause = seconds(2);
  ConcurrencyLimit limit(o, &clock);
  limit.Pause(milliseconds(500));
  EXPECT_FALSE(limit.TryAcquire());
  clock.Advance(milliseconds(499));
  EXPECT_FALSE(limit.TryAcquire());
  clock.Advance(milliseconds(1));
  auto t = limit.TryAcquire();
  ASSERT_TRUE(t);
  limit.Release(*t, LoadSignal::kAnswered);
  // A hostile hour is cut to max_pause; a shorter pause does not shorten a longer one.
  limit.Pause(hours(1));
  EXPECT_EQ(limit.Stats().paused_for, seconds(2));
  limit.Pause(milliseconds(10));
  EXPECT_EQ(limit.Stats().paused_for, seconds(2));
  limit.Pause(Duration{-5});
  clock.Advance(seconds(2));
  EXPECT_TRUE(limit.TryAcquire());
  EXPECT_EQ(limit.Stats().pauses, 2u);
}

TEST(ConcurrencyLimitTest, AWaitingCallerGetsTheSlotWhenOneIsReleased) {
  ConcurrencyLimitOptions o = Options(1, 1, 1);
  ConcurrencyLimit limit(o, &Clock::Real());
  auto held = limit.TryAcquire();
  ASSERT_TRUE(held);
  Result<ConcurrencyLimit::Ticket> got = Status::Internal("unset");
  std::thread waiter(
      [&] { got = limit.Acquire(Clock::Real().Now() + seconds(10), std::stop_token()); });
  ASSERT_TRUE(WaitFor([&] { return limit.Stats().waiting == 1; }));
  // Nobody may jump the queue past a waiting caller.
  EXPECT_FALSE(limit.TryAcquire());
  limit.Release(*held, LoadSignal::kAnswered);
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(limit.Stats().in_flight, 1);
  EXPECT_EQ(limit.Stats().waits, 1u);
  limit.Release(*got, LoadSignal::kAnswered);
}

TEST(ConcurrencyLimitTest, AWaitingCallerGivesUpAtItsDeadline) {
  ConcurrencyLimit limit(Options(1, 1, 1), &Clock::Real());
  auto held = limit.TryAcquire();
  ASSERT_TRUE(held);
  const MonoTime t0 = Clock::Real().Now();
  Result<ConcurrencyLimit::Ticket> got = limit.Acquire(t0 + milliseconds(150), std::stop_token());
  const Duration waited = Clock::Real().Now() - t0;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kDeadlineExceeded);
  EXPECT_NE(got.status().message().find("1 requests in flight, limit 1"), std::string::npos)
      << got.status().message();
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_LT(waited, seconds(2));
  EXPECT_EQ(limit.Stats().wait_timeouts, 1u);
  EXPECT_EQ(limit.Stats().waiting, 0);
  // The one who gave up does not block the line.
  limit.Release(*held, LoadSignal::kAnswered);
  EXPECT_TRUE(limit.TryAcquire());
}

TEST(ConcurrencyLimitTest, AWaitingCallerStopsWhenAsked) {
  ConcurrencyLimit limit(Options(1, 1, 1), &Clock::Real());
  auto held = limit.TryAcquire();
  ASSERT_TRUE(held);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    stop.request_stop();
  });
  const MonoTime t0 = Clock::Real().Now();
  Result<ConcurrencyLimit::Ticket> got = limit.Acquire(t0 + seconds(30), stop.get_token());
  stopper.join();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kAborted);
  EXPECT_LT(Clock::Real().Now() - t0, seconds(5));
}

TEST(ConcurrencyLimitTest, AWaitingCallerWaitsOutAPause) {
  ConcurrencyLimitOptions o = Options(4);
  o.max_pause = milliseconds(200);
  ConcurrencyLimit limit(o, &Clock::Real());
  limit.Pause(seconds(100));
  const MonoTime t0 = Clock::Real().Now();
  auto got = limit.Acquire(t0 + seconds(10), std::stop_token());
  ASSERT_TRUE(got.ok());
  EXPECT_GE(Clock::Real().Now() - t0, milliseconds(190));
  EXPECT_LT(Clock::Real().Now() - t0, seconds(5));
}

// ---- Retry-After ---------------------------------------------------------------------------

WallTime At(int64_t epoch_seconds) { return WallTime{} + seconds(epoch_seconds); }

TEST(RetryAfterTest, DelaySeconds) {
  const WallTime now = At(1'700'000'000);
  EXPECT_EQ(ParseRetryAfter("1", now), seconds(1));
  EXPECT_EQ(ParseRetryAfter(" 120\r\n", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("0", now), Duration{0});
  EXPECT_EQ(ParseRetryAfter("000007", now), seconds(7));
}

TEST(RetryAfterTest, HostileNumbersAreCappedAtADayWithoutOverflow) {
  const WallTime now = At(1'700'000'000);
  EXPECT_EQ(ParseRetryAfter("86401", now), hours(24));
  EXPECT_EQ(ParseRetryAfter("9999999", now), hours(24));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999999999999999", now), hours(24));
  EXPECT_EQ(ParseRetryAfter(std::string(64, '9'), now), hours(24));
  EXPECT_EQ(ParseRetryAfter(std::string(65, '9'), now), std::nullopt);  // not a header we read
  EXPECT_EQ(ParseRetryAfter(std::string(100000, '1'), now), std::nullopt);
}

TEST(RetryAfterTest, GarbageIsIgnored) {
  const WallTime now = At(1'700'000'000);
  for (const char* v : {"", "  ", "-1", "+5", "1.5", "1e9", "5s", "abc", "0x10", "1 2",
                        "Wed, 21 Oct 2015 07:28:00 UTC", "Xyz, 21 Oct 2015 07:28:00 GMT",
                        "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT",
                        "Wed, 21 Oct 2015 24:28:00 GMT", "Wed, 21 Oct 2015 07:28 GMT",
                        "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015",
                        "Wed, 2a Oct 2015 07:28:00 GMT"}) {
    EXPECT_EQ(ParseRetryAfter(v, now), std::nullopt) << "'" << v << "'";
  }
}

TEST(RetryAfterTest, HttpDates) {
  // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 seconds after the epoch.
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", At(1445412470)), seconds(10));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", At(1445412480)), Duration{0});
  // In the past: no wait at all.
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", At(1700000000)), Duration{0});
  EXPECT_EQ(ParseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", At(1700000000)), Duration{0});
  // A leap-year day, and the far future (capped, no overflow).
  EXPECT_EQ(ParseRetryAfter("Thu, 29 Feb 2024 00:00:05 GMT", At(1709164800)), seconds(5));
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", At(1700000000)), hours(24));
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jan 0000 00:00:00 GMT", At(1700000000)), Duration{0});
}

}  // namespace
}  // namespace gameday

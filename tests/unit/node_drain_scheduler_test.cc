// The eviction scheduler of node-drain, with fake evict functions: the bounds on evictions in
// flight (overall and per budget), 429s retried with backoff and Retry-After, 404s done, the
// deadline, a failure stopping the drain.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "injectors/node_drain/eviction_scheduler.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Counts evictions in flight (overall and per group) from inside a fake evict function.
class InFlightMeter {
 public:
  explicit InFlightMeter(size_t groups) : now_(groups), peak_(groups) {}
  // Enter on call, leave on return.
  void Enter(size_t group) {
    std::lock_guard lock(mu_);
    peak_all_ = std::max(peak_all_, ++all_);
    peak_[group] = std::max(peak_[group], ++now_[group]);
  }
  void Leave(size_t group) {
    std::lock_guard lock(mu_);
    --all_;
    --now_[group];
  }
  size_t peak_all() const { return peak_all_; }
  size_t peak(size_t group) const { return peak_[group]; }

 private:
  std::mutex mu_;
  size_t all_ = 0, peak_all_ = 0;
  std::vector<size_t> now_, peak_;
};

EvictionSchedule Schedule(Clock& clock, std::vector<size_t> limits, size_t max_in_flight,
                          Duration timeout) {
  EvictionSchedule s;
  s.clock = &clock;
  s.group_limits = std::move(limits);
  s.max_in_flight = max_in_flight;
  s.deadline = clock.Now() + timeout;
  return s;
}

EvictionOutcome Evicted() { return {EvictionAnswer::kEvicted, Status::Ok(), {}}; }
EvictionOutcome Refused(std::optional<Duration> retry_after = std::nullopt) {
  return {EvictionAnswer::kRefused,
          Status::Unavailable("create pods/eviction: too many requests (429): Cannot evict pod as "
                              "it would violate the pod's disruption budget."),
          retry_after};
}

TEST(EvictionScheduler, NeverMoreThanTheBoundInFlightAndReallyConcurrent) {
  const size_t pods = 200;
  InFlightMeter meter(1);
  std::atomic<size_t> calls{0};
  auto tally = RunEvictions(std::vector<size_t>(pods, 0),
                            Schedule(Clock::Real(), {1000}, 8, seconds(60)), [&](size_t) {
                              meter.Enter(0);
                              ++calls;
                              std::this_thread::sleep_for(milliseconds(2));
                              meter.Leave(0);
                              return Evicted();
                            });
  EXPECT_EQ(tally.Left(), 0u);
  EXPECT_EQ(calls.load(), pods);
  EXPECT_EQ(tally.requests, pods);
  EXPECT_LE(meter.peak_all(), 8u);
  EXPECT_GE(meter.peak_all(), 2u) << "evictions ran one at a time";
  EXPECT_EQ(tally.peak_in_flight, meter.peak_all());
  EXPECT_TRUE(tally.failure.ok());
  EXPECT_FALSE(tally.timed_out);
}

TEST(EvictionScheduler, EachGroupKeepsItsOwnLimitAndGroupsRunSideBySide) {
  // Pods alternate between group 0 (limit 2), group 1 (limit 5) and group 2 (limit 1).
  std::vector<size_t> groups;
  for (size_t i = 0; i < 120; ++i) groups.push_back(i % 3);
  InFlightMeter meter(3);
  auto tally =
      RunEvictions(groups, Schedule(Clock::Real(), {2, 5, 1}, 32, seconds(60)), [&](size_t pod) {
        meter.Enter(groups[pod]);
        std::this_thread::sleep_for(milliseconds(3));
        meter.Leave(groups[pod]);
        return Evicted();
      });
  EXPECT_EQ(tally.Left(), 0u);
  EXPECT_LE(meter.peak(0), 2u);
  EXPECT_LE(meter.peak(1), 5u);
  EXPECT_EQ(meter.peak(2), 1u);
  EXPECT_LE(meter.peak_all(), 8u);
  EXPECT_GT(meter.peak_all(), 2u) << "the groups did not run side by side";
  EXPECT_EQ(tally.peak_in_flight_per_group[2], 1u);
}

// A fake PodDisruptionBudget: `allowed` disruptions at a time; an evicted pod counts as
// disrupted until its replacement is "ready", `ready_after` later. Evictions beyond the
// allowance are refused with a 429, as the API server does.
class FakeBudget {
 public:
  FakeBudget(Clock& clock, int allowed, Duration ready_after)
      : clock_(clock), allowed_(allowed), ready_after_(ready_after) {}

  EvictionOutcome Evict() {
    std::lock_guard lock(mu_);
    const MonoTime now = clock_.Now();
    std::erase_if(disrupted_until_, [&](MonoTime t) { return t <= now; });
    if (static_cast<int>(disrupted_until_.size()) >= allowed_) {
      ++refused_;
      return Refused();
    }
    disrupted_until_.push_back(now + ready_after_);
    peak_disrupted_ = std::max(peak_disrupted_, disrupted_until_.size());
    return Evicted();
  }
  size_t peak_disrupted() const { return peak_disrupted_; }
  size_t refused() const { return refused_; }

 private:
  Clock& clock_;
  const int allowed_;
  const Duration ready_after_;
  std::mutex mu_;
  std::vector<MonoTime> disrupted_until_;
  size_t peak_disrupted_ = 0;
  size_t refused_ = 0;
};

TEST(EvictionScheduler, RefusedEvictionsAreRetriedUntilTheBudgetAllowsThem) {
  const size_t pods = 40;
  FakeBudget budget(Clock::Real(), 5, milliseconds(30));
  EvictionSchedule s = Schedule(Clock::Real(), {5}, 32, seconds(60));
  s.first_retry = milliseconds(5);
  s.max_retry = milliseconds(20);
  auto tally =
      RunEvictions(std::vector<size_t>(pods, 0), s, [&](size_t) { return budget.Evict(); });
  EXPECT_EQ(tally.Left(), 0u);
  EXPECT_TRUE(tally.failure.ok()) << tally.failure.ToString();
  EXPECT_FALSE(tally.timed_out);
  EXPECT_GT(tally.refusals, 0u) << "the budget never refused: the test proves nothing";
  EXPECT_EQ(tally.refusals, budget.refused());
  EXPECT_EQ(tally.requests, pods + tally.refusals);
  EXPECT_LE(budget.peak_disrupted(), 5u);
  EXPECT_LE(tally.peak_in_flight_per_group[0], 5u);
  // A refused budget is probed by one eviction at a time, not by every pod waiting for it: per
  // round of 5 pods (8 rounds), the 5 sent when the allowance was just used up, then a probe 5,
  // 10, 20, 20... ms apart until the budget has recovered (30 ms). Every waiting pod retrying on
  // its own would be hundreds.
  EXPECT_LE(tally.refusals, 100u);
}

TEST(EvictionScheduler, GoneCountsAsDoneAndIsNotRetried) {
  std::atomic<size_t> calls{0};
  auto tally = RunEvictions(
      std::vector<size_t>(10, 0), Schedule(Clock::Real(), {32}, 32, seconds(60)), [&](size_t pod) {
        ++calls;
        return pod % 2 ? EvictionOutcome{EvictionAnswer::kGone, {}, {}} : Evicted();
      });
  EXPECT_EQ(tally.Left(), 0u);
  EXPECT_EQ(calls.load(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(tally.gone[i], i % 2 == 1) << i;
}

TEST(EvictionScheduler, TheDeadlineEndsRetriesAndNamesWhatIsLeft) {
  FakeClock clock;
  const MonoTime start = clock.Now();
  std::mutex mu;
  std::vector<MonoTime> times;
  auto tally =
      RunEvictions(std::vector<size_t>(3, 0), Schedule(clock, {3}, 32, seconds(5)), [&](size_t) {
        std::lock_guard lock(mu);
        times.push_back(clock.Now());
        return Refused();
      });
  EXPECT_TRUE(tally.timed_out);
  EXPECT_EQ(tally.Left(), 3u);
  EXPECT_TRUE(tally.failure.ok());
  // The budget's answer is kept for the message (by the pod that probed it last, at least).
  EXPECT_TRUE(std::any_of(tally.last_status.begin(), tally.last_status.end(), [](const Status& s) {
    return s.message().find("disruption budget") != std::string::npos;
  }));
  ASSERT_FALSE(times.empty());
  for (MonoTime t : times) EXPECT_LT(t, start + seconds(5));
  // Three at first, then probes 100, 200, 400, 800 ms and 1 s apart: about eight in 5 s.
  EXPECT_GE(tally.requests, 6u);
  EXPECT_LE(tally.requests, 12u);
  EXPECT_GE(clock.Now(), start + seconds(5));
}

TEST(EvictionScheduler, RetryAfterIsHonouredAndBounded) {
  FakeClock clock;
  const MonoTime start = clock.Now();
  std::vector<MonoTime> times;
  // First a Retry-After of 3 s, then one of 10^6 s (held to max_retry_after, 10 s), then done.
  auto tally = RunEvictions({0}, Schedule(clock, {1}, 1, seconds(60)), [&](size_t) {
    times.push_back(clock.Now());
    if (times.size() == 1) return Refused(seconds(3));
    if (times.size() == 2) return Refused(seconds(1000000));
    return Evicted();
  });
  EXPECT_EQ(tally.Left(), 0u);
  ASSERT_EQ(times.size(), 3u);
  EXPECT_EQ(times[0], start);
  EXPECT_GE(times[1] - times[0], seconds(3));
  EXPECT_LT(times[1] - times[0], seconds(4));
  EXPECT_GE(times[2] - times[1], seconds(10));
  EXPECT_LT(times[2] - times[1], seconds(11));
  EXPECT_EQ(tally.refusals, 2u);
}

TEST(EvictionScheduler, ARetryAfterPastTheDeadlineEndsTheDrainAtTheDeadline) {
  FakeClock clock;
  const MonoTime start = clock.Now();
  size_t calls = 0;
  auto tally = RunEvictions({0}, Schedule(clock, {1}, 1, seconds(5)), [&](size_t) {
    ++calls;
    return Refused(seconds(8));
  });
  EXPECT_EQ(calls, 1u);
  EXPECT_TRUE(tally.timed_out);
  EXPECT_EQ(clock.Now(), start + seconds(5)) << "it slept past the deadline";
}

TEST(EvictionScheduler, ARefusedBudgetDoesNotHoldUpTheOthers) {
  // Group 0 never allows an eviction; group 1 has no budget.
  std::vector<size_t> groups = {0, 0, 1, 1, 1, 1};
  FakeClock clock;
  auto tally = RunEvictions(groups, Schedule(clock, {2, 32}, 32, seconds(3)),
                            [&](size_t pod) { return groups[pod] == 0 ? Refused() : Evicted(); });
  EXPECT_TRUE(tally.timed_out);
  EXPECT_EQ(tally.Left(), 2u);
  for (size_t i = 0; i < groups.size(); ++i) EXPECT_EQ(tally.done[i], groups[i] == 1) << i;
}

TEST(EvictionScheduler, APassingErrorIsRetriedForThatPod) {
  FakeClock clock;
  std::mutex mu;
  std::map<size_t, int> calls;
  auto tally = RunEvictions(std::vector<size_t>(4, 0), Schedule(clock, {4}, 4, seconds(60)),
                            [&](size_t pod) -> EvictionOutcome {
                              std::lock_guard lock(mu);
                              if (++calls[pod] == 1) {
                                return {EvictionAnswer::kTransient,
                                        Status::Unavailable("the API server answered 503"),
                                        {}};
                              }
                              return Evicted();
                            });
  EXPECT_EQ(tally.Left(), 0u);
  EXPECT_EQ(tally.transient, 4u);
  EXPECT_EQ(tally.refusals, 0u);
  for (const auto& [pod, n] : calls) EXPECT_EQ(n, 2) << pod;
}

TEST(EvictionScheduler, AFailureStopsTheDrainAndNamesThePod) {
  std::vector<size_t> called;
  auto tally = RunEvictions(std::vector<size_t>(6, 0), Schedule(Clock::Real(), {1}, 1, seconds(60)),
                            [&](size_t pod) -> EvictionOutcome {
                              called.push_back(pod);
                              if (pod == 2) {
                                return {EvictionAnswer::kFailed,
                                        Status::InvalidArgument("the API server answered 500: "
                                                                "This pod has more than one "
                                                                "PodDisruptionBudget"),
                                        {}};
                              }
                              return Evicted();
                            });
  EXPECT_EQ(tally.failure.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(tally.failure.message().find("more than one"), std::string::npos);
  EXPECT_EQ(tally.failed_pod, 2u);
  EXPECT_EQ(called, (std::vector<size_t>{0, 1, 2})) << "no eviction starts after a failure";
  EXPECT_EQ(tally.Left(), 4u);
  EXPECT_FALSE(tally.timed_out);
}

TEST(EvictionScheduler, AnExceptionFromTheEvictFunctionIsAFailureNotACrash) {
  auto tally = RunEvictions({0, 0}, Schedule(Clock::Real(), {2}, 2, seconds(60)),
                            [&](size_t) -> EvictionOutcome { throw std::runtime_error("bad"); });
  EXPECT_EQ(tally.failure.code(), Status::Code::kInternal);
  EXPECT_NE(tally.failure.message().find("bad"), std::string::npos);
}

TEST(EvictionScheduler, StopEndsTheWaitAtOnce) {
  std::stop_source stop;
  EvictionSchedule s = Schedule(Clock::Real(), {1}, 1, seconds(60));
  s.stop = stop.get_token();
  s.first_retry = seconds(30);
  s.max_retry = seconds(30);
  const auto t0 = std::chrono::steady_clock::now();
  auto tally = RunEvictions({0}, s, [&](size_t) {
    stop.request_stop();  // while the next try waits 30 s
    return Refused();
  });
  EXPECT_TRUE(tally.stopped);
  EXPECT_EQ(tally.Left(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(10));
}

TEST(EvictionScheduler, NothingToEvictIsDoneAtOnce) {
  auto tally = RunEvictions({}, Schedule(Clock::Real(), {}, 32, seconds(1)),
                            [&](size_t) -> EvictionOutcome { throw std::logic_error("called"); });
  EXPECT_EQ(tally.requests, 0u);
  EXPECT_TRUE(tally.failure.ok());
  EXPECT_EQ(tally.Left(), 0u);
}

}  // namespace
}  // namespace gameday

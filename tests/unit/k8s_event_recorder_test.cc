// Kubernetes Events in the background: the aggregation rule (the first 10 similar events one by
// one, the rest combined and updated at most every few seconds), and the recorder's queue,
// flush, 403 and shutdown behaviour against a fake sink.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "clients/kubernetes/event_recorder.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

EventNote Kill(const std::string& ns, int i, const std::string& group = "run-1/7") {
  EventNote n;
  n.object = EventObject{"v1", "Pod", ns, "web-" + std::to_string(i), "uid-" + std::to_string(i)};
  n.reason = "ChaosInjected";
  n.message = "gameday run run-1: delete pod " + ns + "/web-" + std::to_string(i);
  n.time = WallTime{} + seconds(1'700'000'000 + i);
  n.group = group;
  n.group_text = "gameday run run-1";
  n.action = "deleted";
  return n;
}

TEST(EventAggregatorTest, TenOneByOneThenOneCombinedEventPerKey) {
  EventAggregator agg(10, seconds(3));
  int individual = 0;
  for (int i = 0; i < 1000; ++i) individual += agg.Add(Kill("shop", i));
  EXPECT_EQ(individual, 10);
  MonoTime now{};
  auto due = agg.Due(now, false);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].ns, "shop");
  EXPECT_EQ(due[0].reason, "ChaosInjected");
  EXPECT_EQ(due[0].count, 990);
  EXPECT_EQ(due[0].message,
            "gameday run run-1: deleted 990 more pods (combined from similar events)");
  EXPECT_EQ(due[0].first, WallTime{} + seconds(1'700'000'010));
  EXPECT_EQ(due[0].last, WallTime{} + seconds(1'700'000'999));
  agg.Sent(due[0], "gameday-combined.x", false);
  EXPECT_EQ(agg.Pending(), 0u);
  // Nothing changed: nothing to send, even when forced.
  EXPECT_TRUE(agg.Due(now + seconds(10), true).empty());
}

TEST(EventAggregatorTest, KeysAreNamespaceReasonTypeKindAndGroup) {
  EventAggregator agg(2, seconds(3));
  int individual = 0;
  for (int i = 0; i < 5; ++i) {
    individual += agg.Add(Kill("shop", i));
    individual += agg.Add(Kill("cart", i));
    individual += agg.Add(Kill("shop", i, "run-1/8"));  // another step
    EventNote reverted = Kill("shop", i);
    reverted.reason = "ChaosReverted";
    individual += agg.Add(reverted);
  }
  EXPECT_EQ(individual, 4 * 2);
  EXPECT_EQ(agg.Due(MonoTime{}, false).size(), 4u);
}

TEST(EventAggregatorTest, UpdatesAtMostEveryIntervalUnlessForced) {
  EventAggregator agg(1, seconds(3));
  const MonoTime t0 = MonoTime{} + seconds(100);
  agg.Add(Kill("shop", 0));
  agg.Add(Kill("shop", 1));
  auto first = agg.Due(t0, false);  // a new combined event goes out at once
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].name.empty());
  agg.Sent(first[0], "gameday-combined.abc", false);
  agg.Add(Kill("shop", 2));
  EXPECT_TRUE(agg.Due(t0 + seconds(1), false).empty());
  EXPECT_EQ(agg.Pending(), 1u);
  auto later = agg.Due(t0 + seconds(3), false);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].count, 2);
  EXPECT_EQ(later[0].name, "gameday-combined.abc");  // an update, not a second event
  EXPECT_EQ(later[0].message,
            "gameday run run-1: deleted 2 more pods (combined from similar events)");
  // A failed update stays pending and goes again (forced at a flush).
  agg.Sent(later[0], "gameday-combined.abc", true);
  EXPECT_EQ(agg.Pending(), 1u);
  auto retry = agg.Due(t0 + seconds(3) + milliseconds(1), true);
  ASSERT_EQ(retry.size(), 1u);
  agg.Sent(retry[0], "gameday-combined.abc", false);
  EXPECT_EQ(agg.Pending(), 0u);
}

// A sink that records what it was asked to send; optionally slow, or refusing.
class FakeSink : public EventSink {
 public:
  struct State {
    std::mutex mu;
    std::vector<EventNote> posted;
    std::vector<CombinedEvent> combined;
    Duration delay{0};
    Status answer = Status::Ok();
    std::atomic<int> calls{0};
  };
  explicit FakeSink(std::shared_ptr<State> state) : state_(std::move(state)) {}

  Status Post(const EventNote& note, Duration timeout, std::stop_token stop) override {
    ++state_->calls;
    if (!Wait(timeout, stop)) return Status::Aborted("stopped");
    std::lock_guard lock(state_->mu);
    if (!state_->answer.ok()) return state_->answer;
    state_->posted.push_back(note);
    return Status::Ok();
  }
  Result<std::string> PostCombined(const CombinedEvent& event, Duration timeout,
                                   std::stop_token stop) override {
    ++state_->calls;
    if (!Wait(timeout, stop)) return Status::Aborted("stopped");
    std::lock_guard lock(state_->mu);
    if (!state_->answer.ok()) return state_->answer;
    state_->combined.push_back(event);
    return std::string("combined-1");
  }

 private:
  // Like a request with a timeout that a stop aborts.
  bool Wait(Duration timeout, const std::stop_token& stop) {
    Duration delay;
    {
      std::lock_guard lock(state_->mu);
      delay = state_->delay;
    }
    const auto end = std::chrono::steady_clock::now() + std::min(delay, timeout);
    while (std::chrono::steady_clock::now() < end) {
      if (stop.stop_requested()) return false;
      std::this_thread::sleep_for(milliseconds(1));
    }
    return !stop.stop_requested();
  }
  std::shared_ptr<State> state_;
};

TEST(EventRecorderTest, RecordNeverWaitsForTheServerAndFlushSendsEverything) {
  auto state = std::make_shared<FakeSink::State>();
  state->delay = milliseconds(20);  // every request takes 20 ms
  EventRecorder::Options o;
  o.combine_interval = seconds(60);  // only the flush brings the combined event up to date
  EventRecorder recorder(std::make_unique<FakeSink>(state), o);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) recorder.Record(Kill("shop", i));
  // 1000 synchronous posts would take 20 s; recording them takes next to nothing.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  EXPECT_TRUE(recorder.Flush(seconds(5)));
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->posted.size(), 10u);
  ASSERT_FALSE(state->combined.empty());
  EXPECT_LE(state->combined.size(), 2u);  // created when it appeared, updated at the flush
  EXPECT_EQ(state->combined.back().count, 990);
  EXPECT_EQ(state->combined.back().message,
            "gameday run run-1: deleted 990 more pods (combined from similar events)");
  const auto stats = recorder.GetStats();
  EXPECT_EQ(stats.recorded, 1000u);
  EXPECT_EQ(stats.posted, 10u);
  EXPECT_EQ(stats.combined, 990u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.failed, 0u);
}

TEST(EventRecorderTest, AFullQueueDropsAndCounts) {
  auto state = std::make_shared<FakeSink::State>();
  state->delay = seconds(1);
  EventRecorder::Options o;
  o.queue_capacity = 5;
  EventRecorder recorder(std::make_unique<FakeSink>(state), o);
  for (int i = 0; i < 100; ++i) recorder.Record(Kill("shop", i));
  const auto stats = recorder.GetStats();
  EXPECT_EQ(stats.recorded, 100u);
  EXPECT_GE(stats.dropped, 100u - 5 - 1);  // one may be in the sender's hands
  EXPECT_LE(stats.dropped, 100u - 5);
}

TEST(EventRecorderTest, ForbiddenStopsPostingAfterOneLogLine) {
  auto state = std::make_shared<FakeSink::State>();
  state->answer = Status::PermissionDenied("forbidden: user nobody cannot create events");
  std::vector<std::string> lines;
  std::mutex lines_mu;
  EventRecorder::Options o;
  o.log = [&](const std::string& line) {
    std::lock_guard lock(lines_mu);
    lines.push_back(line);
  };
  EventRecorder recorder(std::make_unique<FakeSink>(state), o);
  for (int i = 0; i < 50; ++i) recorder.Record(Kill("shop", i));
  EXPECT_TRUE(recorder.Flush(seconds(5)));
  for (int i = 50; i < 100; ++i) recorder.Record(Kill("shop", i));
  EXPECT_TRUE(recorder.Flush(seconds(5)));
  EXPECT_EQ(state->calls.load(), 1);  // the first refusal ends posting
  std::lock_guard lock(lines_mu);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("cannot create events"), std::string::npos) << lines[0];
  const auto stats = recorder.GetStats();
  EXPECT_TRUE(stats.forbidden);
  EXPECT_EQ(stats.dropped, 100u);
  EXPECT_EQ(stats.posted, 0u);
}

TEST(EventRecorderTest, FlushGivesUpAtItsDeadlineAndShutdownDoesNotHang) {
  auto state = std::make_shared<FakeSink::State>();
  state->delay = seconds(30);  // a server that never answers in time
  EventRecorder::Options o;
  o.request_timeout = seconds(30);
  auto recorder = std::make_unique<EventRecorder>(std::make_unique<FakeSink>(state), o);
  for (int i = 0; i < 20; ++i) recorder->Record(Kill("shop", i));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(recorder->Flush(milliseconds(300)));
  const auto flushed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(flushed, milliseconds(300));
  EXPECT_LT(flushed, seconds(3));
  recorder.reset();  // aborts the request in flight
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(4));
}

TEST(EventRecorderTest, OtherFailuresAreCountedAndPostingGoesOn) {
  auto state = std::make_shared<FakeSink::State>();
  state->answer = Status::Unavailable("the API server answered 503");
  EventRecorder recorder(std::make_unique<FakeSink>(state), EventRecorder::Options{});
  for (int i = 0; i < 3; ++i) recorder.Record(Kill("shop", i));
  EXPECT_TRUE(recorder.Flush(seconds(5)));
  {
    std::lock_guard lock(state->mu);
    state->answer = Status::Ok();
  }
  for (int i = 3; i < 6; ++i) recorder.Record(Kill("shop", i));
  EXPECT_TRUE(recorder.Flush(seconds(5)));
  const auto stats = recorder.GetStats();
  EXPECT_EQ(stats.failed, 3u);
  EXPECT_EQ(stats.posted, 3u);
  EXPECT_FALSE(stats.forbidden);
}

}  // namespace
}  // namespace gameday

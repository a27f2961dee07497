// The engine's sample feed: samples go to the store as they come, the live checks see only what
// is new, and the final metrics come from one pass over the store.
#include "experiments/sample_feed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

namespace gameday {
namespace {

// Hands out whatever the test queued, like a sampler that released it.
class QueuedSampling : public Sampling {
 public:
  void Start(MonoTime) override {}
  void Stop() override {}
  void Drain(size_t index, std::vector<Sample>* out) override {
    std::lock_guard lock(mu_);
    auto& q = queued_[index];
    out->insert(out->end(), q.begin(), q.end());
    q.clear();
  }
  void Push(size_t index, double t, Health h, std::string detail = "") {
    std::lock_guard lock(mu_);
    Sample s;
    s.t_send = t;
    s.t_done = t + 0.002;
    s.health = h;
    s.latency_ms = 2;
    s.detail = std::move(detail);
    queued_[index].push_back(s);
  }

 private:
  std::mutex mu_;
  std::map<size_t, std::vector<Sample>> queued_;
};

class SampleFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gameday-feed-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    for (const char* name : {"a", "b"}) {
      VerifierSpec v;
      v.name = name;
      v.interval = std::chrono::milliseconds(100);
      verifiers_.push_back(v);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SampleWriter> Store(bool named = true) {
    auto w = SampleWriter::Create(named ? (dir_ / "samples.gdsamples").string() : "", 0600);
    EXPECT_TRUE(w.ok()) << w.status().message();
    return w.ok() ? std::move(w.value()) : nullptr;
  }
  std::unique_ptr<SampleFeed> Feed(SampleWriter* store, uint32_t first_stream = 0) {
    auto feed = std::make_unique<SampleFeed>("exp", verifiers_, store, first_stream,
                                             [this] { return now_; });
    EXPECT_TRUE(feed->Declare().ok());
    feed->Attach(&sampling_);
    return feed;
  }
  // Verifier 0 passes, fails in [2, 3), passes again; verifier 1 passes throughout.
  void Queue(double from, double to) {
    for (double t = from; t < to - 1e-9; t += 0.1) {
      const bool down = t >= 2 - 1e-9 && t < 3 - 1e-9;
      sampling_.Push(0, t, down ? Health::kUnhealthy : Health::kHealthy, down ? "503" : "");
      sampling_.Push(1, t, Health::kHealthy);
    }
  }

  std::filesystem::path dir_;
  std::vector<VerifierSpec> verifiers_;
  QueuedSampling sampling_;
  double now_ = 0;
};

TEST_F(SampleFeedTest, LiveChecksSeeOnlyWhatIsNew) {
  auto store = Store();
  auto feed = Feed(store.get());
  Queue(0, 1);
  now_ = 1;
  feed->Pump();
  EXPECT_EQ(feed->RatioSoFar(0), 1.0);
  EXPECT_EQ(feed->Live()[0].samples, 10u);
  EXPECT_EQ(feed->MarkAction(), 1.0);  // the inject
  Queue(1, 2.5);
  now_ = 2.5;
  feed->Pump();
  EXPECT_TRUE(feed->FailingFor(0, 2.5, 0.4));
  EXPECT_FALSE(feed->FailingFor(0, 2.5, 0.6));
  EXPECT_FALSE(feed->FailingFor(1, 2.5, 0.1));
  EXPECT_FALSE(feed->Recovered(0, 0.5));
  EXPECT_EQ(feed->Live()[0].failing, 5u);
  EXPECT_EQ(feed->Live()[0].last, Health::kUnhealthy);
  EXPECT_EQ(feed->Live()[0].last_detail, "503");
  now_ = 2.6;
  EXPECT_EQ(feed->MarkAction(), 2.6);  // the revert, mid-outage
  Queue(2.5, 4);
  now_ = 4;
  feed->Pump();
  EXPECT_FALSE(feed->FailingFor(0, 4, 0.1));
  EXPECT_TRUE(feed->Recovered(0, 0.85));  // passing from 3.0 to 3.9
  EXPECT_FALSE(feed->Recovered(0, 0.95));
  // Verifier b passed throughout, but only what came after the last action counts: 2.6 .. 3.9.
  EXPECT_TRUE(feed->Recovered(1, 1.2));
  EXPECT_FALSE(feed->Recovered(1, 1.4));
  EXPECT_EQ(feed->LastAction(), 2.6);
}

TEST_F(SampleFeedTest, TheWindowEndsWhereItIsClosed) {
  auto store = Store();
  auto feed = Feed(store.get());
  Queue(0, 1.4);
  now_ = 1.45;
  feed->Pump();
  EXPECT_EQ(feed->WindowRatio(0), std::nullopt);
  EXPECT_EQ(feed->BeginWindow(), 1.45);
  Queue(1.4, 2.0);  // 1.4 was sent before the window opened: not counted
  now_ = 1.95;
  feed->EndWindow();
  Queue(2.0, 3);  // sent after the window closed (and failing): not counted
  feed->Pump();
  EXPECT_EQ(feed->WindowRatio(0), 1.0);
  EXPECT_EQ(feed->RatioSoFar(0), 20.0 / 30.0);
}

TEST_F(SampleFeedTest, FinishMeasuresFromTheStoreAndKeepsShortRunsInline) {
  auto store = Store();
  auto feed = Feed(store.get(), 5);
  Queue(0, 1);
  now_ = 1;
  feed->Pump();
  const double t_inject = feed->MarkAction();
  Queue(1, 6);
  feed->Pump();
  std::vector<FaultTiming> faults(1);
  faults[0].step = "break";
  faults[0].t_inject = t_inject;
  faults[0].injected = true;
  std::vector<VerifierResult> out(2);
  ASSERT_TRUE(feed->Finish(DisturbancesOf(faults), 0.5, 1000, &out).ok());
  ASSERT_EQ(out[0].samples.size(), 60u);
  EXPECT_EQ(out[0].sample_count, 60u);
  EXPECT_FALSE(out[0].store.has_value());
  EXPECT_TRUE(out[0].overall.impact);
  EXPECT_NEAR(*out[0].overall.time_to_detect_s, 1.0, 1e-9);
  EXPECT_NEAR(*out[0].overall.time_to_recover_s, 2.0, 1e-9);
  ASSERT_EQ(out[0].per_fault.size(), 1u);
  EXPECT_EQ(out[0].per_fault[0].fault_id, "break");
  ASSERT_TRUE(out[0].last_error.has_value());
  EXPECT_NEAR(out[0].last_error->t_send, 2.9, 1e-9);
  EXPECT_EQ(out[0].last_error->detail, "503");
  EXPECT_FALSE(out[1].overall.impact);
  EXPECT_FALSE(out[1].last_error.has_value());
}

TEST_F(SampleFeedTest, LongRunsReferenceTheStore) {
  auto store = Store();
  auto feed = Feed(store.get(), 5);
  Queue(0, 6);
  now_ = 6;
  feed->Pump();
  std::vector<VerifierResult> out(2);
  ASSERT_TRUE(feed->Finish({}, 0.5, 100, &out).ok());
  EXPECT_TRUE(out[0].samples.empty());
  EXPECT_EQ(out[0].sample_count, 60u);
  ASSERT_TRUE(out[1].store.has_value());
  EXPECT_EQ(out[1].store->file, "samples.gdsamples");
  EXPECT_EQ(out[1].store->stream, 6u);
  // What the reference points at is every sample of that verifier, in send order.
  auto reader = SampleReader::Open((dir_ / "samples.gdsamples").string());
  ASSERT_TRUE(reader.ok());
  size_t n = 0;
  double last = -1;
  ASSERT_TRUE(reader
                  ->ForEach({6},
                            [&](const SampleStreamInfo& info, const Sample& s) {
                              EXPECT_EQ(info.verifier, "b");
                              EXPECT_GT(s.t_send, last);
                              last = s.t_send;
                              ++n;
                            })
                  .ok());
  EXPECT_EQ(n, 60u);
}

TEST_F(SampleFeedTest, AnAnonymousStoreKeepsEverythingInline) {
  auto store = Store(false);
  auto feed = Feed(store.get());
  Queue(0, 6);
  feed->Pump();
  std::vector<VerifierResult> out(2);
  ASSERT_TRUE(feed->Finish({}, 0.5, 1, &out).ok());
  EXPECT_EQ(out[0].samples.size(), 60u);
  EXPECT_FALSE(out[0].store.has_value());
}

TEST_F(SampleFeedTest, PumpingFromSeveralThreadsKeepsEachVerifierInOrder) {
  auto store = Store();
  auto feed = Feed(store.get());
  std::thread producer([&] {
    for (int k = 0; k < 2000; ++k) {
      sampling_.Push(0, k * 0.001, Health::kHealthy);
      sampling_.Push(1, k * 0.001, k % 7 ? Health::kHealthy : Health::kUnhealthy, "x");
    }
  });
  std::thread a([&] {
    for (int k = 0; k < 200; ++k) feed->Pump();
  });
  std::thread b([&] {
    for (int k = 0; k < 200; ++k) feed->Pump();
  });
  producer.join();
  a.join();
  b.join();
  feed->Pump();
  std::vector<VerifierResult> out(2);
  ASSERT_TRUE(feed->Finish({}, 0.5, 100000, &out).ok());
  for (const VerifierResult& v : out) {
    ASSERT_EQ(v.samples.size(), 2000u);
    for (size_t i = 1; i < v.samples.size(); ++i) {
      ASSERT_LT(v.samples[i - 1].t_send, v.samples[i].t_send);
    }
  }
}

}  // namespace
}  // namespace gameday

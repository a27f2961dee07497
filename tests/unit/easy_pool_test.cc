// The probe handle pool: handles are reused, and a burst of probes does not keep its handles,
// neither beyond kKeepFree at once nor those that the steady probing after it does not need.

#include "verifiers/probe/easy_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

namespace gameday {
namespace {

struct TestProbe {
  CURL* easy = nullptr;
  int configured = 0;
};

TEST(EasyHandlePoolTest, ReusesAReleasedProbeWithoutConfiguringItAgain) {
  EasyHandlePool<TestProbe> pool;
  int configures = 0;
  auto configure = [&configures](TestProbe& p) { p.configured = ++configures; };
  TestProbe* first = pool.Acquire(configure);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(first->easy, nullptr);
  pool.Release(first);
  TestProbe* again = pool.Acquire(configure);
  EXPECT_EQ(again, first);
  EXPECT_EQ(configures, 1);
  EXPECT_EQ(pool.size(), 1u);
  pool.Release(again);
}

TEST(EasyHandlePoolTest, ABurstShrinksBackToAFewFreeProbes) {
  EasyHandlePool<TestProbe> pool;
  auto configure = [](TestProbe& p) { p.configured = 1; };
  // 64 probes out at once, as when a stalled server holds every probe of a verifier.
  std::vector<TestProbe*> out;
  for (int i = 0; i < 64; ++i) out.push_back(pool.Acquire(configure));
  EXPECT_EQ(std::set<TestProbe*>(out.begin(), out.end()).size(), 64u);
  EXPECT_EQ(pool.size(), 64u);
  const uint64_t cleaned_before = ProbeHandlesCleanedUp().load();
  for (TestProbe* p : out) pool.Release(p);
  EXPECT_EQ(pool.size(), EasyHandlePool<TestProbe>::kKeepFree);
  EXPECT_EQ(ProbeHandlesCleanedUp().load() - cleaned_before,
            64 - EasyHandlePool<TestProbe>::kKeepFree);
  // What is kept is reused before anything new is made.
  std::vector<TestProbe*> again;
  for (size_t i = 0; i < EasyHandlePool<TestProbe>::kKeepFree; ++i) {
    again.push_back(pool.Acquire(configure));
  }
  EXPECT_EQ(pool.size(), EasyHandlePool<TestProbe>::kKeepFree);
  for (TestProbe* p : again) pool.Release(p);
}

TEST(EasyHandlePoolTest, FreeProbesThatAWholePeriodDidNotNeedAreCleanedUp) {
  using std::chrono::milliseconds;
  using Pool = EasyHandlePool<TestProbe>;
  Pool pool;
  auto configure = [](TestProbe& p) { p.configured = 1; };
  auto t = std::chrono::steady_clock::now();
  // After a burst, kKeepFree probes wait; steady probing then needs one at a time.
  std::vector<TestProbe*> out;
  for (size_t i = 0; i < Pool::kKeepFree; ++i) out.push_back(pool.Acquire(configure));
  for (TestProbe* p : out) pool.Release(p, t);
  ASSERT_EQ(pool.size(), Pool::kKeepFree);
  const uint64_t cleaned_before = ProbeHandlesCleanedUp().load();
  // One probe out at a time for two whole periods: the others were never needed.
  for (int i = 0; i < 50; ++i) {
    t += milliseconds(100);
    pool.Release(pool.Acquire(configure), t);
  }
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(ProbeHandlesCleanedUp().load() - cleaned_before, Pool::kKeepFree - 1);
  // Two out at once (a server slower than the interval) keeps two.
  TestProbe* a = pool.Acquire(configure);
  TestProbe* b = pool.Acquire(configure);
  pool.Release(a, t);
  pool.Release(b, t);
  for (int i = 0; i < 50; ++i) {
    t += milliseconds(100);
    TestProbe* x = pool.Acquire(configure);
    TestProbe* y = pool.Acquire(configure);
    pool.Release(x, t);
    pool.Release(y, t);
  }
  EXPECT_EQ(pool.size(), 2u);
}

}  // namespace
}  // namespace gameday

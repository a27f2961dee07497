// Fan-out: stopping a service on 20 test hosts at once against stopping it on one.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "injectors/service_stop/service_stop_injector.h"
#include "tests/integration/ssh_test_util.h"

namespace gameday {
namespace {

using std::chrono::seconds;
using testing::BedTest;
using testing::Quote;

constexpr int kHosts = 20;

class FanOutTest : public BedTest {
 protected:
  int CountState(const std::string& state) const {
    int n = 0;
    for (size_t i = 0; i < bed_->hosts().size(); ++i) {
      const std::string st =
          bed_->Exec(i, "sv status " + Quote(Host(i).Var("dummy_service_dir"))).out;
      n += st.rfind(state + ":", 0) == 0;
    }
    return n;
  }
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Injects (or reverts) every target at once, one thread per target, as the engine's `all` mode
// does; returns the wall time and fails the test on any error.
double AllAtOnce(size_t n, const std::function<Status(size_t)>& act) {
  std::vector<Status> results(n);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) threads.emplace_back([&, i] { results[i] = act(i); });
  for (auto& t : threads) t.join();
  const double took = Seconds(std::chrono::steady_clock::now() - start);
  for (size_t i = 0; i < n; ++i) EXPECT_TRUE(results[i].ok()) << results[i].ToString();
  return took;
}

TEST_F(FanOutTest, StoppingOnTwentyHostsTakesAboutAsLongAsOnOne) {
  ASSERT_TRUE(Up("fan", kHosts, 0));
  InjectorEnv env;
  env.run_id = "fanout";
  env.duration = seconds(10);
  const std::string spec = "service: {runit: '{{dummy_service_dir}}'}\n";

  struct Round {
    double discover = 0;  // selection plus opening (or checking) the SSH sessions
    double inject = 0;
    double revert = 0;
  };
  // cold: a fresh session pool (SSH handshakes included); warm: the pool from the cold round.
  auto run = [&](const std::string& hosts, size_t n, std::shared_ptr<SshClient> ssh) {
    auto kind = MakeServiceStopInjectorKind(ssh);
    std::shared_ptr<Injector> injector =
        ParseSpec(*kind, "hosts: " + hosts + "\n" + spec, SshTarget());
    Round r;
    if (!injector) return r;
    const auto start = std::chrono::steady_clock::now();
    auto targets = injector->Discover(env);
    r.discover = Seconds(std::chrono::steady_clock::now() - start);
    EXPECT_TRUE(targets.ok()) << targets.status().ToString();
    if (!targets.ok()) return r;
    EXPECT_EQ(targets->size(), n);
    std::vector<std::string> records;
    for (const FaultTarget& t : *targets) records.push_back(*injector->RevertRecord(t, env));
    r.inject = AllAtOnce(n, [&](size_t i) { return injector->Inject((*targets)[i], env); });
    EXPECT_EQ(CountState("down"), static_cast<int>(n));
    r.revert = AllAtOnce(n, [&](size_t i) { return kind->Revert(records[i], env); });
    EXPECT_EQ(CountState("run"), kHosts);
    return r;
  };

  auto pool_one = std::make_shared<SshClient>();
  auto pool_all = std::make_shared<SshClient>();
  const Round one_cold = run("h1", 1, pool_one);
  const Round all_cold = run("all", kHosts, pool_all);
  const Round one_warm = run("h1", 1, pool_one);
  const Round all_warm = run("all", kHosts, pool_all);

  // The same over the bare client: one command on 20 sessions vs on one.
  std::vector<SshEndpoint> endpoints;
  for (const InventoryHost& h : inventory_.hosts) endpoints.push_back(h.ssh);
  auto t = std::chrono::steady_clock::now();
  auto r1 = pool_all->RunOnMany({endpoints[0]}, "true", seconds(10));
  const double many_one = Seconds(std::chrono::steady_clock::now() - t);
  t = std::chrono::steady_clock::now();
  auto r20 = pool_all->RunOnMany(endpoints, "true", seconds(10));
  const double many_all = Seconds(std::chrono::steady_clock::now() - t);
  for (const auto& r : r20) EXPECT_TRUE(r.ok() && r->ok());

  std::printf(
      "fan-out of a runit service stop, wall time (discover = select + open/check SSH sessions;\n"
      "revert = sv up until running, which runsv holds back until 1 s after the last start):\n"
      "                 discover   inject   revert\n"
      "  cold,  1 host  %7.3f s %7.3f s %7.3f s\n"
      "  cold, %d hosts %7.3f s %7.3f s %7.3f s\n"
      "  warm,  1 host  %7.3f s %7.3f s %7.3f s\n"
      "  warm, %d hosts %7.3f s %7.3f s %7.3f s\n"
      "  RunOnMany(`true`, warm): 1 host %.3f s, %d hosts %.3f s\n",
      one_cold.discover, one_cold.inject, one_cold.revert, kHosts, all_cold.discover,
      all_cold.inject, all_cold.revert, one_warm.discover, one_warm.inject, one_warm.revert, kHosts,
      all_warm.discover, all_warm.inject, all_warm.revert, many_one, kHosts, many_all);
  // "Not much longer": well under 20 times one host's time. The bound is loose because the
  // machine has 2 cores and 20 sshd processes share them.
  EXPECT_LT(all_warm.inject, 4 * one_warm.inject + 0.5);
  EXPECT_LT(all_cold.discover + all_cold.inject, 4 * (one_cold.discover + one_cold.inject) + 1.5);
}

}  // namespace
}  // namespace gameday

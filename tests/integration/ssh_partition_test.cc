// host-partition over SSH: real iptables rules in the test hosts' network namespaces, a real
// 3-member etcd cluster on the two sides, and the on-host expiry.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "clients/etcd/etcd_client.h"
#include "injectors/host_partition/host_partition_injector.h"
#include "tests/integration/ssh_test_util.h"
#include "tests/unit/sample_log.h"
#include "verifiers/etcd/etcd_verifier.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BedTest;
using testing::Quote;
using testing::WaitFor;

class PartitionTest : public BedTest {
 protected:
  std::string Chains(size_t i) const {
    return bed_->Exec(i, "iptables -w -S | grep GAMEDAY || true").out;
  }
  // Whether host i can open a TCP connection to address:port (from inside its namespace).
  bool CanConnect(size_t i, const std::string& address, int port) const {
    return bed_->Exec(i, "timeout 1 bash -c 'exec 3<>/dev/tcp/" + address + "/" +
                             std::to_string(port) + "'")
               .status == 0;
  }
  std::vector<std::string> EtcdUrls() const {
    std::vector<std::string> urls;
    for (const InventoryHost& h : inventory_.hosts) urls.push_back(h.EtcdUrl());
    return urls;
  }
  size_t IndexOf(const std::string& name) const {
    for (size_t i = 0; i < inventory_.hosts.size(); ++i) {
      if (inventory_.hosts[i].name == name) return i;
    }
    return inventory_.hosts.size();
  }
  VerifierSpec EtcdVerifier(const std::string& name, const std::string& spec) {
    VerifierSpec vs;
    vs.name = name;
    vs.kind = "etcd";
    vs.interval = milliseconds(100);
    vs.verifier = ParseSpec(*etcd_kind_, spec, SshTarget());
    return vs;
  }

  std::unique_ptr<VerifierKind> etcd_kind_ = MakeEtcdVerifierKind();
};

struct Window {
  int healthy = 0;
  int unhealthy = 0;
  int unknown = 0;
};

Window Count(const std::vector<Sample>& samples, double from, double to) {
  Window w;
  for (const Sample& s : samples) {
    if (s.t_send < from || s.t_send >= to) continue;
    if (s.health == Health::kHealthy) ++w.healthy;
    if (s.health == Health::kUnhealthy) ++w.unhealthy;
    if (s.health == Health::kUnknown) ++w.unknown;
  }
  return w;
}

TEST_F(PartitionTest, IsolatedLeaderLosesWritesWhileTheMajorityKeepsThem) {
  ASSERT_TRUE(Up("part", 3, 3));
  auto kind = MakeHostPartitionInjectorKind(std::make_shared<SshClient>());
  std::shared_ptr<Injector> injector = ParseSpec(*kind,
                                                 "hosts: etcd-leader of etcd\n"
                                                 "from: etcd\n"
                                                 "direction: both\n",
                                                 SshTarget());
  ASSERT_TRUE(injector);
  InjectorEnv env;
  env.run_id = "partition-test";
  env.duration = seconds(4);
  auto targets = injector->Discover(env);
  ASSERT_TRUE(targets.ok()) << targets.status().ToString();
  ASSERT_EQ(targets->size(), 1u);
  const size_t cut = IndexOf((*targets)[0].id);
  ASSERT_LT(cut, 3u);
  std::cout << "action: " << injector->DescribeAction((*targets)[0]) << "\n";

  std::vector<VerifierSpec> verifiers = {
      EtcdVerifier("cluster", "hosts: etcd\ntimeout: 1s\n"),
      EtcdVerifier("isolated", "hosts: " + Host(cut).name + "\ntimeout: 500ms\n")};
  ASSERT_TRUE(verifiers[0].verifier && verifiers[1].verifier);
  ProbeLoop loop(verifiers, Clock::Real());
  gameday::testing::SampleLog samples_of(loop);
  const MonoTime epoch = Clock::Real().Now();
  loop.Start(epoch);
  std::this_thread::sleep_for(milliseconds(1500));

  auto record = injector->RevertRecord((*targets)[0], env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  const double t0 = ToSeconds(Clock::Real().Now() - epoch);
  Status injected = injector->Inject((*targets)[0], env);
  const double t_inject = ToSeconds(Clock::Real().Now() - epoch);
  ASSERT_TRUE(injected.ok()) << injected.ToString();
  EXPECT_NE(Chains(cut).find("-N GAMEDAY-"), std::string::npos) << Chains(cut);
  for (size_t other = 0; other < 3; ++other) {
    if (other == cut) continue;
    EXPECT_TRUE(Chains(other).empty()) << "only the selected host gets rules";
    EXPECT_FALSE(CanConnect(cut, Host(other).ssh.address, 2380));
    EXPECT_FALSE(CanConnect(other, Host(cut).ssh.address, 2380));
  }

  std::this_thread::sleep_for(seconds(4));  // the fault's duration
  Result<size_t> leader = FindEtcdLeader(EtcdUrls(), seconds(1));
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  EXPECT_NE(*leader, cut) << "the majority elected a leader of its own";
  const double t_revert = ToSeconds(Clock::Real().Now() - epoch);
  Status reverted = kind->Revert(*record, env);
  ASSERT_TRUE(reverted.ok()) << reverted.ToString();
  EXPECT_EQ(Chains(cut), "");
  EXPECT_TRUE(kind->Revert(*record, env).ok()) << "revert must be idempotent";

  // All three agree again: same leader everywhere, the cut member serves writes.
  std::string why;
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string leader_id;
        for (const std::string& url : EtcdUrls()) {
          Result<EtcdMemberStatus> s = GetEtcdStatus(url, seconds(1));
          if (!s.ok() || s->leader.empty() || s->leader == "0" ||
              (!leader_id.empty() && s->leader != leader_id)) {
            why = s.ok() ? url + " follows " + s->leader : s.status().message();
            return false;
          }
          leader_id = s->leader;
        }
        return true;
      },
      seconds(20)))
      << why;
  const double t_agree = ToSeconds(Clock::Real().Now() - epoch);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto samples = samples_of(1);
        return !samples.empty() && samples.back().health == Health::kHealthy;
      },
      seconds(10)));
  std::this_thread::sleep_for(milliseconds(500));
  loop.Stop();

  const auto cluster = samples_of(0);
  const auto isolated = samples_of(1);
  Window before = Count(cluster, 0, t0);
  EXPECT_GT(before.healthy, 5);
  EXPECT_EQ(before.unhealthy, 0);
  // The majority keeps taking writes: at most a short election gap (the leader was cut).
  Window during = Count(cluster, t_inject, t_revert);
  Window settled = Count(cluster, t_inject + 2.5, t_revert);
  EXPECT_GT(settled.healthy, 10);
  EXPECT_EQ(settled.unhealthy, 0) << "the majority side lost writes for good";
  // The isolated member cannot commit anything once it noticed it is alone.
  Window cut_off = Count(isolated, t_inject + 1.5, t_revert);
  EXPECT_GT(cut_off.unhealthy, 5);
  EXPECT_EQ(cut_off.healthy, 0) << "the isolated member accepted writes";
  std::printf(
      "partition of leader %s: cluster verifier %d/%d failing samples during the fault (%.1f s), "
      "0 after %.1f s; isolated member %d/%d failing; all members agree again %.2f s after "
      "revert\n",
      Host(cut).name.c_str(), during.unhealthy, during.healthy + during.unhealthy,
      t_revert - t_inject, 2.5, cut_off.unhealthy, cut_off.healthy + cut_off.unhealthy,
      t_agree - t_revert);
}

TEST_F(PartitionTest, OnHostExpiryRemovesTheRulesWhenTheToolIsGone) {
  ASSERT_TRUE(Up("pexp", 2, 0));
  InjectorEnv env;
  env.run_id = "expiry-test";
  env.duration = seconds(1);
  {
    // The tool: injects, then forgets everything (no revert, no journal, sessions closed).
    auto kind = MakeHostPartitionInjectorKind(std::make_shared<SshClient>());
    std::shared_ptr<Injector> injector =
        ParseSpec(*kind, "hosts: h1\nexpiry_margin: 2s\n", SshTarget());
    ASSERT_TRUE(injector);
    FaultTarget h1 = (*injector->Discover(env))[0];
    ASSERT_TRUE(injector->RevertRecord(h1, env).ok());
    ASSERT_TRUE(injector->Inject(h1, env).ok());
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(Chains(0).find("GAMEDAY-"), std::string::npos);
  EXPECT_FALSE(CanConnect(1, Host(0).ssh.address, 22)) << "h2 still reaches h1";
  EXPECT_TRUE(WaitFor([&] { return Chains(0).empty(); }, seconds(3 + 3)))
      << "rules still there: " << Chains(0);
  const double healed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(CanConnect(1, Host(0).ssh.address, 22));
  EXPECT_TRUE(WaitFor([&] { return GamedayLeftovers().empty(); }, seconds(3)))
      << GamedayLeftovers();
  std::printf("host-partition on-host expiry (1s + 2s margin): rules gone %.2f s after inject\n",
              healed);
  EXPECT_LT(healed, 3.0 + 2.0);
}

TEST_F(PartitionTest, TheToolsOwnSshIsExemptEvenWhenItsAddressIsCut) {
  ASSERT_TRUE(Up("pssh", 1, 1));
  // An inventory that also lists the tool's machine (the bridge address) as a host, so the
  // partition cuts the tool's address off h1.
  const std::string bridge = Host(0).ssh.address.substr(0, Host(0).ssh.address.rfind('.')) + ".1";
  const std::string inventory = bed_->dir() + "/inventory-with-tool.yaml";
  {
    std::ifstream in(bed_->inventory_path());
    std::ofstream out(inventory);
    out << in.rdbuf() << "  - name: tool\n    address: " << bridge << "\n    groups: [tools]\n";
  }
  TargetSpec target = SshTarget();
  target.inventory = inventory;
  auto ssh = std::make_shared<SshClient>();
  auto kind = MakeHostPartitionInjectorKind(ssh);
  std::shared_ptr<Injector> injector = ParseSpec(*kind, "hosts: h1\nfrom: tools\n", target);
  ASSERT_TRUE(injector);
  InjectorEnv env;
  env.run_id = "exempt-test";
  env.duration = seconds(30);
  FaultTarget h1 = (*injector->Discover(env))[0];
  auto record = injector->RevertRecord(h1, env);
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(GetEtcdStatus(Host(0).EtcdUrl(), seconds(1)).ok());
  ASSERT_TRUE(injector->Inject(h1, env).ok());

  // Everything else from the tool's address is dropped...
  Result<EtcdMemberStatus> status = GetEtcdStatus(Host(0).EtcdUrl(), milliseconds(700));
  EXPECT_FALSE(status.ok()) << "etcd on h1 still answers the tool";
  // ...but SSH goes through: the pooled session and a brand-new one.
  auto pooled = ssh->Run(Host(0).ssh, "echo pooled", seconds(5));
  EXPECT_TRUE(pooled.ok()) << pooled.status().ToString();
  SshClient fresh;
  auto fresh_run = fresh.Run(Host(0).ssh, "echo fresh", seconds(5));
  EXPECT_TRUE(fresh_run.ok()) << fresh_run.status().ToString();

  // The revert comes in over a new session, as `gameday recover` would.
  auto recover_kind = MakeHostPartitionInjectorKind();
  Status reverted = recover_kind->Revert(*record, env);
  ASSERT_TRUE(reverted.ok()) << reverted.ToString();
  EXPECT_EQ(Chains(0), "");
  EXPECT_TRUE(GetEtcdStatus(Host(0).EtcdUrl(), seconds(2)).ok());
}

}  // namespace
}  // namespace gameday

// service-stop over SSH against a real 3-member etcd cluster under runit in network namespaces,
// watched by the etcd verifier on the real probe loop.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "clients/etcd/etcd_client.h"
#include "injectors/service_stop/service_stop_injector.h"
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

class ServiceStopTest : public BedTest {
 protected:
  std::vector<std::string> EtcdUrls() const {
    std::vector<std::string> urls;
    for (const InventoryHost& h : inventory_.hosts) {
      if (!h.EtcdUrl().empty()) urls.push_back(h.EtcdUrl());
    }
    return urls;
  }

  // True when every member answers, names the same leader and the cluster lists 3 members.
  bool ClusterAgrees(std::string* why) const {
    std::string leader;
    for (const std::string& url : EtcdUrls()) {
      Result<EtcdMemberStatus> s = GetEtcdStatus(url, seconds(1));
      if (!s.ok()) {
        *why = s.status().message();
        return false;
      }
      if (s->leader.empty() || s->leader == "0" || (!leader.empty() && s->leader != leader)) {
        *why = url + " follows '" + s->leader + "', others '" + leader + "'";
        return false;
      }
      leader = s->leader;
    }
    Result<std::vector<EtcdMember>> members = ListEtcdMembers(EtcdUrls()[0], seconds(1));
    if (!members.ok() || members->size() != 3) {
      *why = members.ok() ? "member list has " + std::to_string(members->size()) : "no list";
      return false;
    }
    return true;
  }

  std::string RunitStatus(size_t i, const std::string& var) const {
    return bed_->Exec(i, "sv status " + Quote(Host(i).Var(var))).out;
  }

  size_t IndexOf(const std::string& name) const {
    for (size_t i = 0; i < inventory_.hosts.size(); ++i) {
      if (inventory_.hosts[i].name == name) return i;
    }
    return inventory_.hosts.size();
  }
};

TEST_F(ServiceStopTest, StoppingTheEtcdLeaderIsSeenAsAWriteOutageThatElectionEnds) {
  ASSERT_TRUE(Up("stop", 3, 3));
  auto ssh = std::make_shared<SshClient>();
  auto kind = MakeServiceStopInjectorKind(ssh);
  std::shared_ptr<Injector> injector = ParseSpec(*kind,
                                                 "hosts: etcd-leader of etcd\n"
                                                 "service: {runit: '{{etcd_service_dir}}'}\n"
                                                 "signal: KILL\n",
                                                 SshTarget());
  ASSERT_TRUE(injector);
  auto verifier_kind = MakeEtcdVerifierKind();
  VerifierSpec vs;
  vs.name = "etcd-writes";
  vs.kind = "etcd";
  vs.interval = milliseconds(100);
  vs.verifier =
      ParseSpec(*verifier_kind, "hosts: etcd\noperation: put\ntimeout: 1s\n", SshTarget());
  ASSERT_TRUE(vs.verifier);

  InjectorEnv env;
  env.run_id = "stop-test";
  env.duration = seconds(10);
  Result<std::vector<FaultTarget>> targets = injector->Discover(env);
  ASSERT_TRUE(targets.ok()) << targets.status().ToString();
  ASSERT_EQ(targets->size(), 1u);
  Result<size_t> leader = FindEtcdLeader(EtcdUrls(), seconds(1));
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  EXPECT_EQ((*targets)[0].id, Host(*leader).name) << "Discover must pick the current leader";
  const size_t victim = IndexOf((*targets)[0].id);
  std::cout << "action: " << injector->DescribeAction((*targets)[0]) << "\n";

  ProbeLoop loop({vs}, Clock::Real());

  gameday::testing::SampleLog samples_of(loop);
  const MonoTime epoch = Clock::Real().Now();
  loop.Start(epoch);
  std::this_thread::sleep_for(milliseconds(1500));  // steady state

  Result<std::string> record = injector->RevertRecord((*targets)[0], env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  const double t_inject_start = ToSeconds(Clock::Real().Now() - epoch);
  Status injected = injector->Inject((*targets)[0], env);
  const double t_inject = ToSeconds(Clock::Real().Now() - epoch);
  ASSERT_TRUE(injected.ok()) << injected.ToString();
  EXPECT_NE(RunitStatus(victim, "etcd_service_dir").find("down:"), std::string::npos);

  // Wait for the outage to be seen and for writes to come back without any revert: the two
  // remaining members elect a new leader.
  auto first_fail_after = [&](double t) -> double {
    for (const Sample& s : samples_of(0)) {
      if (s.t_send >= t && s.health == Health::kUnhealthy) return s.t_send;
    }
    return -1;
  };
  auto first_pass_after = [&](double t) -> const Sample* {
    static Sample found;
    for (const Sample& s : samples_of(0)) {
      if (s.t_send > t && s.health == Health::kHealthy) {
        found = s;
        return &found;
      }
    }
    return nullptr;
  };
  double t_fail = -1;
  ASSERT_TRUE(
      WaitFor([&] { return (t_fail = first_fail_after(t_inject_start)) >= 0; }, seconds(10)))
      << "the verifier never saw writes fail after the leader was killed";
  const Sample* recovered = nullptr;
  ASSERT_TRUE(
      WaitFor([&] { return (recovered = first_pass_after(t_fail)) != nullptr; }, seconds(15)))
      << "writes never recovered through election";
  const double t_recovered = recovered->t_send;
  // Let a few more samples in to show recovery holds.
  std::this_thread::sleep_for(milliseconds(800));

  Result<size_t> new_leader = FindEtcdLeader(EtcdUrls(), seconds(1));
  ASSERT_TRUE(new_leader.ok()) << new_leader.status().ToString();
  EXPECT_NE(*new_leader, victim) << "the stopped member cannot be leader";

  // Revert: the member starts again and rejoins.
  Status reverted = kind->Revert(*record, env);
  ASSERT_TRUE(reverted.ok()) << reverted.ToString();
  EXPECT_NE(RunitStatus(victim, "etcd_service_dir").find("run:"), std::string::npos);
  std::string why;
  EXPECT_TRUE(WaitFor([&] { return ClusterAgrees(&why); }, seconds(20))) << why;
  Result<std::string> put_via_victim = EtcdPost(
      Host(victim).EtcdUrl(), "/v3/kv/put",
      "{\"key\":\"" + Base64Encode("after") + "\",\"value\":\"" + Base64Encode("x") + "\"}",
      seconds(3));
  EXPECT_TRUE(put_via_victim.ok()) << put_via_victim.status().ToString();
  // Idempotent: a second revert of the same record is fine.
  EXPECT_TRUE(kind->Revert(*record, env).ok());
  loop.Stop();

  const std::vector<Sample> samples = samples_of(0);
  int before = 0, before_bad = 0, failing = 0;
  for (const Sample& s : samples) {
    if (s.t_send < t_inject_start) {
      ++before;
      before_bad += s.health != Health::kHealthy;
    } else if (s.t_send < t_recovered && s.health == Health::kUnhealthy) {
      ++failing;
    }
  }
  EXPECT_GT(before, 5);
  EXPECT_EQ(before_bad, 0) << "steady state did not hold before the fault";
  EXPECT_GT(failing, 0);
  std::printf(
      "etcd leader %s killed (inject took %.0f ms): first failed write %.2f s after inject, "
      "writes back %.2f s after inject (bound: last failure..first success), %d failing samples "
      "of %zu\n",
      Host(victim).name.c_str(), (t_inject - t_inject_start) * 1e3, t_fail - t_inject,
      t_recovered - t_inject, failing, samples.size());
}

TEST_F(ServiceStopTest, FreezeByPidFileAndStaticPodManifestRoundTrip) {
  ASSERT_TRUE(Up("frz", 2, 0));
  auto kind = MakeServiceStopInjectorKind(std::make_shared<SshClient>());
  InjectorEnv env;
  env.run_id = "freeze-test";
  env.duration = seconds(5);

  // Freeze the dummy service's process, found through runit's pid file.
  std::shared_ptr<Injector> freeze = ParseSpec(
      *kind,
      "hosts: h2\n"
      "service: {process: {pid_file: '{{dummy_service_dir}}/supervise/pid', freeze: true}}\n",
      SshTarget());
  ASSERT_TRUE(freeze);
  auto targets = freeze->Discover(env);
  ASSERT_TRUE(targets.ok()) << targets.status().ToString();
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ((*targets)[0].id, "h2");
  auto record = freeze->RevertRecord((*targets)[0], env);
  ASSERT_TRUE(record.ok());
  const std::string pid_file = Host(1).Var("dummy_service_dir") + "/supervise/pid";
  auto state = [&] {
    return bed_->Exec(1, "sed 's/.*) //' /proc/$(cat " + Quote(pid_file) + ")/stat | cut -c1").out;
  };
  EXPECT_EQ(state(), "S\n");
  ASSERT_TRUE(freeze->Inject((*targets)[0], env).ok());
  EXPECT_EQ(state(), "T\n");
  ASSERT_TRUE(kind->Revert(*record, env).ok());
  EXPECT_EQ(state(), "S\n");

  // A static pod: the manifest leaves the kubelet's folder and comes back.
  const std::string manifests = Host(0).Var("gameday_state_dir") + "/manifests";
  ASSERT_EQ(
      bed_->Exec(0, "mkdir -p " + manifests + " && echo 'kind: Pod' > " + manifests + "/etcd.yaml")
          .status,
      0);
  std::shared_ptr<Injector> pod = ParseSpec(
      *kind,
      "hosts: h1\n"
      "service: {static_pod: {manifest: etcd.yaml, dir: '{{gameday_state_dir}}/manifests'}}\n",
      SshTarget());
  ASSERT_TRUE(pod);
  FaultTarget h1 = (*pod->Discover(env))[0];
  auto pod_record = pod->RevertRecord(h1, env);
  ASSERT_TRUE(pod_record.ok());
  ASSERT_TRUE(pod->Inject(h1, env).ok());
  struct stat st;
  EXPECT_NE(::stat((manifests + "/etcd.yaml").c_str(), &st), 0);
  EXPECT_EQ(::stat((Host(0).Var("gameday_state_dir") + "/gameday-stash/etcd.yaml").c_str(), &st),
            0);
  // Injecting again finds nothing to stop and says so; the on-host timer is not started.
  Status again = pod->Inject(h1, env);
  EXPECT_EQ(again.code(), Status::Code::kFailedPrecondition) << again.ToString();
  EXPECT_NE(again.message().find("manifest not found"), std::string::npos) << again.message();
  ASSERT_TRUE(kind->Revert(*pod_record, env).ok());
  EXPECT_EQ(::stat((manifests + "/etcd.yaml").c_str(), &st), 0);
  EXPECT_TRUE(kind->Revert(*pod_record, env).ok()) << "revert must be idempotent";
}

TEST_F(ServiceStopTest, OnHostExpiryStartsTheServiceWhenTheToolIsGone) {
  ASSERT_TRUE(Up("sexp", 1, 0));
  InjectorEnv env;
  env.run_id = "expiry-test";
  env.duration = seconds(1);
  {
    auto kind = MakeServiceStopInjectorKind(std::make_shared<SshClient>());
    std::shared_ptr<Injector> stop = ParseSpec(
        *kind, "hosts: h1\nservice: {runit: '{{dummy_service_dir}}'}\nexpiry_margin: 1s\n",
        SshTarget());
    ASSERT_TRUE(stop);
    FaultTarget h1 = (*stop->Discover(env))[0];
    ASSERT_TRUE(stop->RevertRecord(h1, env).ok());
    ASSERT_TRUE(stop->Inject(h1, env).ok());
    EXPECT_NE(RunitStatus(0, "dummy_service_dir").find("down:"), std::string::npos);
    // The tool forgets the fault here: no revert, sessions closed.
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return RunitStatus(0, "dummy_service_dir").rfind("run:", 0) == 0; },
                      seconds(10)))
      << RunitStatus(0, "dummy_service_dir");
  const double healed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("service-stop on-host expiry (1s + 1s margin) started the service %.2f s later\n",
              healed);
  EXPECT_LT(healed, 5.0);
  // The timer ends by itself once its start command has returned.
  EXPECT_TRUE(WaitFor([&] { return GamedayLeftovers().empty(); }, seconds(5)))
      << GamedayLeftovers();
}

// A revert that comes while a stopped process is still on its way out (its run was killed after
// the SIGTERM, or its stop is still waiting, as here) must wait for it to exit and then start
// the service; judging it running because it had not exited yet left the service down for good.
TEST_F(ServiceStopTest, RevertWaitsForAProcessStillExitingAndThenStartsIt) {
  ASSERT_TRUE(Up("slowx", 1, 0));
  const std::string script = bed_->dir() + "/slowsvc.sh";
  const std::string pid_file = bed_->dir() + "/slowsvc.pid";
  const std::string termed = bed_->dir() + "/slowsvc.term";
  std::ofstream(script) << "#!/bin/sh\nrm -f " << termed << "\necho $$ > " << pid_file
                        << "\ntrap 'touch " << termed
                        << "; sleep 3; exit 0' TERM\nwhile :; do sleep 0.05; done\n";
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  const auto pid = [&] { return bed_->Exec(0, "cat " + pid_file + " 2>/dev/null").out; };
  const auto alive = [&] {
    return bed_->Exec(0, "p=$(cat " + pid_file +
                             " 2>/dev/null); [ -n \"$p\" ] && [ -r /proc/$p/stat ] && "
                             "[ \"$(sed 's/.*) //' /proc/$p/stat | cut -c1)\" != Z ]")
               .status == 0;
  };
  bed_->Exec(0, "setsid " + script + " </dev/null >/dev/null 2>&1 &");
  ASSERT_TRUE(WaitFor(alive, seconds(5)));
  const std::string first = pid();

  InjectorEnv env;
  env.run_id = "slow-exit-test";
  env.duration = seconds(1);
  auto kind = MakeServiceStopInjectorKind(std::make_shared<SshClient>());
  std::shared_ptr<Injector> stop =
      ParseSpec(*kind,
                "hosts: h1\nservice: {process: {pid_file: " + pid_file + ", start: " + script +
                    "}}\nstop_timeout: 10s\nexpiry_margin: 60s\n",
                SshTarget());
  ASSERT_TRUE(stop);
  FaultTarget h1 = (*stop->Discover(env))[0];
  auto record = stop->RevertRecord(h1, env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  // The stop's own SSH command keeps waiting for the exit, as it does on the host after a
  // `kill -9` of the run; the revert comes over another session meanwhile.
  Status injected;
  std::thread inject([&] { injected = stop->Inject(h1, env); });
  EXPECT_TRUE(WaitFor([&] { return ::access(termed.c_str(), F_OK) == 0; }, seconds(5)));
  EXPECT_TRUE(alive()) << "the process should still be draining";
  // Its own client (a session pool of its own), like `gameday recover` in another process.
  auto recover = MakeServiceStopInjectorKind(std::make_shared<SshClient>());
  const auto t0 = std::chrono::steady_clock::now();
  Status reverted = recover->Revert(*record, env);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  inject.join();
  EXPECT_TRUE(injected.ok()) << injected.ToString();
  EXPECT_TRUE(reverted.ok()) << reverted.ToString();
  std::printf("revert during a 3 s exit took %.2f s\n", took);
  EXPECT_TRUE(WaitFor(alive, seconds(5))) << "the service stayed down";
  EXPECT_NE(pid(), first);
  EXPECT_TRUE(WaitFor([&] { return GamedayLeftovers().empty(); }, seconds(5)))
      << GamedayLeftovers();
  bed_->Exec(0, "for pid in $(ip netns pids " + bed_->hosts()[0].netns +
                    "); do tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q slowsvc && "
                    "kill -KILL -- -$pid $pid; done; true");
}

}  // namespace
}  // namespace gameday

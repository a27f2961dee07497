// network-partition on a real control plane: NetworkPolicies appear while the fault is in, carry
// gameday's labels and expiry, and are gone afterwards - also when the run is killed with
// SIGKILL and `gameday recover` cleans up from the journal alone.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "clients/kubernetes/client.h"
#include "experiments/engine.h"
#include "experiments/plan.h"
#include "injectors/registry.h"
#include "tests/integration/k8s_engine_test.h"
#include "tests/integration/k8s_plane.h"
#include "verifiers/probe/probe_loop.h"
#include "verifiers/registry.h"

extern char** environ;

namespace gameday {
namespace {

using gameday::testing::K8sPlane;
using gameday::testing::RunShell;
using gameday::testing::ShellQuote;
using gameday::testing::WaitUntil;
using std::chrono::seconds;

struct Policy {
  std::string name;
  std::string run_id;
  std::string expires;
  std::string group;
  std::vector<std::string> types;
};

class K8sNetworkPartitionTest : public gameday::testing::K8sEngineTest {
 protected:
  K8sNetworkPartitionTest() : K8sEngineTest("partition") {}

  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    K8sEngineTest::TearDown();
  }

  std::vector<Policy> Policies(const std::string& ns) {
    std::vector<Policy> out;
    ListOptions opts;
    opts.label_selector = "app.kubernetes.io/managed-by=gameday";
    auto rv = admin_->List(
        ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", ns), opts,
        [&](const rapidjson::Value& np) {
          Policy p;
          p.name = JsonPathString(np, {"metadata", "name"});
          p.run_id = JsonPathString(np, {"metadata", "labels", "gameday.io/run-id"});
          p.expires = JsonPathString(np, {"metadata", "annotations", "gameday.io/expires-at"});
          p.group =
              JsonPathString(np, {"spec", "podSelector", "matchLabels", "gameday.io/partition"});
          if (const auto* t = JsonPath(np, {"spec", "policyTypes"}); t && t->IsArray()) {
            for (const auto& v : t->GetArray()) p.types.push_back(v.GetString());
          }
          out.push_back(p);
          return Status::Ok();
        });
    EXPECT_TRUE(rv.ok()) << rv.status().ToString();
    return out;
  }

  // Pods of `ns` that carry a partition mark.
  size_t MarkedPods(const std::string& ns) {
    size_t n = 0;
    ListOptions opts;
    opts.label_selector = "gameday.io/partition";
    EXPECT_TRUE(admin_
                    ->List(ResourceRef::Core("pods", ns), opts,
                           [&](const rapidjson::Value&) {
                             ++n;
                             return Status::Ok();
                           })
                    .ok());
    return n;
  }

  std::string PlanYaml(const std::string& ns, const std::string& duration,
                       const std::string& direction) const {
    return R"(
name: partition-half-of-api
target: {kind: kubernetes, kubeconfig: )" +
           plane_->kubeconfig + R"(}
warmup: 1s
stable_for: 500ms
cooldown: 500ms
verify:
  - name: api-replicas
    kind: kubernetes
    interval: 100ms
    spec:
      workload: {kind: Deployment, namespace: )" +
           ns + R"(, name: api}
method:
  - inject: network-partition
    name: partition
    select: {mode: fixed-percent, value: 50}
    duration: )" +
           duration + R"(
    spec:
      namespace: )" +
           ns + R"(
      label_selector: app=api
      direction: )" +
           direction + R"(
objectives:
  - verifier: api-replicas
    expect_no_impact: true
)";
  }

  void PrepareNamespace(const std::string& ns) {
    ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
    ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "api", 4).ok());
    ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "api", 4, seconds(60)));
  }

  pid_t child_ = -1;
};

TEST_F(K8sNetworkPartitionTest, CreatesLabelledPoliciesAndRemovesThemOnRevert) {
  const std::string ns = "net";
  PrepareNamespace(ns);
  const Plan plan = Parse(PlanYaml(ns, "3s", "both"));
  ASSERT_FALSE(HasFailure());
  Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), Options("partition-run-1"));
  RunResult run;
  std::thread runner([&] { run = engine.Run(plan); });

  // While the fault is in: one policy per chosen pod, gameday's labels and an expiry.
  std::vector<Policy> seen;
  const bool appeared = WaitUntil(
      [&] {
        seen = Policies(ns);
        return seen.size() == 2;
      },
      seconds(20), std::chrono::milliseconds(50));
  const size_t marked = MarkedPods(ns);
  runner.join();
  ASSERT_TRUE(appeared) << "saw " << seen.size() << " policies";
  EXPECT_EQ(marked, 2u);
  for (const Policy& p : seen) {
    EXPECT_EQ(p.run_id, "partition-run-1");
    EXPECT_FALSE(p.expires.empty());
    EXPECT_EQ(p.group.rfind("gd-", 0), 0u);
    EXPECT_EQ(p.types, (std::vector<std::string>{"Ingress", "Egress"}));
  }

  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;
  ASSERT_EQ(e.faults.size(), 2u);
  for (const FaultResult& f : e.faults) EXPECT_EQ(f.revert, RevertState::kReverted) << f.error;
  EXPECT_TRUE(Policies(ns).empty());
  EXPECT_EQ(MarkedPods(ns), 0u);
}

TEST_F(K8sNetworkPartitionTest, RecoverRemovesPoliciesAfterTheRunIsKilled) {
  const std::string ns = "netkill";
  PrepareNamespace(ns);
  const std::string gameday = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";
  ASSERT_TRUE(std::filesystem::exists(gameday)) << "build the gameday target first";
  const std::string plan_file = tmp_ + "/plan.yaml";
  std::ofstream(plan_file) << PlanYaml(ns, "120s", "to");
  const std::string journal = tmp_ + "/journal";

  // The run, as a child process, so it can be killed with SIGKILL mid-fault.
  std::vector<std::string> args = {gameday, "run", plan_file, "--journal-dir", journal};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = tmp_ + "/run.log";
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  ASSERT_EQ(::posix_spawn(&child_, gameday.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

  const bool appeared = WaitUntil([&] { return Policies(ns).size() == 2; }, seconds(30),
                                  std::chrono::milliseconds(50));
  ASSERT_TRUE(appeared) << gameday::testing::ReadFileOrEmpty(log);
  ASSERT_EQ(::kill(child_, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child_, &status, 0), child_);
  child_ = -1;
  ASSERT_TRUE(WIFSIGNALED(status));

  // Nothing healed them: the run is dead.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto left = Policies(ns);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].types, (std::vector<std::string>{"Ingress"}));
  EXPECT_EQ(MarkedPods(ns), 2u);

  // `gameday recover` works from the journal alone: no plan, and a KUBECONFIG pointing nowhere.
  std::string out;
  const int rc = RunShell("KUBECONFIG=/nonexistent " + ShellQuote(gameday) +
                              " recover --journal-dir " + ShellQuote(journal) + " 2>&1",
                          &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 fault(s) reverted"), std::string::npos) << out;
  EXPECT_TRUE(Policies(ns).empty());
  EXPECT_EQ(MarkedPods(ns), 0u);

  // A second recover finds nothing left to do.
  RunShell(ShellQuote(gameday) + " recover --journal-dir " + ShellQuote(journal) + " 2>&1", &out);
  EXPECT_NE(out.find("0 fault(s) reverted"), std::string::npos) << out;
}

}  // namespace
}  // namespace gameday

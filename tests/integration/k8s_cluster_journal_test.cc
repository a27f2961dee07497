// The journal that outlives the runner (`run --cluster-journal`, `recover --cluster`) on the
// Kubernetes test control plane: a `gameday run` killed with SIGKILL in the middle of a
// network partition leaves its fault in a ConfigMap, and `recover --cluster`, run the way the
// chart's reaper CronJob runs it, leaves it alone while the run's heartbeat holds and heals the
// partition once it lapses. A clean run leaves no ConfigMap; a run that cannot write its journal
// to the cluster injects nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster_journal.h"
#include "tests/integration/child_process.h"
#include "tests/integration/k8s_engine_test.h"
#include "tests/integration/k8s_plane.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr char kShop[] = "shop";
constexpr char kJournalNs[] = "gameday";
constexpr int kTtlSeconds = 3;

std::string Bin() { return std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday"; }

class ClusterJournalTest : public testing::K8sEngineTest {
 protected:
  ClusterJournalTest() : K8sEngineTest("cluster-journal") {}

  void SetUp() override {
    K8sEngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(testing::CreateNamespace(*admin_, kShop).ok());
    ASSERT_TRUE(testing::CreateNamespace(*admin_, kJournalNs).ok());
    const Status created = testing::CreateDeployment(*admin_, kShop, "api", 2);
    // The plane (and so the Deployment) is shared by the tests of this process.
    ASSERT_TRUE(created.ok() || created.code() == Status::Code::kFailedPrecondition)
        << created.ToString();
    ASSERT_TRUE(testing::DeploymentReady(*admin_, kShop, "api", 2, seconds(60)));
  }

  void TearDown() override {
    if (admin_) {
      // Whatever a failed test left: the policies, the marks and the journals.
      for (const std::string& n : Names(Policies(), "app.kubernetes.io/managed-by=gameday")) {
        Delete(ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", kShop, n));
      }
      for (const std::string& n : JournalNames()) {
        Delete(ResourceRef::Core("configmaps", kJournalNs, n));
      }
    }
    K8sEngineTest::TearDown();
  }

  static ResourceRef Policies() {
    return ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", kShop);
  }

  std::vector<std::string> Names(const ResourceRef& collection, const std::string& selector) {
    std::vector<std::string> out;
    ListOptions opts;
    opts.label_selector = selector;
    auto rv = admin_->List(collection, opts, [&](const rapidjson::Value& o) {
      out.push_back(JsonPathString(o, {"metadata", "name"}));
      return Status::Ok();
    });
    if (!rv.ok()) out.push_back("(list failed: " + rv.status().ToString() + ")");
    return out;
  }
  std::vector<std::string> PartitionPolicies() {
    return Names(Policies(), "app.kubernetes.io/managed-by=gameday");
  }
  std::vector<std::string> JournalNames() {
    return Names(ResourceRef::Core("configmaps", kJournalNs), ClusterJournal::kLabel);
  }
  void Delete(const ResourceRef& ref) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ref;
    (void)admin_->Send(req);
  }

  std::string WritePlan(const std::string& duration) {
    std::string path = tmp_ + "/plan-" + duration + ".yaml";
    std::ofstream(path) << "name: cluster-journal\ntarget: {kind: kubernetes, kubeconfig: " +
                               plane_->kubeconfig + "}\n" +
                               R"(warmup: 200ms
stable_for: 100ms
cooldown: 200ms
verify:
  - name: apiserver
    kind: tcp
    interval: 100ms
    spec: {host: 127.0.0.1, port: )" +
                               std::to_string(plane_->api_port) + R"(, timeout: 500ms}
method:
  - inject: network-partition
    name: partition
    select: {mode: all}
    duration: )" + duration + R"(
    spec:
      namespace: shop
      label_selector: app=api
      direction: both
)";
    return path;
  }

  std::vector<std::string> RunArgs(const std::string& plan, const std::string& journal_ns) {
    return {Bin(),
            "run",
            plan,
            "--journal-dir",
            tmp_ + "/journal",
            "--no-history",
            "--report-dir",
            tmp_ + "/reports-" + std::to_string(++runs_),
            "--cluster-journal",
            journal_ns,
            "--cluster-kubeconfig",
            plane_->kubeconfig,
            "--cluster-journal-ttl",
            std::to_string(kTtlSeconds)};
  }

  // Runs gameday to the end (at most `timeout`); its exit code and output.
  std::pair<int, std::string> Gameday(const std::vector<std::string>& argv,
                                      milliseconds timeout = milliseconds(60000)) {
    const std::string log = tmp_ + "/gameday-" + std::to_string(++runs_) + ".log";
    testing::ChildProcess child(argv, log);
    const auto status = child.Wait(timeout);
    if (!status) {
      child.Stop();
      return {-1, "timed out: " + child.LogText()};
    }
    return {WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status), child.LogText()};
  }

  std::pair<int, std::string> RecoverCluster() {
    return Gameday({Bin(), "recover", "--cluster", "--cluster-journal-namespace", kJournalNs,
                    "--kubeconfig", plane_->kubeconfig});
  }

  int runs_ = 0;
};

TEST_F(ClusterJournalTest, ARunnerKilledMidPartitionIsHealedByTheReaperOnceItsHeartbeatLapses) {
  testing::ChildProcess runner(RunArgs(WritePlan("120s"), kJournalNs), tmp_ + "/runner.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return !PartitionPolicies().empty(); }, milliseconds(30000)))
      << runner.LogText();
  // The fault is in the cluster's journal before it went in.
  const std::vector<std::string> journals = JournalNames();
  ASSERT_EQ(journals.size(), 1u);
  {
    KubeRequest req;
    req.ref = ResourceRef::Core("configmaps", kJournalNs, journals[0]);
    auto cm = admin_->CallJson(req);
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
    const ClusterJournalRun run = ParseClusterJournal(*cm);
    ASSERT_EQ(run.live.size(), 2u);  // a fault per pod
    for (const auto& fault : run.live) EXPECT_EQ(fault.record.kind, "network-partition");
    EXPECT_TRUE(run.problems.empty());
  }

  // Live run: the reaper leaves it alone (the heartbeat is renewed every second).
  std::this_thread::sleep_for(seconds(kTtlSeconds + 1));
  auto [live_code, live_out] = RecoverCluster();
  EXPECT_EQ(live_code, 0) << live_out;
  EXPECT_NE(live_out.find("is still running"), std::string::npos) << live_out;
  EXPECT_FALSE(PartitionPolicies().empty()) << live_out;

  // The runner dies as a pod or node would: nothing of it runs any more.
  runner.Kill();
  const auto killed = steady_clock::now();
  ASSERT_FALSE(PartitionPolicies().empty());

  // The reaper, every half second (the chart's CronJob runs it every minute).
  std::string reaper_out;
  bool healed = false;
  while (steady_clock::now() - killed < seconds(kTtlSeconds + 20)) {
    auto [code, out] = RecoverCluster();
    reaper_out += out;
    if (PartitionPolicies().empty()) {
      healed = true;
      EXPECT_EQ(code, 0) << out;
      break;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  const double heal_s = std::chrono::duration<double>(steady_clock::now() - killed).count();
  ASSERT_TRUE(healed) << reaper_out;
  std::printf("heal time after the runner was killed: %.1f s (heartbeat ttl %d s)\n", heal_s,
              kTtlSeconds);
  RecordProperty("heal_seconds", std::to_string(heal_s));
  // Healed no earlier than the heartbeat allowed, and within it plus a reaper round.
  EXPECT_GE(heal_s, kTtlSeconds - 1.5);
  EXPECT_LE(heal_s, kTtlSeconds + 3.0) << reaper_out;
  EXPECT_NE(reaper_out.find("reverted network-partition"), std::string::npos) << reaper_out;
  EXPECT_TRUE(testing::WaitUntil([&] { return JournalNames().empty(); }, milliseconds(5000)));
  EXPECT_TRUE(Names(ResourceRef::Core("pods", kShop), "gameday.io/partition").empty());

  // The runner's own journal file still holds the fault; a local recover reverts it again,
  // harmlessly.
  auto [local_code, local_out] = Gameday({Bin(), "recover", "--journal-dir", tmp_ + "/journal"});
  EXPECT_EQ(local_code, 0) << local_out;
}

TEST_F(ClusterJournalTest, ACleanRunLeavesNoJournalInTheCluster) {
  auto [code, out] = Gameday(RunArgs(WritePlan("1s"), kJournalNs));
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(JournalNames().empty());
  EXPECT_TRUE(PartitionPolicies().empty());
}

TEST_F(ClusterJournalTest, ARunThatCannotJournalInTheClusterInjectsNothing) {
  auto [code, out] = Gameday(RunArgs(WritePlan("1s"), "no-such-namespace"));
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("cannot open the journal's mirror, so nothing was injected"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("no-such-namespace"), std::string::npos) << out;
  EXPECT_TRUE(PartitionPolicies().empty());
}

}  // namespace
}  // namespace gameday

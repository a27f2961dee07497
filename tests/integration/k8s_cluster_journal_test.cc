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
#include "tests/integration/k8s_partition_cli_test.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr char kJournalNs[] = "gameday";
constexpr int kTtlSeconds = 3;

class ClusterJournalTest : public testing::K8sPartitionCliTest {
 protected:
  ClusterJournalTest() : K8sPartitionCliTest("cluster-journal", "shop") {}

  void SetUp() override {
    K8sPartitionCliTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(testing::CreateNamespace(*admin_, kJournalNs).ok());
    cleanup_ = [this] {
      for (const std::string& n : JournalNames()) {
        Delete(ResourceRef::Core("configmaps", kJournalNs, n));
      }
    };
  }

  std::vector<std::string> JournalNames() {
    return Names(ResourceRef::Core("configmaps", kJournalNs), ClusterJournal::kLabel);
  }

  std::vector<std::string> RunArgs(const std::string& plan, const std::string& journal_ns) {
    return K8sPartitionCliTest::RunArgs(
        plan, {"--cluster-journal", journal_ns, "--cluster-kubeconfig", plane_->kubeconfig,
               "--cluster-journal-ttl", std::to_string(kTtlSeconds)});
  }

  std::pair<int, std::string> RecoverCluster() {
    return Gameday({Bin(), "recover", "--cluster", "--cluster-journal-namespace", kJournalNs,
                    "--kubeconfig", plane_->kubeconfig});
  }
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
  EXPECT_TRUE(Names(ResourceRef::Core("pods", ns_), "gameday.io/partition").empty());

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

// The run lock (`run --lock-namespace`) on the Kubernetes test control plane: two game days
// started at once against the same namespace are serialized by its Lease (their partitions never
// overlap), a second run with --lock-wait 0 refuses naming the holder and injects nothing, a lease
// whose holder keeps renewing stays held past its duration, one whose holder stopped renewing is
// taken over, and no lease is left once the runs are done.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/credentials.h"
#include "clients/kubernetes/run_lock.h"
#include "tests/integration/child_process.h"
#include "tests/integration/k8s_partition_cli_test.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kLockNs[] = "gameday";

class RunLockTest : public testing::K8sPartitionCliTest {
 protected:
  RunLockTest() : K8sPartitionCliTest("run-lock", "lockshop") {}

  void SetUp() override {
    K8sPartitionCliTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(testing::CreateNamespace(*admin_, kLockNs).ok());
    cleanup_ = [this] {
      for (const std::string& n : Leases()) Delete(LeaseRef(n));
    };
  }

  static ResourceRef LeaseRef(const std::string& name = "") {
    return ResourceRef::Group("coordination.k8s.io", "v1", "leases", kLockNs, name);
  }
  std::vector<std::string> Leases() { return Names(LeaseRef(), kManagedByGameday); }
  // The runs whose partitions are in place now.
  std::set<std::string> PartitioningRuns() {
    const auto runs = Names(Policies(), kManagedByGameday, "gameday.io/run-id");
    return {runs.begin(), runs.end()};
  }

  std::vector<std::string> RunArgs(const std::string& plan, const std::string& wait,
                                   const std::string& ttl = "30") {
    return K8sPartitionCliTest::RunArgs(
        plan, {"--lock-namespace", kLockNs, "--lock-wait", wait, "--lock-ttl", ttl,
               "--cluster-kubeconfig", plane_->kubeconfig});
  }
};

TEST_F(RunLockTest, TwoRunsStartedAtOnceAreSerializedByTheLease) {
  const std::string plan = WritePlan("3s");
  // Watch the namespace the whole time: which runs' partitions are in place together.
  std::atomic<bool> watching{true};
  std::map<std::string, int> seen;
  size_t most_at_once = 0;
  std::thread watcher([&] {
    while (watching) {
      const std::set<std::string> now = PartitioningRuns();
      most_at_once = std::max(most_at_once, now.size());
      for (const std::string& r : now) ++seen[r];
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  testing::ChildProcess a(RunArgs(plan, "60"), tmp_ + "/a.log");
  testing::ChildProcess b(RunArgs(plan, "60"), tmp_ + "/b.log");
  auto [code_a, out_a] = Finish(a, milliseconds(90000));
  auto [code_b, out_b] = Finish(b, milliseconds(90000));
  watching = false;
  watcher.join();
  EXPECT_EQ(code_a, 0) << out_a;
  EXPECT_EQ(code_b, 0) << out_b;
  EXPECT_EQ(seen.size(), 2u) << "both runs partitioned the namespace";
  EXPECT_EQ(most_at_once, 1u) << "never both at once";
  EXPECT_TRUE(Leases().empty());
}

TEST_F(RunLockTest, ASecondRunThatMayNotWaitRefusesNamingTheHolderAndInjectsNothing) {
  // A 3 s lease, renewed every second: still held when the second run asks 4 s later.
  testing::ChildProcess holder(RunArgs(WritePlan("8s"), "0", "3"), tmp_ + "/holder.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return !PartitioningRuns().empty(); }, milliseconds(30000)))
      << holder.LogText();
  const std::string holder_run = *PartitioningRuns().begin();
  std::this_thread::sleep_for(seconds(4));

  testing::ChildProcess second(RunArgs(WritePlan("1s"), "0"), tmp_ + "/second.log");
  auto [code, out] = Finish(second, milliseconds(30000));
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("cannot lock namespace lockshop (lease gameday/gameday-lock-lockshop): held "
                     "by run " +
                     holder_run + "@"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("nothing was injected"), std::string::npos) << out;
  EXPECT_EQ(PartitioningRuns(), std::set<std::string>{holder_run});

  auto [holder_code, holder_out] = Finish(holder, milliseconds(60000));
  EXPECT_EQ(holder_code, 0) << holder_out;
  EXPECT_TRUE(Leases().empty());
}

TEST_F(RunLockTest, ALeaseWhoseHolderStoppedRenewingIsTakenOver) {
  // A run that died an hour ago without releasing its lease.
  const std::string stale = FormatKubeTime(admin_->clock().WallNow() - std::chrono::hours(1), true);
  KubeRequest create;
  create.verb = "create";
  create.ref = LeaseRef();
  create.body =
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"gameday-lock-lockshop","labels":{"app.kubernetes.io/managed-by":"gameday"}},"spec":{"holderIdentity":"20261203T000000Z-dead@ghost","leaseDurationSeconds":30,"acquireTime":")" +
      stale + R"(","renewTime":")" + stale + R"("}})";
  ASSERT_TRUE(admin_->Call(create).ok());
  testing::ChildProcess run(RunArgs(WritePlan("1s"), "0"), tmp_ + "/run.log");
  auto [code, out] = Finish(run, milliseconds(60000));
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(Leases().empty());
}

}  // namespace
}  // namespace gameday

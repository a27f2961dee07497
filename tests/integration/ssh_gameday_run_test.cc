// `gameday run` end to end over SSH: a host-partition plan against the test bed, the run killed
// with SIGKILL while the partition is live, then `gameday recover`: the rules are gone at once
// (long before their on-host expiry) and nothing is left in any namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>

#include "tests/integration/child_process.h"
#include "tests/integration/ssh_test_util.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BedTest;
using testing::ChildProcess;
using testing::WaitFor;

class SshGamedayRunTest : public BedTest {
 protected:
  std::string Chains(size_t i) const {
    return bed_->Exec(i, "iptables -w -S | grep GAMEDAY || true").out;
  }
};

TEST_F(SshGamedayRunTest, Kill9DuringPartitionThenRecoverRemovesTheRulesAtOnce) {
  ASSERT_TRUE(Up("prun", 2, 0));
  const std::string dir = bed_->dir();
  const std::string bin = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";
  std::ofstream(dir + "/plan.yaml") << "name: partition-then-crash\n"
                                    << "target: {kind: ssh, inventory: " << bed_->inventory_path()
                                    << ", known_hosts: " << bed_->known_hosts_path() << "}\n"
                                    << R"(warmup: 300ms
verify:
  - name: h1-ssh
    kind: tcp
    interval: 100ms
    slo: {success_ratio: 0.5}
    spec: {host: )" << Host(0).ssh.address
                                    << R"(, port: 22, timeout: 300ms}
method:
  - inject: host-partition
    select: {mode: all}
    duration: 60s
    spec: {hosts: h1, expiry_margin: 60s}
)";
  ChildProcess run({bin, "run", dir + "/plan.yaml", "--journal-dir", dir + "/journal",
                    "--report-dir", dir + "/report", "--no-history"},
                   dir + "/run.log");
  ASSERT_TRUE(WaitFor([&] { return !Chains(0).empty(); }, seconds(20))) << run.LogText();
  run.Kill();
  // The fault outlives the killed run: its expiry is a minute away.
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_NE(Chains(0).find("GAMEDAY-"), std::string::npos);

  const auto start = std::chrono::steady_clock::now();
  ChildProcess recover({bin, "recover", "--journal-dir", dir + "/journal"}, dir + "/recover.log");
  auto status = recover.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value()) << recover.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << recover.LogText();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(Chains(0), "") << recover.LogText();
  EXPECT_NE(recover.LogText().find("reverted host-partition"), std::string::npos)
      << recover.LogText();
  EXPECT_TRUE(WaitFor([&] { return GamedayLeftovers().empty(); }, seconds(5)))
      << GamedayLeftovers();
  std::printf("recover removed the partition %.2f s after it was started\n", took);
}

}  // namespace
}  // namespace gameday

// `gameday validate` checks a plan's structure anywhere: no sandbox, no $GAMEDAY_INVENTORY, an
// empty state dir. What needs the live inventory is checked with --against-inventory, and by
// `gameday run` before anything is injected.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/integration/child_process.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::TempDir;

// Two hosts on addresses nothing listens on: if gameday tried to act, it would fail to connect
// (and say so) instead of reporting the missing host.
constexpr char kInventory[] =
    "defaults: {user: root, insecure_ignore_host_key: true, connect_timeout: 200ms}\n"
    "hosts:\n"
    "  - {name: h1, address: 198.18.99.1, groups: [masters, etcd]}\n"
    "  - {name: h2, address: 198.18.99.2, groups: [workers]}\n";

// Stops a service on host h9, which the inventory above does not have.
constexpr char kPlan[] =
    "name: stop-h9\n"
    "target: {kind: ssh}\n"
    "warmup: 0s\n"
    "verify:\n"
    "  - {name: web, kind: http, interval: 50ms, spec: {url: \"http://127.0.0.1:9/\"}}\n"
    "method:\n"
    "  - inject: service-stop\n"
    "    duration: 1s\n"
    "    spec: {hosts: h9, service: {runit: /etc/service/etcd}}\n";

class ValidateAnywhereTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "state");  // empty: no sandbox, no inventory
    ::setenv("GAMEDAY_STATE_DIR", (dir_ / "state").c_str(), 1);
    if (const char* inv = std::getenv("GAMEDAY_INVENTORY")) saved_inventory_ = inv;
    ::unsetenv("GAMEDAY_INVENTORY");
    std::ofstream(dir_ / "inventory.yaml") << kInventory;
    std::ofstream(dir_ / "plan.yaml") << kPlan;
  }
  void TearDown() override {
    if (!saved_inventory_.empty()) ::setenv("GAMEDAY_INVENTORY", saved_inventory_.c_str(), 1);
  }

  // Runs gameday with `args`; returns its exit code (-1 when it did not exit in time).
  int Gameday(std::vector<std::string> args, std::string* output) {
    args.insert(args.begin(), std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday");
    const std::string log = dir_ / ("log-" + std::to_string(++runs_));
    ChildProcess run(args, log);
    std::optional<int> status = run.Wait(milliseconds(60000));
    *output = run.LogText();
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

  TempDir dir_{"gameday-validate-anywhere"};
  std::string saved_inventory_;
  int runs_ = 0;
};

TEST_F(ValidateAnywhereTest, BundledPlansValidateWithNoInventoryAnywhere) {
  std::vector<std::string> args = {"validate"};
  for (const auto& e : fs::directory_iterator(fs::path(GAMEDAY_SOURCE_DIR) / "experiments/plans")) {
    if (e.path().extension() == ".yaml") args.push_back(e.path().string());
  }
  ASSERT_GE(args.size(), 3u);
  std::string out;
  EXPECT_EQ(Gameday(args, &out), 0) << out;
  EXPECT_NE(out.find("sandbox-core.yaml: ok"), std::string::npos) << out;
  // The same plans, with no inventory, are not runnable: a run checks the hosts.
  EXPECT_EQ(Gameday({"run", "--dry-run", "--report-dir", dir_ / "reports",
                     std::string(GAMEDAY_SOURCE_DIR) + "/experiments/plans/sandbox-core.yaml"},
                    &out),
            2)
      << out;
  EXPECT_NE(out.find("needs an inventory"), std::string::npos) << out;
}

TEST_F(ValidateAnywhereTest, AgainstInventoryNamesTheMissingHost) {
  std::string out;
  EXPECT_EQ(Gameday({"validate", dir_ / "plan.yaml"}, &out), 0) << out;
  EXPECT_EQ(
      Gameday({"validate", "--against-inventory", dir_ / "inventory.yaml", dir_ / "plan.yaml"},
              &out),
      2)
      << out;
  EXPECT_NE(out.find("has no group or host 'h9'"), std::string::npos) << out;
  EXPECT_NE(out.find("spec.hosts"), std::string::npos) << out;

  // A bundled plan against an inventory without its groups: each missing group is named.
  EXPECT_EQ(Gameday({"validate", "--against-inventory", dir_ / "inventory.yaml",
                     std::string(GAMEDAY_SOURCE_DIR) + "/experiments/plans/sandbox-core.yaml"},
                    &out),
            2)
      << out;
  EXPECT_NE(out.find("etcd_client_url"), std::string::npos) << out;
}

TEST_F(ValidateAnywhereTest, RunWithAMissingHostFailsBeforeInjecting) {
  ::setenv("GAMEDAY_INVENTORY", (dir_ / "inventory.yaml").c_str(), 1);
  std::string out;
  const int rc = Gameday({"run", "--report-dir", dir_ / "reports", dir_ / "plan.yaml"}, &out);
  ::unsetenv("GAMEDAY_INVENTORY");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("has no group or host 'h9'"), std::string::npos) << out;
  // Nothing was attempted: no journal was written and no connection was tried.
  EXPECT_EQ(out.find("198.18.99"), std::string::npos) << out;
  std::error_code ec;
  size_t journal_files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "state", ec)) {
    if (e.is_regular_file()) ++journal_files;
  }
  EXPECT_EQ(journal_files, 0u);
}

}  // namespace
}  // namespace gameday

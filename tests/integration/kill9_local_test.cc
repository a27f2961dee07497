// kill -9 campaign, local process faults (freeze, stop): many trials kill `gameday run` at a
// random moment between its start and the end of the fault's revert, then `gameday recover` must
// leave the victim running (checked in /proc), the journal empty and exit 0. See
// tests/integration/kill9_campaign.h. A multi-target step (one freeze of six processes, journaled
// as one batch with one fsync before any of them is frozen) is killed the same way: `recover`
// must find every frozen one.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/integration/child_process.h"
#include "tests/integration/kill9_campaign.h"

namespace gameday {
namespace {

using testing::Kill9Campaign;
using testing::Kill9Kind;
using testing::Kill9Timing;

// The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), or 0 when gone.
char State(pid_t pid) {
  const std::string stat = testing::ReadFileText("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

class Kill9LocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::FreeLoopbackPort();
    needle_ = "--port " + std::to_string(port_) + " --name kill9-victim";
    StartVictim();
    ASSERT_TRUE(
        testing::WaitUntil([&] { return Victims().size() == 1; }, std::chrono::milliseconds(5000)));
  }

  void TearDown() override {
    // No victim may outlive the test: the first one, or any a revert restarted (detached).
    for (pid_t pid : Victims()) {
      ::kill(pid, SIGCONT);
      ::kill(pid, SIGKILL);
    }
    first_.reset();
  }

  void StartVictim() {
    if (!first_) {
      first_ = std::make_unique<testing::ChildProcess>(
          std::vector<std::string>{std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo", "--port",
                                   std::to_string(port_), "--name", "kill9-victim"},
          tmp_ / "victim.log");
    } else {
      // A leak took the first one: a detached replacement, as a revert would start it.
      const std::string cmd = std::string("setsid ") + GAMEDAY_BINARY_DIR +
                              "/bin/gameday-demo --port " + std::to_string(port_) +
                              " --name kill9-victim </dev/null >/dev/null 2>&1 &";
      if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "cannot start a victim: " << cmd;
    }
  }

  // Live (non-zombie) victims, the first one or restarted ones, from /proc.
  std::vector<pid_t> Victims() {
    std::vector<pid_t> out;
    const std::string demo = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo ";
    std::error_code ec;
    // increment(ec), not ++: a process that exits mid-listing must not throw.
    for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::filesystem::directory_entry& entry = *it;
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = testing::ReadFileText(entry.path().string() + "/cmdline");
      for (char& c : cmd) c = c == '\0' ? ' ' : c;
      // Only the demo itself, not a shell that happens to mention it.
      if (cmd.rfind(demo, 0) != 0 || cmd.find(needle_) == std::string::npos) continue;
      const pid_t pid = std::stoi(name);
      const char s = State(pid);
      if (s != 0 && s != 'Z') out.push_back(pid);
    }
    if (first_) first_->Poll();  // reap the first victim once a stop ended it
    return out;
  }

  std::string Plan(const std::string& action) const {
    return R"(name: kill9-)" + action + R"(
target: {kind: local}
warmup: 200ms
stable_for: 100ms
cooldown: 200ms
verify:
  - name: victim
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: )" +
           std::to_string(port_) + R"(, timeout: 200ms}
method:
  - inject: process
    name: victim-)" +
           action + R"(
    select: {mode: all}
    duration: 1s
    spec:
      match: {pattern: ")" +
           needle_ + R"("}
      action: )" +
           action +
           // A recover waits this long for a stop that a kill left half done.
           (action == "stop" ? "\n      stop_timeout: 1s\n" : "\n");
  }

  void Campaign(const Kill9Kind& kind) {
    Kill9Campaign campaign(tmp_.path());
    Kill9Timing cal;
    ASSERT_TRUE(campaign.Calibrate(kind, &cal));
    const auto summary = campaign.Run(kind, cal, Kill9Campaign::Trials(15));
    EXPECT_EQ(summary.leaks, 0);
  }

  testing::TempDir tmp_{"gameday-kill9"};
  int port_ = 0;
  std::string needle_;
  std::unique_ptr<testing::ChildProcess> first_;
};

TEST_F(Kill9LocalTest, ProcessFreeze) {
  Kill9Kind kind;
  kind.name = "process-freeze";
  kind.plan = Plan("freeze");
  kind.duration = std::chrono::seconds(1);
  kind.fault = [&]() -> std::string {
    std::string out;
    const auto victims = Victims();
    if (victims.empty()) out += "no victim runs; ";
    for (pid_t pid : victims) {
      if (State(pid) == 'T') out += "pid " + std::to_string(pid) + " is stopped (T); ";
    }
    return out;
  };
  kind.heal = [&] {
    for (pid_t pid : Victims()) ::kill(pid, SIGCONT);
    if (Victims().empty()) StartVictim();
  };
  Campaign(kind);
}

TEST_F(Kill9LocalTest, ProcessStop) {
  Kill9Kind kind;
  kind.name = "process-stop";
  kind.plan = Plan("stop");
  kind.duration = std::chrono::seconds(1);
  kind.fault = [&]() -> std::string {
    const auto victims = Victims();
    if (victims.empty()) return "no victim runs";
    if (victims.size() > 1) return std::to_string(victims.size()) + " victims run";
    if (State(victims[0]) == 'T') return "the victim is stopped (T)";
    return "";
  };
  kind.heal = [&] {
    auto victims = Victims();
    for (size_t i = 1; i < victims.size(); ++i) ::kill(victims[i], SIGKILL);
    if (victims.empty()) StartVictim();
    testing::WaitUntil([&] { return Victims().size() == 1; }, std::chrono::milliseconds(3000));
  };
  Campaign(kind);
}

// Six victims frozen by one step (select all): their records are one batch in the journal.
class Kill9ManyLocalTest : public ::testing::Test {
 protected:
  static constexpr size_t kVictims = 6;

  void SetUp() override {
    // A name of this test process's own, ending in a letter so that no other name contains it.
    name_ = "kill9-many-" + std::to_string(::getpid()) + "x";
    for (size_t i = 0; i < kVictims; ++i) {
      ports_.push_back(testing::FreeLoopbackPort());
      victims_.push_back(std::make_unique<testing::ChildProcess>(
          std::vector<std::string>{std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo", "--port",
                                   std::to_string(ports_.back()), "--name", name_},
          tmp_ / ("victim-" + std::to_string(i) + ".log")));
    }
    ASSERT_TRUE(testing::WaitUntil([&] { return Victims().size() == kVictims; },
                                   std::chrono::milliseconds(5000)));
  }

  void TearDown() override {
    for (pid_t pid : Victims()) {
      ::kill(pid, SIGCONT);
      ::kill(pid, SIGKILL);
    }
    victims_.clear();
  }

  // Live (non-zombie) victims, from /proc.
  std::vector<pid_t> Victims() {
    std::vector<pid_t> out;
    const std::string demo = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo ";
    const std::string needle = "--name " + name_ + " ";
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = testing::ReadFileText(it->path().string() + "/cmdline");
      for (char& c : cmd) c = c == '\0' ? ' ' : c;
      if (cmd.rfind(demo, 0) != 0 || cmd.find(needle) == std::string::npos) continue;
      const pid_t pid = std::stoi(name);
      const char st = State(pid);
      if (st != 0 && st != 'Z') out.push_back(pid);
    }
    for (auto& v : victims_) v->Poll();
    return out;
  }

  std::string Plan() const {
    return R"(name: kill9-many
target: {kind: local}
warmup: 200ms
stable_for: 100ms
cooldown: 200ms
verify:
  - name: victim
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: )" +
           std::to_string(ports_[0]) + R"(, timeout: 200ms}
method:
  - inject: process
    name: freeze-all
    select: {mode: all}
    duration: 1s
    spec:
      match: {pattern: "--name )" +
           name_ + R"("}
      action: freeze
)";
  }

  testing::TempDir tmp_{"gameday-kill9-many"};
  std::string name_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<testing::ChildProcess>> victims_;
};

TEST_F(Kill9ManyLocalTest, ProcessFreezeOfSixInOneStep) {
  Kill9Kind kind;
  kind.name = "process-freeze-6";
  kind.plan = Plan();
  kind.duration = std::chrono::seconds(1);
  kind.fault = [&]() -> std::string {
    std::string out;
    const auto victims = Victims();
    if (victims.size() != kVictims) {
      out += std::to_string(victims.size()) + " of " + std::to_string(kVictims) + " victims run; ";
    }
    for (pid_t pid : victims) {
      if (State(pid) == 'T') out += "pid " + std::to_string(pid) + " is stopped (T); ";
    }
    return out;
  };
  kind.heal = [&] {
    for (pid_t pid : Victims()) ::kill(pid, SIGCONT);
  };
  Kill9Campaign campaign(tmp_.path());
  Kill9Timing cal;
  ASSERT_TRUE(campaign.Calibrate(kind, &cal));
  const auto summary = campaign.Run(kind, cal, Kill9Campaign::Trials(15));
  EXPECT_EQ(summary.leaks, 0);
}

}  // namespace
}  // namespace gameday

// kill -9 of a running `gameday run` at several points, then `gameday recover`: whatever the
// journal held is reverted (a frozen process runs again, a stopped one is restarted) and the
// journal is empty. Also SIGTERM: the run reverts by itself and exits 3.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "experiments/journal.h"

extern char** environ;

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const std::string kBin = std::string(GAMEDAY_BINARY_DIR) + "/bin/";

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // own group: killed as a whole
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The state letter of /proc/PID/stat ('R', 'S', 'T', ...), or 0 when gone.
char State(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

template <typename F>
bool WaitFor(F condition, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return condition();
}

int FreePort() {
  // Bind port 0 to learn a free port; good enough for a test on loopback.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// pids of processes whose command line contains `needle`.
std::vector<pid_t> Find(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    for (char& c : cmd) c = c ? c : ' ';
    if (cmd.find(needle) != std::string::npos && State(std::stoi(name)) != 'Z') {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

class CrashRecoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A parameterized test's name holds a '/' ("RevertsThawsAndExits3/0"): one folder, not a
    // folder in a folder that TearDown's remove_all would leave behind.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = fs::temp_directory_path() / ("gameday-crash-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = FreePort();
    needle_ = "--port " + std::to_string(port_) + " --name crash-victim";
    victim_ =
        Spawn({kBin + "gameday-demo", "--port", std::to_string(port_), "--name", "crash-victim"},
              (dir_ / "victim.log").string());
    ASSERT_GT(victim_, 0);
    ASSERT_TRUE(WaitFor([&] { return !Find(needle_).empty(); }, milliseconds(3000)));
  }

  void TearDown() override {
    if (run_ > 0) {
      kill(-run_, SIGKILL);
      Wait(run_);
    }
    // Whatever the test did, no victim (original or restarted) may outlive it.
    for (pid_t pid : Find(needle_)) {
      kill(pid, SIGCONT);
      kill(pid, SIGKILL);
    }
    if (victim_ > 0) Wait(victim_);
    fs::remove_all(dir_);
  }

  void WritePlan(const std::string& action, const std::string& warmup) {
    std::ofstream(dir_ / "plan.yaml") << R"(name: crash
target: {kind: local}
warmup: )" << warmup << R"(
stable_for: 200ms
verify:
  - name: victim
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: )" << port_
                                      << R"(, timeout: 200ms}
method:
  - inject: process
    name: victim-)" << action << R"(
    select: {mode: all}
    duration: 60s
    spec:
      match: {pattern: ")" << needle_ << R"("}
      action: )" << action << "\n";
  }

  void StartRun() {
    run_ = Spawn(
        {kBin + "gameday", "run", (dir_ / "plan.yaml").string(), "--journal-dir",
         (dir_ / "journal").string(), "--report-dir", (dir_ / "report").string(), "--no-history"},
        (dir_ / "run.log").string());
    ASSERT_GT(run_, 0);
  }

  void Kill9() {
    ASSERT_EQ(kill(-run_, SIGKILL), 0);
    EXPECT_EQ(Wait(run_), 128 + SIGKILL);
    run_ = -1;
  }

  int Recover() {
    pid_t pid = Spawn({kBin + "gameday", "recover", "--journal-dir", (dir_ / "journal").string()},
                      (dir_ / "recover.log").string());
    return Wait(pid);
  }

  int Forget(const std::string& file) {
    pid_t pid =
        Spawn({kBin + "gameday", "recover", "--forget", file}, (dir_ / "forget.log").string());
    return Wait(pid);
  }

  // The one journal file the run left.
  std::string JournalPath() {
    for (const auto& e : fs::directory_iterator(dir_ / "journal")) return e.path().string();
    return "";
  }

  size_t LiveFaults() {
    auto files = ReadJournals((dir_ / "journal").string());
    size_t live = 0;
    if (files.ok()) {
      for (const auto& f : *files) live += f.live.size();
    }
    return live;
  }

  std::string Log(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  fs::path dir_;
  int port_ = 0;
  std::string needle_;
  pid_t victim_ = -1;
  pid_t run_ = -1;
};

TEST_F(CrashRecoverTest, Kill9DuringFreezeThenRecoverResumesTheProcess) {
  WritePlan("freeze", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(10000)))
      << Log("run.log");
  Kill9();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(State(victim_), 'T') << "the fault outlives the killed run until recover";
  EXPECT_EQ(LiveFaults(), 1u);
  EXPECT_EQ(Recover(), 0) << Log("recover.log");
  EXPECT_TRUE(WaitFor([&] { return State(victim_) != 'T'; }, milliseconds(2000)));
  EXPECT_EQ(LiveFaults(), 0u);
  EXPECT_NE(Log("recover.log").find("reverted process"), std::string::npos) << Log("recover.log");
  // A second recover has nothing left to do.
  EXPECT_EQ(Recover(), 0);
}

TEST_F(CrashRecoverTest, DamagedLineBeforeTheFreezeRecordIsReportedAndTheFreezeStillReverted) {
  WritePlan("freeze", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(10000)))
      << Log("run.log");
  Kill9();
  const std::string journal = JournalPath();
  ASSERT_FALSE(journal.empty());
  // A line damaged on disk (one flipped bit in its checksum) ahead of the freeze's record.
  {
    std::ifstream in(journal);
    const std::string content((std::istreambuf_iterator<char>(in)), {});
    std::ofstream out(journal, std::ios::trunc);
    out << "0badc0df {\"op\":\"inject\",\"fault_id\":\"lost\"}\n" << content;
  }
  EXPECT_EQ(Recover(), 3) << Log("recover.log");
  EXPECT_TRUE(WaitFor([&] { return State(victim_) != 'T'; }, milliseconds(2000)))
      << "the readable record after the damaged line is reverted: " << Log("recover.log");
  const std::string log = Log("recover.log");
  EXPECT_NE(log.find(journal + ":1: checksum mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("0badc0df"), std::string::npos) << "what was there is shown: " << log;
  EXPECT_NE(log.find("gameday recover --forget " + journal), std::string::npos) << log;
  EXPECT_NE(log.find("reverted process"), std::string::npos) << log;
  // The file stays, for a person: every later recover says the same until they forget it.
  EXPECT_TRUE(fs::exists(journal));
  EXPECT_EQ(LiveFaults(), 0u);
  EXPECT_EQ(Recover(), 3);
  EXPECT_EQ(Forget(journal), 0) << Log("forget.log");
  EXPECT_FALSE(fs::exists(journal));
  EXPECT_EQ(Recover(), 0) << Log("recover.log");
}

// /proc/PID/stat field 22, the start time that identifies a process together with its pid.
std::string StartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  return field;
}

TEST_F(CrashRecoverTest, RecoverRefusesAJournalOthersCouldHaveWritten) {
  // A journal planted in a directory everybody can write: a valid record that, if trusted,
  // would make root send SIGCONT to the frozen victim.
  ASSERT_EQ(kill(victim_, SIGSTOP), 0);
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(2000)));
  const fs::path jdir = dir_ / "journal";
  fs::create_directories(jdir);
  const std::string revert =
      "{\\\"action\\\":\\\"freeze\\\",\\\"pid\\\":" + std::to_string(victim_) +
      ",\\\"starttime\\\":" + StartTime(victim_) + "}";
  const std::string json =
      "{\"op\":\"inject\",\"fault_id\":\"f\",\"run_id\":\"planted\",\"kind\":\"process\","
      "\"target_id\":\"t\",\"target_display\":\"d\",\"revert\":\"" +
      revert + "\",\"injected_unix_ms\":1,\"expires_unix_ms\":0}";
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : json) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc ^ 0xFFFFFFFFu);
  std::ofstream(jdir / "planted.journal") << hex << " " << json << "\n";
  fs::permissions(jdir / "planted.journal", fs::perms::owner_read | fs::perms::owner_write);

  fs::permissions(jdir, fs::perms::all);  // 0777
  EXPECT_EQ(Recover(), 3);
  EXPECT_NE(
      Log("recover.log")
          .find("refusing journal directory " + jdir.string() + ": writable by others (mode 0777)"),
      std::string::npos)
      << Log("recover.log");
  EXPECT_EQ(State(victim_), 'T') << "nothing of an untrusted journal was acted on";

  // The same directory made private: the record is trusted and acted on (so the refusal above
  // was the trust check, not a bad record).
  fs::permissions(jdir, fs::perms::owner_all);
  EXPECT_EQ(Recover(), 0) << Log("recover.log");
  EXPECT_TRUE(WaitFor([&] { return State(victim_) != 'T'; }, milliseconds(2000)));
}

TEST_F(CrashRecoverTest, Kill9DuringWarmUpLeavesNothingToRecover) {
  WritePlan("freeze", "5s");
  StartRun();
  std::this_thread::sleep_for(milliseconds(1500));
  Kill9();
  EXPECT_NE(State(victim_), 'T');
  EXPECT_EQ(LiveFaults(), 0u);
  EXPECT_EQ(Recover(), 0) << Log("recover.log");
}

TEST_F(CrashRecoverTest, Kill9WhileStoppedThenRecoverRestartsTheProcess) {
  WritePlan("stop", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return Find(needle_).empty(); }, milliseconds(10000)))
      << Log("run.log");
  Wait(victim_);  // reap the original: the injector stopped it
  victim_ = -1;
  // Let the run write its progress past the injection before killing it.
  std::this_thread::sleep_for(milliseconds(300));
  Kill9();
  EXPECT_TRUE(Find(needle_).empty());
  EXPECT_EQ(LiveFaults(), 1u);
  EXPECT_EQ(Recover(), 0) << Log("recover.log");
  EXPECT_TRUE(WaitFor([&] { return Find(needle_).size() == 1; }, milliseconds(3000)));
  EXPECT_EQ(LiveFaults(), 0u);
}

TEST_F(CrashRecoverTest, SigtermRevertsBeforeExiting) {
  WritePlan("freeze", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(10000)))
      << Log("run.log");
  ASSERT_EQ(kill(run_, SIGTERM), 0);
  EXPECT_EQ(Wait(run_), 3) << Log("run.log");
  run_ = -1;
  EXPECT_NE(State(victim_), 'T');
  EXPECT_EQ(LiveFaults(), 0u);
}

// Every catchable terminating signal reverts like SIGTERM, and says which one it was. A dropped
// SSH session sends SIGHUP; Ctrl-\ sends SIGQUIT; SIGUSR1 stands for everything else whose
// default action ends the process.
class SignalRevertTest : public CrashRecoverTest, public ::testing::WithParamInterface<int> {};

TEST_P(SignalRevertTest, RevertsThawsAndExits3) {
  const int sig = GetParam();
  // Realtime signals have no abbreviation; gameday names them SIGRTMIN+N.
  const std::string name = sig == SIGRTMIN ? "SIGRTMIN" : std::string("SIG") + sigabbrev_np(sig);
  WritePlan("freeze", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(10000)))
      << Log("run.log");
  ASSERT_EQ(LiveFaults(), 1u);
  ASSERT_EQ(kill(run_, sig), 0);
  EXPECT_EQ(Wait(run_), 3) << Log("run.log");
  run_ = -1;
  EXPECT_NE(State(victim_), 'T') << "the frozen process runs again";
  EXPECT_EQ(LiveFaults(), 0u);
  EXPECT_NE(Log("run.log").find(name + " received: reverting"), std::string::npos)
      << Log("run.log");
  const std::string result = Log("report/result.json");
  EXPECT_NE(result.find("interrupted by " + name), std::string::npos) << result;
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalRevertTest,
                         ::testing::Values(SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGRTMIN),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == SIGRTMIN ? std::string("RTMIN")
                                                         : std::string(sigabbrev_np(info.param));
                         });

// A second signal while the first one's revert runs neither aborts the revert nor changes the
// exit code; it is only acknowledged.
TEST_F(CrashRecoverTest, SecondSignalDoesNotInterruptTheRevert) {
  WritePlan("freeze", "300ms");
  StartRun();
  ASSERT_TRUE(WaitFor([&] { return State(victim_) == 'T'; }, milliseconds(10000)))
      << Log("run.log");
  ASSERT_EQ(kill(run_, SIGHUP), 0);
  ASSERT_EQ(kill(run_, SIGTERM), 0);
  ASSERT_EQ(kill(run_, SIGINT), 0);
  EXPECT_EQ(Wait(run_), 3) << Log("run.log");
  run_ = -1;
  EXPECT_NE(State(victim_), 'T');
  EXPECT_EQ(LiveFaults(), 0u);
  const std::string log = Log("run.log");
  EXPECT_NE(log.find("SIGHUP received: reverting"), std::string::npos) << log;
  EXPECT_NE(log.find("received while reverting: the revert goes on"), std::string::npos) << log;
}

// A run whose stdout is a pipe nobody reads any more (`gameday run ... | head -1`) is not killed
// by SIGPIPE mid-fault: it finishes, reverts, and its exit code is its verdict.
TEST_F(CrashRecoverTest, ClosedStdoutDoesNotKillTheRun) {
  WritePlan("freeze", "300ms");
  std::string plan = Log("plan.yaml");
  plan.replace(plan.find("duration: 60s"), 13, "duration: 1s");
  std::ofstream(dir_ / "plan.yaml") << plan;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);  // the reader is gone before the first line is written
  const std::vector<std::string> args = {kBin + "gameday",
                                         "run",
                                         (dir_ / "plan.yaml").string(),
                                         "--journal-dir",
                                         (dir_ / "journal").string(),
                                         "--report-dir",
                                         (dir_ / "report").string(),
                                         "--no-history"};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  const std::string err = (dir_ / "run.log").string();
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // SIGPIPE at its default and unblocked, as from a shell: this test process may ignore or block
  // it, and the child would inherit that and hide the bug.
  sigset_t pipe_only, none;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &pipe_only);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  ASSERT_EQ(posix_spawn(&run_, argv[0], &fa, &attr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  const int code = Wait(run_);
  run_ = -1;
  EXPECT_TRUE(code == 0 || code == 1) << "exit " << code << "\n" << Log("run.log");
  EXPECT_NE(State(victim_), 'T');
  EXPECT_EQ(LiveFaults(), 0u);
  EXPECT_NE(Log("report/result.json").find("\"reverted\""), std::string::npos);
}

}  // namespace
}  // namespace gameday

// The local sandbox with the real parts: runit (runsvdir, runsv, sv), HAProxy 2.6 and three
// gameday-demo replicas, on free loopback ports and in a private temp state dir. Every test brings
// the sandbox down (and SIGKILLs anything still running under its state dir) on every exit path.
// Requests go through Poco's HTTP client, not the sandbox's own libcurl code, so the sandbox is
// never checked only by itself.

#include "sandbox/local_sandbox.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "experiments/clock.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return "";
}

bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// A frontend port P with P+1..P+3 (replicas) and P+100 (stats) free, below the ephemeral range
// so an outgoing connection cannot take one of them meanwhile.
int PickFrontendPort() {
  std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
  std::uniform_int_distribution<int> dist(20000, 29000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int p = dist(rng);
    if (PortFree(p) && PortFree(p + 1) && PortFree(p + 2) && PortFree(p + 3) && PortFree(p + 100)) {
      return p;
    }
  }
  return 0;
}

// Live (non-zombie) processes whose cwd or any argument lies in `root`: an independent scan of
// /proc, so Down's "nothing left" is not checked with the sandbox's own code.
std::vector<pid_t> LiveProcessesUnder(const std::string& root) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == getpid()) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z') continue;
    std::error_code ec;
    std::string where = fs::read_symlink(entry.path() / "cwd", ec).string();
    std::ifstream cmd_file(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd_file)), {});
    if (where.rfind(root, 0) == 0 || cmdline.find(root) != std::string::npos) out.push_back(pid);
  }
  return out;
}

bool Running(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), {});
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

struct Reply {
  int code = 0;  // 0: no HTTP answer at all
  std::string body;
  std::string replica;
  std::string error;
};

Reply Get(int port, const std::string& path, milliseconds timeout = milliseconds(500)) {
  Reply r;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(timeout.count() * 1000));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& body = session.receiveResponse(response);
    Poco::StreamCopier::copyToString(body, r.body);
    r.code = static_cast<int>(response.getStatus());
    r.replica = response.get("X-Replica", "");
  } catch (const Poco::Exception& e) {
    r.error = e.displayText();
  }
  return r;
}

// Makes $PATH something else for one scope.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    const char* old = std::getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (had_) {
      setenv("PATH", old_.c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

class LocalSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"runsvdir", "runsv", "sv", "haproxy"}) {
      ASSERT_FALSE(FindOnPath(tool).empty())
          << tool << " is not on PATH: run scripts/setup.sh (Debian packages runit, haproxy)";
    }
    demo_ = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo";
    ASSERT_EQ(access(demo_.c_str(), X_OK), 0) << demo_ << " missing: build target gameday-demo";
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/gameday-sandbox-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = fs::canonical(tmpl).string();
    state_dir_ = root_ + "/sandbox";
    const int port = PickFrontendPort();
    ASSERT_NE(port, 0) << "no free port block found";
    options_.state_dir = state_dir_;
    options_.frontend_port = port;
    options_.demo_binary = demo_;
  }

  // The guard: whatever happened, the sandbox is brought down and nothing of it survives.
  void TearDown() override {
    if (root_.empty()) return;
    Status s = sandbox_.Down(state_dir_);
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (pid_t pid : LiveProcessesUnder(root_)) {
      ADD_FAILURE() << "pid " << pid << " still running under " << root_ << " after Down";
      kill(pid, SIGKILL);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  SandboxStatus MustStatus() {
    auto st = sandbox_.GetStatus(state_dir_);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? *st : SandboxStatus{};
  }

  int frontend() const { return options_.frontend_port; }

  Clock& clock_ = Clock::Real();
  LocalSandbox sandbox_{&clock_};
  SandboxOptions options_;
  std::string demo_;
  std::string root_;
  std::string state_dir_;
};

TEST_F(LocalSandboxTest, UpServesEveryReplicaRestartsAKilledOneIsIdempotentAndDownCleansUp) {
  const MonoTime t0 = clock_.Now();
  Status s = sandbox_.Up(options_);
  const double up_s = ToSeconds(clock_.Now() - t0);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::cout << "[ metric   ] sandbox Up (3 replicas, 500 ms warm-up) took " << up_s << " s\n";
  RecordProperty("up_seconds", std::to_string(up_s));

  SandboxStatus st = MustStatus();
  ASSERT_TRUE(st.up);
  EXPECT_TRUE(st.healthy);
  EXPECT_TRUE(st.frontend_ok);
  EXPECT_GT(st.haproxy_pid, 0);
  EXPECT_EQ(st.frontend_url, "http://127.0.0.1:" + std::to_string(frontend()) + "/");
  ASSERT_EQ(st.replicas.size(), 3u);
  std::set<pid_t> pids;
  for (const auto& r : st.replicas) {
    EXPECT_GT(r.pid, 0) << r.name;
    EXPECT_TRUE(r.healthy) << r.name;
    EXPECT_EQ(r.haproxy_state, "UP") << r.name;
    EXPECT_EQ(r.runit_state, "run") << r.name;
    pids.insert(r.pid);
  }
  EXPECT_EQ(pids.size(), 3u);

  // Round robin through the frontend: every replica answers, with a body naming itself.
  std::set<std::string> seen;
  for (int i = 0; i < 30; ++i) {
    Reply r = Get(frontend(), "/");
    ASSERT_EQ(r.code, 200) << r.error;
    EXPECT_EQ(r.body, "hello from " + r.replica + "\n");
    seen.insert(r.replica);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"replica-1", "replica-2", "replica-3"}));

  // The demo's own endpoints on a replica port, and HAProxy's Prometheus exporter.
  EXPECT_EQ(Get(frontend() + 1, "/healthz").body, "ok");
  const Reply metrics = Get(frontend() + 1, "/metrics");
  EXPECT_NE(metrics.body.find("\nup 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("requests_total{replica=\"replica-1\",path=\"/\",code=\"200\"}"),
            std::string::npos)
      << metrics.body;
  const Reply hap = Get(frontend() + 100, "/metrics");
  EXPECT_EQ(hap.code, 200);
  EXPECT_NE(hap.body.find("haproxy_server_status"), std::string::npos);

  // SIGKILL replica-2: runit restarts it (new pid), HAProxy sees it UP again within 3 s, and
  // the frontend keeps answering meanwhile (retries and redispatch to the other two). The replica
  // first ages past 1 s: runsv holds back for a second a service that dies younger than that.
  std::this_thread::sleep_for(milliseconds(1000));
  const pid_t old_pid = st.replicas[1].pid;
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);
  const MonoTime killed = clock_.Now();
  bool back = false;
  double new_pid_s = -1;
  int frontend_failures = 0;
  ReplicaStatus now;
  for (int i = 0; i < 150 && !back && clock_.Now() - killed < std::chrono::seconds(3); ++i) {
    if (Get(frontend(), "/").code != 200) ++frontend_failures;
    now = MustStatus().replicas.at(1);
    if (new_pid_s < 0 && now.pid > 0 && now.pid != old_pid) {
      new_pid_s = ToSeconds(clock_.Now() - killed);
    }
    back = now.pid > 0 && now.pid != old_pid && now.healthy && now.haproxy_state == "UP";
    if (!back) std::this_thread::sleep_for(milliseconds(20));
  }
  const double back_s = ToSeconds(clock_.Now() - killed);
  ASSERT_TRUE(back) << "replica-2 after 3 s: pid " << now.pid << " (was " << old_pid << "), "
                    << now.runit_state << ", healthy " << now.healthy << ", HAProxy "
                    << now.haproxy_state;
  EXPECT_FALSE(Running(old_pid));
  std::cout << "[ metric   ] replica-2 SIGKILLed: new pid after " << new_pid_s
            << " s, healthy and UP in HAProxy after " << back_s << " s; frontend failures "
            << frontend_failures << "\n";
  EXPECT_EQ(frontend_failures, 0) << "HAProxy should hide the loss of one replica";

  // Up again: only verifies; nothing restarts.
  const MonoTime t1 = clock_.Now();
  s = sandbox_.Up(options_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(ToSeconds(clock_.Now() - t1), 2.0);
  SandboxStatus again = MustStatus();
  EXPECT_EQ(again.runsvdir_pid, st.runsvdir_pid);
  EXPECT_EQ(again.haproxy_pid, st.haproxy_pid);
  EXPECT_EQ(again.replicas.at(0).pid, st.replicas.at(0).pid);
  EXPECT_EQ(again.replicas.at(1).pid, now.pid);

  // A different layout on the same state dir is refused, and leaves the running one alone.
  SandboxOptions other = options_;
  other.replicas = 2;
  s = sandbox_.Up(other);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("gameday sandbox down"), std::string::npos) << s.message();
  EXPECT_TRUE(MustStatus().healthy);

  // Down: nothing left, state dir gone, ports free again; a second Down is fine.
  std::vector<pid_t> all = {again.runsvdir_pid, again.haproxy_pid};
  for (const auto& r : again.replicas) all.push_back(r.pid);
  const MonoTime t2 = clock_.Now();
  s = sandbox_.Down(state_dir_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::cout << "[ metric   ] sandbox Down took " << ToSeconds(clock_.Now() - t2) << " s\n";
  EXPECT_FALSE(fs::exists(state_dir_));
  EXPECT_TRUE(LiveProcessesUnder(root_).empty());
  for (pid_t pid : all) EXPECT_FALSE(Running(pid)) << "pid " << pid;
  for (int p : {frontend(), frontend() + 1, frontend() + 2, frontend() + 3, frontend() + 100}) {
    EXPECT_TRUE(PortFree(p)) << "port " << p;
  }
  EXPECT_TRUE(sandbox_.Down(state_dir_).ok());
  auto gone = sandbox_.GetStatus(state_dir_);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->up);
}

TEST_F(LocalSandboxTest, KillingEveryReplicaFailsTheFrontendUntilRunitAndHaproxyBringThemBack) {
  Status s = sandbox_.Up(options_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // runsv holds back a service that exited within 1 s of starting; let the replicas age past
  // that, as they would have in any real run.
  std::this_thread::sleep_for(milliseconds(1100));
  SandboxStatus before = MustStatus();
  ASSERT_TRUE(before.healthy);

  const MonoTime killed = clock_.Now();
  for (const auto& r : before.replicas) ASSERT_EQ(kill(r.pid, SIGKILL), 0) << r.name;

  // Probe every 20 ms (bounded: 10 s) until 25 answers in a row (0.5 s) come back after the
  // outage.
  std::optional<MonoTime> first_fail, last_fail, recovered;
  int failing = 0, passing_run = 0, probes = 0;
  MonoTime next = killed;
  while (probes < 500 && passing_run < 25) {
    const MonoTime sent = clock_.Now();
    const Reply r = Get(frontend(), "/");
    ++probes;
    if (r.code == 200) {
      if (passing_run++ == 0) recovered = sent;
    } else {
      ++failing;
      passing_run = 0;
      if (!first_fail) first_fail = sent;
      last_fail = sent;
    }
    next += milliseconds(20);
    clock_.SleepUntil(next, std::stop_token());
  }
  ASSERT_TRUE(first_fail.has_value()) << "killing every replica was never visible";
  ASSERT_GE(passing_run, 25) << "the frontend did not recover within 10 s";
  const double outage = ToSeconds(*recovered - *first_fail);
  std::cout << "[ metric   ] all 3 replicas SIGKILLed: frontend failed for " << outage * 1000
            << " ms (" << failing << " failing of " << probes << " probes at 20 ms; first failure "
            << ToSeconds(*first_fail - killed) * 1000 << " ms after the kill, last "
            << ToSeconds(*last_fail - killed) * 1000 << " ms)\n";
  RecordProperty("all_killed_outage_ms", std::to_string(outage * 1000));
  // The outage is the 500 ms warm-up plus detection; well under the plan's 10 s.
  EXPECT_GE(outage, 0.3);
  EXPECT_LT(outage, 5.0);

  SandboxStatus after = MustStatus();
  EXPECT_TRUE(after.healthy);
  for (size_t i = 0; i < after.replicas.size(); ++i) {
    EXPECT_NE(after.replicas[i].pid, before.replicas[i].pid) << after.replicas[i].name;
    EXPECT_FALSE(Running(before.replicas[i].pid));
  }
}

TEST_F(LocalSandboxTest, UpCleansUpAStateDirLeftByACrashedRunsvdir) {
  Status s = sandbox_.Up(options_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  SandboxStatus before = MustStatus();
  ASSERT_TRUE(before.healthy);
  // The supervisor tree loses its root; runsv, HAProxy and the replicas run on, orphaned, and
  // still hold every port.
  ASSERT_EQ(kill(before.runsvdir_pid, SIGKILL), 0);
  for (int i = 0; i < 100 && Running(before.runsvdir_pid); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  SandboxStatus stale = MustStatus();
  EXPECT_FALSE(stale.up);
  EXPECT_TRUE(Running(before.haproxy_pid));

  s = sandbox_.Up(options_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  SandboxStatus after = MustStatus();
  EXPECT_TRUE(after.healthy);
  EXPECT_NE(after.runsvdir_pid, before.runsvdir_pid);
  EXPECT_FALSE(Running(before.haproxy_pid));
  for (const auto& r : before.replicas) EXPECT_FALSE(Running(r.pid)) << r.name;
  EXPECT_EQ(Get(frontend(), "/").code, 200);
}

TEST_F(LocalSandboxTest, UpRefusesAPortInUseAndNamesItsOwner) {
  // Hold replica-2's port with a listening socket of this process.
  const int port = frontend() + 2;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);

  Status s = sandbox_.Up(options_);
  close(fd);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("port " + std::to_string(port) + " (replica-2)"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("pid " + std::to_string(getpid())), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(state_dir_));
  EXPECT_TRUE(LiveProcessesUnder(root_).empty());
}

TEST_F(LocalSandboxTest, DownAndStatusWhenNothingIsUpAndForeignDirsAreLeftAlone) {
  EXPECT_TRUE(sandbox_.Down(state_dir_).ok());
  auto st = sandbox_.GetStatus(state_dir_);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->up);
  EXPECT_FALSE(st->healthy);

  // A directory that is not a sandbox's is neither used by Up nor removed by Down.
  fs::create_directories(state_dir_);
  std::ofstream(state_dir_ + "/precious.txt") << "keep me";
  Status s = sandbox_.Up(options_);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  s = sandbox_.Down(state_dir_);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(fs::exists(state_dir_ + "/precious.txt"));
  fs::remove(state_dir_ + "/precious.txt");
}

TEST_F(LocalSandboxTest, MissingToolsAndDemoBinaryAreNamed) {
  {
    ScopedPath empty(root_);  // a directory holding none of the tools
    Status s = sandbox_.Up(options_);
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
    for (const char* tool : {"runsvdir", "runsv", "sv", "haproxy", "apt-get install"}) {
      EXPECT_NE(s.message().find(tool), std::string::npos) << s.message();
    }
  }
  SandboxOptions o = options_;
  o.demo_binary = root_ + "/no-such-demo";
  Status s = sandbox_.Up(o);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("GAMEDAY_DEMO_BIN"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(state_dir_));
}

}  // namespace
}  // namespace gameday

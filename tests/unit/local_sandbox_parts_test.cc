// The pure and process-local parts of the local sandbox, without runit or HAProxy (the
// integration test local_sandbox_test runs the whole thing).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "experiments/clock.h"
#include "sandbox/file_text.h"
#include "sandbox/host_tools.h"
#include "sandbox/local_layout.h"
#include "sandbox/port_check.h"
#include "sandbox/proc_table.h"
#include "sandbox/sandbox_files.h"
#include "sandbox/spawn.h"

namespace gameday::local_sandbox {
namespace {

namespace fs = std::filesystem;

class LocalSandboxPartsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gameday-sandbox-parts-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
  }

  SandboxOptions Options() const {
    SandboxOptions o;
    o.state_dir = dir_;
    o.demo_binary = "/opt/demo";
    return o;
  }

  std::string dir_;
};

TEST_F(LocalSandboxPartsTest, LayoutDefaultsFollowTheFrontendPort) {
  auto l = MakeLayout(Options());
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->state_dir, fs::canonical(dir_).string());
  EXPECT_EQ(l->frontend_port, 18080);
  EXPECT_EQ(l->stats_port, 18180);
  EXPECT_EQ(l->replica_ports, (std::vector<int>{18081, 18082, 18083}));
  EXPECT_EQ(l->warmup_ms, 500);
  EXPECT_EQ(l->demo_binary, "/opt/demo");
  EXPECT_EQ(l->FrontendUrl(), "http://127.0.0.1:18080/");
  EXPECT_EQ(l->ServiceNames(),
            (std::vector<std::string>{"replica-1", "replica-2", "replica-3", "haproxy"}));
}

TEST_F(LocalSandboxPartsTest, LayoutRefusesBadOptions) {
  auto bad = [&](auto change, const std::string& want) {
    SandboxOptions o = Options();
    change(o);
    auto l = MakeLayout(o);
    ASSERT_FALSE(l.ok()) << want;
    EXPECT_EQ(l.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(l.status().message().find(want), std::string::npos) << l.status().message();
  };
  bad([](SandboxOptions& o) { o.frontend_port = 0; }, "frontend port must be 1..65535, got 0");
  bad([](SandboxOptions& o) { o.stats_port = 70000; }, "stats port must be 1..65535");
  bad([](SandboxOptions& o) { o.replicas = 17; }, "replicas must be 1..16, got 17");
  bad([](SandboxOptions& o) { o.replica_ports = {1, 2}; }, "name 2 ports for 3 replicas");
  bad([](SandboxOptions& o) { o.replica_ports = {18080, 2, 3}; }, "sandbox ports must all differ");
  bad([](SandboxOptions& o) { o.replica_warmup = std::chrono::minutes(11); }, "warm-up");
  bad([](SandboxOptions& o) { o.state_dir = "/"; }, "cannot be /");
}

TEST_F(LocalSandboxPartsTest, StateFileRoundTripsAndADamagedOneIsNamed) {
  EXPECT_EQ(ReadLayout(dir_).status().code(), Status::Code::kNotFound);
  auto l = MakeLayout(Options());
  ASSERT_TRUE(l.ok());
  l->runsvdir_pid = 4242;
  Write(kStateFile, l->Serialize());
  auto back = ReadLayout(l->state_dir);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->SameShape(*l));
  EXPECT_EQ(back->runsvdir_pid, 4242);

  Write(kStateFile, "frontend_port=99999\n");
  auto damaged = ReadLayout(dir_);
  EXPECT_EQ(damaged.status().code(), Status::Code::kInternal);
  EXPECT_NE(damaged.status().message().find("is damaged"), std::string::npos);
  Write(kStateFile,
        "frontend_port=1\nstats_port=2\nreplica_ports=3,x\ndemo_binary=/d\n"
        "warmup_ms=0\nrunsvdir_pid=1\n");
  EXPECT_EQ(ReadLayout(dir_).status().code(), Status::Code::kInternal);
}

TEST_F(LocalSandboxPartsTest, HaproxyConfigNamesEveryReplica) {
  auto l = MakeLayout(Options());
  ASSERT_TRUE(l.ok());
  const std::string c = HaproxyConfig(*l);
  EXPECT_NE(c.find("bind 127.0.0.1:18080\n"), std::string::npos) << c;
  EXPECT_NE(c.find("server replica-1 127.0.0.1:18081 check\n"), std::string::npos) << c;
  EXPECT_NE(c.find("server replica-3 127.0.0.1:18083 check\n"), std::string::npos) << c;
  EXPECT_NE(c.find("bind 127.0.0.1:18180\n"), std::string::npos) << c;
}

TEST_F(LocalSandboxPartsTest, TextHelpers) {
  EXPECT_EQ(ReadFile(dir_ + "/missing"), std::nullopt);
  Write("log", "one\n\n  two\nthree\n   \nfour\n");
  EXPECT_EQ(ReadFile(dir_ + "/log"), "one\n\n  two\nthree\n   \nfour\n");
  EXPECT_EQ(LogTail(dir_ + "/log", 2), "\n    three\n    four");
  EXPECT_EQ(LogTail(dir_ + "/log", 10), "\n    one\n      two\n    three\n    four");
  EXPECT_EQ(LogTail(dir_ + "/missing", 3), "");
  EXPECT_EQ(Trim(" \t x y \r\n"), "x y");
  EXPECT_EQ(Trim(" \n"), "");
}

TEST_F(LocalSandboxPartsTest, PathsUnderARoot) {
  EXPECT_TRUE(PathUnder("/a/b", "/a/b"));
  EXPECT_TRUE(PathUnder("/a/b/c", "/a/b"));
  EXPECT_TRUE(PathUnder("/a/b/c (deleted)", "/a/b"));
  EXPECT_FALSE(PathUnder("/a/bc", "/a/b"));
  EXPECT_FALSE(PathUnder("/a", "/a/b"));
  EXPECT_FALSE(PathUnder("", "/a/b"));
}

TEST_F(LocalSandboxPartsTest, ThisProcessIsInTheProcTable) {
  auto me = ReadProc(getpid());
  ASSERT_TRUE(me.has_value());
  EXPECT_TRUE(IsRunning(me));
  EXPECT_TRUE(IsRunning(getpid()));
  EXPECT_FALSE(IsRunning(pid_t{0}));
  const auto pids = AllPids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), getpid()), pids.end());
  EXPECT_FALSE(Cmdline(getpid()).empty());
}

TEST_F(LocalSandboxPartsTest, RunCommandReportsExitCodeOutputAndTimeout) {
  const std::string sh = FindOnPath("sh");
  ASSERT_FALSE(sh.empty());
  EXPECT_EQ(FindOnPath("gameday-no-such-tool"), "");
  auto rc = RunCommand({sh, "-c", "echo hi; exit 3"}, dir_ + "/out", std::chrono::seconds(10),
                       &Clock::Real());
  ASSERT_TRUE(rc.ok()) << rc.status().message();
  EXPECT_EQ(*rc, 3);
  EXPECT_EQ(ReadFile(dir_ + "/out"), "hi\n");
  auto slow =
      RunCommand({sh, "-c", "sleep 10"}, "", std::chrono::milliseconds(100), &Clock::Real());
  EXPECT_EQ(slow.status().code(), Status::Code::kDeadlineExceeded);
  EXPECT_FALSE(Spawn({dir_ + "/missing"}, {}).ok());
}

TEST_F(LocalSandboxPartsTest, APortInUseIsRefused) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  Status s = CheckPortFree(port, "HAProxy frontend");
  close(fd);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("(HAProxy frontend) on 127.0.0.1 is not free"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("pid " + std::to_string(getpid())), std::string::npos) << s.message();
}

}  // namespace
}  // namespace gameday::local_sandbox

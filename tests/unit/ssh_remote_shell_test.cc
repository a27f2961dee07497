// The checks on values that SSH fault kinds put into root shell scripts on hosts
// (clients/ssh/remote_shell.h), and where service-stop applies them: at parse, after {{var}}
// expansion, and on revert records. The scripts themselves run against real sshd in
// tests/integration/ssh_remote_args_test.cc.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "clients/ssh/remote_shell.h"
#include "injectors/service_stop/service_stop_injector.h"

namespace gameday {
namespace {

TEST(RemoteShellTest, ProcessNamesAreLiteralAndNeverOptions) {
  for (const char* ok : {"etcd", "kube-apiserver", "python3.11", "a_b+c:d@e", "x"}) {
    EXPECT_EQ(ProcessNameProblem(ok), "") << ok;
  }
  EXPECT_NE(ProcessNameProblem("-u0").find("would be read as an option"), std::string::npos);
  EXPECT_NE(ProcessNameProblem("--help").find("option"), std::string::npos);
  EXPECT_NE(ProcessNameProblem(".*").find("outside the alphabet"), std::string::npos);
  EXPECT_NE(ProcessNameProblem("a|b").find("outside the alphabet"), std::string::npos);
  EXPECT_NE(ProcessNameProblem("etcd server").find("outside the alphabet"), std::string::npos);
  EXPECT_NE(ProcessNameProblem(std::string("et\0cd", 5)).find("outside"), std::string::npos);
  EXPECT_NE(ProcessNameProblem("").find("0 characters"), std::string::npos);
  EXPECT_NE(ProcessNameProblem("kube-controller-manager").find("the kernel keeps 15"),
            std::string::npos);
  // pgrep reads an extended regular expression: the two metacharacters the alphabet allows are
  // escaped, so "a.b" can never match "axb".
  EXPECT_EQ(ProcessNamePattern("python3.11"), "python3\\.11");
  EXPECT_EQ(ProcessNamePattern("g++"), "g\\+\\+");
}

TEST(RemoteShellTest, FileNamesPathsAndOperands) {
  EXPECT_EQ(FileNameProblem("etcd.yaml"), "");
  EXPECT_NE(FileNameProblem("../x").find("not the path"), std::string::npos);
  EXPECT_NE(FileNameProblem("..").find("without '..'"), std::string::npos);
  EXPECT_NE(FileNameProblem("a..yaml").find("without '..'"), std::string::npos);
  EXPECT_NE(FileNameProblem("a\nb").find("NUL or newline"), std::string::npos);
  EXPECT_NE(FileNameProblem(std::string("a\0b", 3)).find("NUL or newline"), std::string::npos);
  EXPECT_NE(FileNameProblem("").find("nothing"), std::string::npos);

  EXPECT_EQ(AbsolutePathProblem("/run/etcd.pid"), "");
  EXPECT_NE(AbsolutePathProblem("run/etcd.pid").find("absolute"), std::string::npos);
  EXPECT_NE(AbsolutePathProblem("/a\nb").find("NUL or newline"), std::string::npos);

  EXPECT_EQ(OperandProblem("etcd.service"), "");
  EXPECT_EQ(OperandProblem("/etc/service/etcd"), "");
  EXPECT_NE(OperandProblem("--all").find("option"), std::string::npos);
  EXPECT_NE(OperandProblem("").find("nothing"), std::string::npos);

  for (const char* ok : {"198.18.3.11", "::1", "fe80::1", "etcd-1.example.org", "m1"}) {
    EXPECT_EQ(HostAddressProblem(ok), "") << ok;
  }
  for (const char* bad :
       {"198.18.0.0/15", "0/0", "-j", "a b", "198.18.1.2,198.18.1.3", "", "$(id)"}) {
    EXPECT_NE(HostAddressProblem(bad).find("is not one host's address"), std::string::npos) << bad;
  }

  EXPECT_EQ(ShellValueProblem("any 'thing' $(here)"), "");
  EXPECT_NE(ShellValueProblem(std::string("a\0b", 3)).find("NUL"), std::string::npos);
}

TEST(RemoteShellTest, SshConnectionYieldsTwoAddressesAndTwoPortsOrNothing) {
  Result<SshConnection> c = ParseSshConnection("198.18.3.1 51234 198.18.3.11 22\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->client_address, "198.18.3.1");
  EXPECT_EQ(c->client_port, 51234);
  EXPECT_EQ(c->server_address, "198.18.3.11");
  EXPECT_EQ(c->server_port, 22);
  c = ParseSshConnection("::1 40000 ::1 2222");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server_port, 2222);
  EXPECT_EQ(ParseSshConnection("127.0.0.1 1 127.0.0.1 65535")->server_port, 65535);
  for (const char* bad :
       {"198.18.3.1 51234 198.18.3.11 22;touch${IFS}/tmp/x;#",
        "198.18.3.1 51234 198.18.3.11 22 -j ACCEPT", "198.18.3.1 51234 198.18.3.11 0",
        "198.18.3.1 51234 198.18.3.11 65536", "198.18.3.1 51234 198.18.3.11 022",
        "198.18.3.1 51234 198.18.3.11 +22", "198.18.3.1 51234 198.18.3.11 -22",
        "$(id) 51234 198.18.3.11 22", "0/0 1 198.18.3.11 22", "198.18.3.1 x 198.18.3.11 22",
        "198.18.3.1 51234 198.18.3.11", "nothing"}) {
    Result<SshConnection> r = ParseSshConnection(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
      EXPECT_NE(r.status().message().find("$SSH_CONNECTION on the host reads"), std::string::npos);
    }
  }
}

class ServiceStopValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("gameday-values-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "inventory.yaml")
        << "hosts:\n  - name: h1\n    address: 127.0.0.1\n    user: root\n"
           "    vars: {evil: '-u0', up: '../../etc/x', pidrel: 'run/x.pid'}\n";
    target_.kind = "ssh";
    target_.inventory = (dir_ / "inventory.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Errors(const std::string& yaml) {
    Diagnostics diags;
    SpecNode spec(YAML::Load(yaml), "spec", std::make_shared<const std::string>("p.yaml"), &diags);
    injector_ = kind_->Parse(spec, target_);
    EXPECT_EQ(injector_ == nullptr, !diags.empty());
    return diags.ToString();
  }

  std::unique_ptr<InjectorKind> kind_ = MakeServiceStopInjectorKind();
  std::unique_ptr<Injector> injector_;
  std::filesystem::path dir_;
  TargetSpec target_;
};

TEST_F(ServiceStopValuesTest, PlanValuesAreCheckedWhenParsed) {
  std::string e = Errors("hosts: h1\nservice: {process: {name: '-u0', freeze: true}}\n");
  EXPECT_NE(e.find("spec.service.process.name: '-u0' would be read as an option"),
            std::string::npos)
      << e;
  e = Errors("hosts: h1\nservice: {process: {name: '.*', freeze: true}}\n");
  EXPECT_NE(e.find("service.process.name: '.*' holds a character outside"), std::string::npos) << e;
  e = Errors("hosts: h1\nservice: {process: {pid_file: run/etcd.pid, freeze: true}}\n");
  EXPECT_NE(e.find("service.process.pid_file: 'run/etcd.pid': expected an absolute path"),
            std::string::npos)
      << e;
  e = Errors("hosts: h1\nservice: {static_pod: {manifest: '..'}}\n");
  EXPECT_NE(e.find("service.static_pod.manifest: expected a file name without '..'"),
            std::string::npos)
      << e;
  e = Errors("hosts: h1\nservice: {static_pod: {manifest: \"etcd\\0.yaml\"}}\n");
  EXPECT_NE(e.find("service.static_pod.manifest: expected a file name without NUL"),
            std::string::npos)
      << e;
  e = Errors("hosts: h1\nservice: {static_pod: {manifest: '../{{pod}}.yaml'}}\n");
  EXPECT_NE(e.find("service.static_pod.manifest: expected a file name inside the folder, not the "
                   "path '../{{pod}}.yaml'"),
            std::string::npos)
      << e;
  e = Errors("hosts: h1\nservice: {systemd: '--all'}\n");
  EXPECT_NE(e.find("service.systemd: '--all' would be read as an option"), std::string::npos) << e;
  e = Errors("hosts: h1\nservice: {runit: '-h'}\n");
  EXPECT_NE(e.find("service.runit: '-h' would be read as an option"), std::string::npos) << e;
  EXPECT_EQ(Errors("hosts: h1\nservice: {process: {name: python3.11, freeze: true}}\n"), "");
}

TEST_F(ServiceStopValuesTest, InventoryValuesAreCheckedAfterExpansion) {
  FaultTarget h1;
  h1.id = "h1";
  h1.display = "h1 (127.0.0.1)";
  InjectorEnv env;
  env.run_id = "r";
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"service: {process: {name: '{{evil}}', freeze: true}}",
       "service.process.name '{{evil}}' on host h1: '-u0' would be read as an option"},
      {"service: {static_pod: {manifest: '{{up}}'}}",
       "service.static_pod.manifest '{{up}}' on host h1: expected a file name inside the "
       "folder, not the path '../../etc/x'"},
      {"service: {static_pod: {manifest: 'a{{up}}'}}",
       "service.static_pod.manifest 'a{{up}}' on host h1"},
      {"service: {process: {pid_file: '{{pidrel}}', freeze: true}}",
       "service.process.pid_file '{{pidrel}}' on host h1: 'run/x.pid': expected an absolute"},
      {"service: {static_pod: {manifest: x.yaml, dir: '{{pidrel}}'}}",
       "service.static_pod.dir '{{pidrel}}' on host h1"},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(Errors(std::string("hosts: h1\n") + c.spec + "\n"), "") << c.spec;
    // RevertRecord resolves the templates exactly as Discover and Inject do (Discover also
    // opens the SSH session, which a unit test has no host for).
    Result<std::string> record = injector_->RevertRecord(h1, env);
    ASSERT_FALSE(record.ok()) << c.spec << " resolved to " << *record;
    EXPECT_EQ(record.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(record.status().message().find(c.message), std::string::npos)
        << record.status().message();
  }
}

TEST_F(ServiceStopValuesTest, RevertRecordsAreCheckedLikePlans) {
  // Refused before any connection is tried (the address would not answer).
  for (const char* service :
       {R"("manager":"process","process_name":"-u0","freeze":true)",
        R"("manager":"process","pid_file":"run/p","freeze":true)",
        R"("manager":"static_pod","manifest":"../../x","manifest_dir":"/etc/kubernetes/manifests")",
        R"("manager":"systemd","unit_or_dir":"--all")"}) {
    Status s = kind_->Revert(std::string(R"({"address":"198.18.255.254",)") + service + "}",
                             InjectorEnv{});
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << service << ": " << s.ToString();
    EXPECT_NE(s.message().find("invalid revert record: service."), std::string::npos)
        << s.message();
  }
  // Where a stopped process's pids were recorded goes into the script too: only the path
  // gameday makes, and only for a stopped (not frozen) process.
  const std::string process =
      R"("manager":"process","pid_file":"/run/p.pid","start":"/usr/sbin/p",)";
  for (const char* stopped :
       {R"("stopped_file":"/run/gameday/gameday-expiry-0123456789ab.stopped; reboot")",
        R"("stopped_file":"gameday-expiry-0123456789ab.stopped")",
        R"("stopped_file":"/run/gameday/gameday-expiry-$(reboot).stopped")",
        R"("stopped_file":"/run/gameday/x\ngameday-expiry-0123456789ab.stopped")",
        R"("stopped_file":"/etc/passwd")", R"("stopped_file":7)"}) {
    Status s = kind_->Revert(
        std::string(R"({"address":"198.18.255.254",)") + process + stopped + "}", InjectorEnv{});
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << stopped << ": " << s.ToString();
    EXPECT_NE(s.message().find("stopped_file"), std::string::npos) << s.message();
  }
  Status frozen = kind_->Revert(
      R"({"address":"198.18.255.254","manager":"process","pid_file":"/run/p.pid","freeze":true,)"
      R"("stopped_file":"/run/gameday/gameday-expiry-0123456789ab.stopped"})",
      InjectorEnv{});
  EXPECT_EQ(frozen.code(), Status::Code::kInvalidArgument) << frozen.ToString();
}

// The record a stop leaves for its revert, and the revert's wait on it, run by the local sh
// against a real process that takes a second to exit after SIGTERM (as a draining server does).
class SignalledRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gameday-signalled-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    file_ = (dir_ / "gameday-expiry-0123456789ab.stopped").string();
    pid_ =
        Sh("sh -c 'trap \"sleep 1; exit 0\" TERM; while :; do sleep 0.05; done' "
           "</dev/null >/dev/null 2>&1 & echo $!");
    ASSERT_FALSE(pid_.empty());
  }
  void TearDown() override {
    Sh("kill -KILL " + pid_ + " 2>/dev/null; true");
    std::filesystem::remove_all(dir_);
  }

  // Runs `script` with sh; its stdout without the last newline.
  static std::string Sh(const std::string& script) {
    const std::string path = std::filesystem::temp_directory_path() /
                             ("gameday-signalled-" + std::to_string(::getpid()) + ".sh");
    std::ofstream(path) << script;
    std::string out;
    if (FILE* p = ::popen(("sh " + path).c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
      ::pclose(p);
    }
    std::filesystem::remove(path);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  std::string Alive() const {
    return "if gd_alive " + pid_ + "; then echo alive; else echo gone; fi\n";
  }

  std::filesystem::path dir_;
  std::string file_;
  std::string pid_;
};

TEST_F(SignalledRecordTest, RevertWaitsForTheSignalledProcessToExit) {
  // The stop records the pid with its start time, then signals; the revert (a run killed right
  // after the signal) waits until that process is gone instead of taking it for a running one.
  EXPECT_EQ(Sh(PidShellFunctions() + "sleep 0.2; gd_pids=" + pid_ + "\n" +
               RecordSignalledScript(file_, 4) + "kill -TERM $gd_pids\n" + Alive() +
               WaitForSignalledScript(file_, 5) + Alive()),
            "alive\ngone");
  std::ifstream in(file_);
  std::string pid, start;
  in >> pid >> start;
  EXPECT_EQ(pid, pid_);
  EXPECT_FALSE(start.empty());
}

TEST_F(SignalledRecordTest, WaitIsBoundedAndIgnoresOtherProcessesAndJunk) {
  // A live process under the recorded pid but another start time is not the one signalled
  // (a reused pid): no wait. Lines that are not two numbers, and pid 1, are skipped.
  std::ofstream(file_) << pid_ << " 1\n1 0\n-1 5\n$(touch " << (dir_ / "pwned").string() << ") 7\n"
                       << pid_ << " 1 extra\n";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Sh(PidShellFunctions() + WaitForSignalledScript(file_, 5) + Alive()), "alive");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "pwned"));
  // The process recorded but never signalled (a run killed between the two) outlives the wait,
  // which ends at the stop timeout.
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Sh(PidShellFunctions() + "gd_pids=" + pid_ + "\n" + RecordSignalledScript(file_, 4) +
               WaitForSignalledScript(file_, 1) + Alive()),
            "alive");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  // No record, nothing to wait for.
  EXPECT_EQ(Sh(PidShellFunctions() + WaitForSignalledScript(file_ + ".none", 5) + "echo ok\n"),
            "ok");
}

TEST_F(SignalledRecordTest, RecordIsNeverWrittenThroughALink) {
  const std::filesystem::path victim = dir_ / "victim";
  std::ofstream(victim) << "keep\n";
  std::filesystem::create_symlink(victim, file_ + ".tmp");
  std::filesystem::create_symlink(victim, file_);
  EXPECT_EQ(Sh(PidShellFunctions() + "gd_pids=" + pid_ + "\n" + RecordSignalledScript(file_, 4) +
               "echo recorded\n"),
            "recorded");
  std::ifstream v(victim);
  std::string line;
  std::getline(v, line);
  EXPECT_EQ(line, "keep");
  EXPECT_FALSE(std::filesystem::is_symlink(file_));
}

}  // namespace
}  // namespace gameday

// The checks on values that SSH fault kinds put into root shell scripts on hosts
// (clients/ssh/remote_shell.h), and where service-stop applies them: at parse, after {{var}}
// expansion, and on revert records. The scripts themselves run against real sshd in
// tests/integration/ssh_remote_args_test.cc.

#include <gtest/gtest.h>
#include <unistd.h>

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
  for (const char* bad : {"10.0.0.0/8", "0/0", "-j", "a b", "1.2.3.4,5.6.7.8", "", "$(id)"}) {
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
    EXPECT_NE(s.message().find("invalid revert record: service."), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace gameday

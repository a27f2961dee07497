// Every injector kind checks each field of a journal's revert record before it acts on it: a
// record gameday could not have written is refused (InvalidArgument, which `recover` reports as
// a record it did not act on), and nothing is signalled, started, deleted or run over SSH.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "injectors/host_partition/host_partition_injector.h"
#include "injectors/network_partition/network_partition_injector.h"
#include "injectors/node_drain/node_drain_injector.h"
#include "injectors/pod_kill/pod_kill_injector.h"
#include "injectors/process/proc.h"
#include "injectors/process/process_injector.h"
#include "injectors/service_stop/service_stop_injector.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

void ExpectRefused(const InjectorKind& kind, const std::string& record) {
  InjectorEnv env;
  Status s = kind.Revert(record, env);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << record << " -> " << s.ToString();
  EXPECT_NE(s.message().find("invalid"), std::string::npos) << s.message();
}

// A child that waits in pause() until killed; stopped with SIGSTOP.
class FrozenChild {
 public:
  FrozenChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      for (;;) ::pause();
    }
    ::kill(pid_, SIGSTOP);
    for (int i = 0; i < 200 && State() != 'T'; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~FrozenChild() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  uint64_t starttime() const { return ReadProcStat(pid_)->starttime; }
  char State() const {
    auto st = ReadProcStat(pid_);
    return st ? st->state : 0;
  }

 private:
  pid_t pid_;
};

TEST(RevertRecordTest, ProcessRecordsWithInvalidFieldsAreNotActedOn) {
  auto kind = MakeProcessInjectorKind();
  FrozenChild child;
  ASSERT_EQ(child.State(), 'T');
  const std::string pid = std::to_string(child.pid());
  const std::string start = std::to_string(child.starttime());
  for (const std::string& record : {
           std::string("not json"),
           std::string("[]"),
           std::string(5000, '['),
           R"({"action":"freeze","pid":")" + pid + R"(","starttime":)" + start + "}",
           R"({"action":"freeze","pid":)" + pid + R"(.5,"starttime":)" + start + "}",
           R"({"action":"freeze","pid":)" + pid + R"(,"starttime":")" + start + "\"}",
           R"({"action":"freeze","pid":)" + pid + R"(,"starttime":-1})",
           R"({"action":"thaw","pid":)" + pid + R"(,"starttime":)" + start + "}",
       }) {
    ExpectRefused(*kind, record);
  }
  EXPECT_EQ(child.State(), 'T') << "no refused record sent SIGCONT";

  // pid 1, gameday itself, negative and absurd pids, whatever the start time.
  for (const std::string& bad_pid :
       {std::string("-1"), std::string("0"), std::string("1"), std::to_string(::getpid()),
        std::to_string(::getppid()), std::string("99999999"), std::string("4294967297")}) {
    ExpectRefused(*kind, R"({"action":"freeze","pid":)" + bad_pid + R"(,"starttime":1})");
  }
  ExpectRefused(*kind, R"({"action":"kill","pid":)" + pid + R"(,"starttime":1,"signal":0})");
  ExpectRefused(*kind, R"({"action":"kill","pid":)" + pid + R"(,"starttime":1,"signal":999})");
  ExpectRefused(*kind, R"({"action":"kill","pid":)" + pid + R"(,"starttime":1})");

  // The same record with valid fields is acted on: the refusals above were the checks.
  InjectorEnv env;
  Status thawed =
      kind->Revert(R"({"action":"freeze","pid":)" + pid + R"(,"starttime":)" + start + "}", env);
  EXPECT_TRUE(thawed.ok()) << thawed.ToString();
  EXPECT_NE(child.State(), 'T');
}

TEST(RevertRecordTest, ProcessStopRecordsMustBeWellFormed) {
  auto kind = MakeProcessInjectorKind();
  const fs::path dir = fs::path(::testing::TempDir()) / ("revert-stop-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string mark = (dir / "restarted").string();
  const std::string argv = R"(["/bin/sh","-c","touch )" + mark + R"("])";
  auto stop = [&](const std::string& argv_json, const std::string& cwd, const std::string& env) {
    return R"({"action":"stop","pid":4242,"starttime":1,"argv":)" + argv_json +
           R"(,"exe":"","cwd":)" + cwd + R"(,"env":)" + env + "}";
  };
  for (const std::string& record : {
           stop(argv, R"("relative/dir")", R"(["PATH=/usr/bin:/bin"])"),
           stop(argv, R"("")", R"(["PATH=/usr/bin:/bin"])"),
           stop(argv, R"("/tmp\u0000/x")", R"(["PATH=/usr/bin:/bin"])"),
           stop(argv, R"("/")", R"(["=x"])"),
           stop(argv, R"("/")", R"(["NOEQUALS"])"),
           stop(argv, R"("/")", R"(["A B=c"])"),
           stop(argv, R"("/")", R"(["PATH=/bin\u0000:/tmp"])"),
           stop(argv, R"("/")", R"("PATH=/bin")"),
           stop(argv, R"("/")", R"([1])"),
           stop(R"([])", R"("/")", R"([])"),
           stop(R"([""])", R"("/")", R"([])"),
           stop(R"(["/bin/sh","-c","touch )" + mark + R"(\u0000x"])", R"("/")", R"([])"),
           stop(R"("/bin/sh")", R"("/")", R"([])"),
       }) {
    ExpectRefused(*kind, record);
  }
  EXPECT_FALSE(fs::exists(mark)) << "a refused stop record started nothing";

  InjectorEnv env;
  (void)kind->Revert(stop(argv, R"("/")", R"(["PATH=/usr/bin:/bin"])"), env);
  for (int i = 0; i < 100 && !fs::exists(mark); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(fs::exists(mark)) << "the valid record is restarted";
  fs::remove_all(dir);
}

// SSH kinds: the endpoint 127.0.0.1:1 refuses connections, so a record that got past the
// checks would fail with a connection error, not InvalidArgument.
std::string Endpoint(const std::string& more) {
  return R"({"host":"h1","address":"127.0.0.1","port":1,"user":"root","key_file":"",)"
         R"("key_passphrase_env":"","known_hosts":"","insecure_ignore_host_key":false,)"
         R"("sudo":false,"connect_timeout_ms":500)" +
         more + "}";
}

TEST(RevertRecordTest, HostPartitionChainsComeFromAFixedAlphabet) {
  auto kind = MakeHostPartitionInjectorKind();
  for (const char* chain :
       {"X; rm -rf /", "GAMEDAY-; rm -rf /", "GAMEDAY-$(reboot)", "GAMEDAY-0123456789ab ",
        "GAMEDAY-0123456789AB", "GAMEDAY-0123456789abc", "INPUT", ""}) {
    ExpectRefused(*kind, Endpoint(R"(,"chain":")" + std::string(chain) + "\""));
  }
  ExpectRefused(*kind, Endpoint(R"(,"chain":7)"));
}

TEST(RevertRecordTest, SshEndpointsAndExpiriesAreChecked) {
  auto kind = MakeServiceStopInjectorKind();
  const std::string service =
      R"(,"manager":"systemd","unit_or_dir":"demo.service","process_name":"","pid_file":"",)"
      R"("start":"","freeze":false,"manifest":"","manifest_dir":"","stash_dir":"",)"
      R"("stop_timeout_ms":5000)";
  auto with = [&](const std::string& endpoint_field, const std::string& value) {
    std::string r = Endpoint(service);
    const std::string key = "\"" + endpoint_field + "\":";
    const size_t at = r.find(key);
    const size_t end = r.find_first_of(",}", at + key.size() + (r[at + key.size()] == '"' ? 1 : 0));
    const size_t value_end = r[at + key.size()] == '"' ? r.find('"', at + key.size() + 1) + 1 : end;
    return r.substr(0, at + key.size()) + value + r.substr(value_end);
  };
  ExpectRefused(*kind, with("address", R"("")"));
  ExpectRefused(*kind, with("address", R"("127.0.0.1 -p 22")"));
  ExpectRefused(*kind, with("address", R"("-oProxyCommand=sh")"));
  ExpectRefused(*kind, with("port", "0"));
  ExpectRefused(*kind, with("port", "70000"));
  ExpectRefused(*kind, with("port", R"("22")"));
  ExpectRefused(*kind, with("user", R"("-oProxyCommand=sh")"));
  ExpectRefused(*kind, with("user", R"("root; reboot")"));
  ExpectRefused(*kind, with("key_passphrase_env", R"("A B")"));
  ExpectRefused(*kind, with("sudo", R"("yes")"));
  ExpectRefused(*kind, with("connect_timeout_ms", "-1"));
  // The expiry marker goes into a script unquoted: only gameday-expiry-<12 hex>.
  ExpectRefused(*kind,
                Endpoint(service + R"J(,"expiry":{"marker":"gameday-expiry-$(reboot)",)J"
                                   R"J("pid_file":"/run/gameday/gameday-expiry-$(reboot).pid"})J"));
  ExpectRefused(*kind, Endpoint(service + R"(,"expiry":{"marker":"gameday-expiry-0123456789ab",)"
                                          R"("pid_file":"/etc/passwd"})"));
  ExpectRefused(*kind, Endpoint(service + R"(,"expiry":"x")"));
  // The service itself.
  ExpectRefused(*kind, Endpoint(R"(,"manager":"cron","unit_or_dir":"x")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"systemd","unit_or_dir":"")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"systemd","unit_or_dir":"a\nb")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"process","process_name":"x","pid_file":"/p",)"
                                R"("start":"x")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"process","process_name":"x","start":"")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"static_pod","manifest":"../../etc/shadow",)"
                                R"("manifest_dir":"/etc/kubernetes/manifests")"));
  ExpectRefused(*kind, Endpoint(R"(,"manager":"static_pod","manifest":"..",)"
                                R"("manifest_dir":"/etc/kubernetes/manifests")"));
  ExpectRefused(*kind, Endpoint(service.substr(0, service.find(R"(,"stop_timeout_ms")")) +
                                R"(,"stop_timeout_ms":-5)"));

  // A valid record passes the checks and fails only at the (refused) connection.
  InjectorEnv env;
  Status s = kind->Revert(Endpoint(service), env);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.code(), Status::Code::kInvalidArgument) << s.ToString();
}

TEST(RevertRecordTest, KubernetesNamesAreDns1123) {
  auto partition = MakeNetworkPartitionInjectorKind();
  const std::string cluster = R"("kubeconfig":"/nonexistent/kubeconfig","context":"c",)";
  for (const char* fields : {
           R"("namespace":"Default; x","policy":"gameday-partition-a-1")",
           R"("namespace":"default","policy":"kube-dns")",
           R"("namespace":"default","policy":"gameday-partition-A")",
           R"("namespace":"default","policy":"gameday-partition-a","pod":"a/b")",
           R"("namespace":"default","policy":"gameday-partition-a","uid":"x;y")",
           R"("namespace":"default","policy":"gameday-partition-a","group":"a b")",
           R"("namespace":"","policy":"gameday-partition-a")",
           R"("namespace":7,"policy":"gameday-partition-a")",
       }) {
    ExpectRefused(*partition, "{" + cluster + fields + "}");
  }
  auto cordon = MakeNodeCordonInjectorKind();
  for (const char* fields :
       {R"("node":"a/b")", R"("node":"")", R"("node":"-a")", R"J("node":"n1","uid":"$(x)")J",
        R"("node":"n1","was_unschedulable":"no")"}) {
    ExpectRefused(*cordon, "{" + cluster + fields + "}");
  }
  auto pod_kill = MakePodKillInjectorKind();
  ExpectRefused(*pod_kill, "{" + cluster + R"("namespace":"A B","name":"p","uid":"u"})");
  ExpectRefused(*pod_kill, "not json");
  InjectorEnv env;
  EXPECT_TRUE(
      pod_kill->Revert("{" + cluster + R"("namespace":"default","name":"web-1","uid":"0a-1"})", env)
          .ok());
}

}  // namespace
}  // namespace gameday

// What reaches the root shell scripts of service-stop and host-partition, against real sshd test
// hosts: process names, pid files, the processes a script may signal, the host's own
// $SSH_CONNECTION and static-pod manifests named by inventory vars.
//
// The test hosts are network namespaces in this machine's pid namespace: pid 1 and every process
// on the machine are visible to them. So what a script *would* signal is checked as a dry run
// that prints the pids it chose and signals nothing, and real faults are injected only where a
// wrong choice stays inside the bed (its own sshd, its own dummy service, its own files).

#include <gtest/gtest.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "clients/ssh/remote_shell.h"
#include "clients/ssh/ssh_client.h"
#include "injectors/host_partition/host_partition_injector.h"
#include "injectors/service_stop/service_stop_injector.h"
#include "tests/integration/ssh_test_util.h"

namespace gameday {
namespace {

using std::chrono::seconds;
using testing::BedTest;
using testing::Quote;
using testing::WaitFor;

// Which pids a selection script chose (remote_shell.h names them).
struct Picked {
  std::string seen, pids, skipped, bad;
};

class RemoteArgsTest : public BedTest {
 protected:
  CommandResult Run(size_t i, const std::string& script) {
    Result<CommandResult> r = ssh_->Run(Host(i).ssh, script, seconds(20));
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return {};
    }
    return *r;
  }

  // Runs `before`, then the selection script `pick` on host i, and reports its choice. Nothing
  // is signalled.
  Picked DryRun(size_t i, const std::string& before, const std::string& pick) {
    CommandResult r = Run(i, PidShellFunctions() + before + pick +
                                 "printf '%s\\n%s\\n%s\\n%s\\n' \"$gd_seen\" \"$gd_pids\" "
                                 "\"$gd_skipped\" \"$gd_bad\"\n");
    EXPECT_TRUE(r.ok()) << r.Summary();
    std::istringstream in(r.out);
    Picked p;
    std::getline(in, p.seen);
    std::getline(in, p.pids);
    std::getline(in, p.skipped);
    std::getline(in, p.bad);
    return p;
  }

  // A copy of the bed's inventory with `vars` added to h1, as a target.
  TargetSpec TargetWithVars(const std::map<std::string, std::string>& vars) {
    YAML::Node doc = YAML::LoadFile(bed_->inventory_path());
    for (const auto& [k, v] : vars) doc["hosts"][0]["vars"][k] = v;
    YAML::Emitter out;
    out << doc;
    TargetSpec t = SshTarget();
    t.inventory = bed_->dir() + "/inventory-vars.yaml";
    std::ofstream(t.inventory) << out.c_str() << "\n";
    return t;
  }

  int DummyPid(size_t i) const {
    int pid = 0;
    std::ifstream(Host(i).Var("dummy_service_dir") + "/supervise/pid") >> pid;
    return pid;
  }
  std::string StateDir(size_t i) const { return Host(i).Var("gameday_state_dir"); }
  // The pid of host i's sshd (the listener; sessions are its children).
  int SshdPid(size_t i) const {
    int pid = 0;
    std::ifstream(bed_->dir() + "/h" + std::to_string(i + 1) + "/sshd.pid") >> pid;
    return pid;
  }

  // The state letter of /proc/PID/stat ('S' sleeping, 'T' stopped), '?' when gone.
  static char State(int pid) {
    std::string stat;
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/stat"), stat);
    const size_t paren = stat.rfind(") ");
    return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
  }

  std::shared_ptr<SshClient> ssh_ = std::make_shared<SshClient>();
  std::unique_ptr<InjectorKind> stop_kind_ = MakeServiceStopInjectorKind(ssh_);
};

TEST_F(RemoteArgsTest, AProcessNameIsNeverReadAsAPgrepOption) {
  ASSERT_TRUE(Up("rname", 1));
  // The hazard, shown without a signal: the command line the old script built for the name
  // "-u0" lists pid 1 and every other root process of the machine.
  CommandResult old = Run(0, "pgrep -x '-u0' || true");
  EXPECT_NE(("\n" + old.out).find("\n1\n"), std::string::npos) << old.out;

  Picked p = DryRun(0, "", PidsFromNameScript("-u0"));
  EXPECT_EQ(p.seen, "");
  EXPECT_EQ(p.pids, "");
  EXPECT_NE(p.bad.find("'-u0' would be read as an option"), std::string::npos) << p.bad;

  // In a plan the name is refused when parsed; from an inventory var once expanded, at
  // discovery, before any command runs on the host.
  Diagnostics diags;
  SpecNode spec(YAML::Load("hosts: h1\nservice: {process: {name: '-u0', freeze: true}}\n"), "spec",
                std::make_shared<const std::string>("plan.yaml"), &diags);
  EXPECT_EQ(stop_kind_->Parse(spec, SshTarget()), nullptr);
  EXPECT_NE(diags.ToString().find("service.process.name: '-u0' would be read as an option"),
            std::string::npos)
      << diags.ToString();

  std::shared_ptr<Injector> freeze =
      ParseSpec(*stop_kind_, "hosts: h1\nservice: {process: {name: '{{evil}}', freeze: true}}\n",
                TargetWithVars({{"evil", "-u0"}}));
  ASSERT_TRUE(freeze);
  InjectorEnv env;
  env.run_id = "rname";
  env.duration = seconds(5);
  Result<std::vector<FaultTarget>> targets = freeze->Discover(env);
  ASSERT_FALSE(targets.ok()) << "'-u0' from the inventory was accepted: injecting would SIGSTOP "
                                "every root process of the host";
  EXPECT_EQ(targets.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(targets.status().message().find(
                "service.process.name '{{evil}}' on host h1: '-u0' would be read as an option"),
            std::string::npos)
      << targets.status().message();
}

TEST_F(RemoteArgsTest, AProcessNameMatchesThatNameOnly) {
  ASSERT_TRUE(Up("rlit", 1));
  // pgrep sees the whole machine: two copies of sleep with names only this bed uses, one with
  // a '.', and a decoy where the '.' is another character (an unescaped '.' matches it).
  const std::string name = "g." + bed_->name();
  const std::string decoy = "gx" + bed_->name();
  ASSERT_LE(name.size(), 15u);
  for (const std::string& n : {name, decoy}) {
    const std::string bin = bed_->dir() + "/" + n;
    std::filesystem::copy_file("/bin/sleep", bin);
    ASSERT_EQ(bed_->Exec(0, "setsid -f " + Quote(bin) + " 600 </dev/null >/dev/null 2>&1").status,
              0);
  }
  auto pid_of = [&](const std::string& n) {
    return std::atoi(testing::RunShell("pgrep -x -- " + Quote(ProcessNamePattern(n)) + " | head -1")
                         .out.c_str());
  };
  int target = 0, other = 0;
  ASSERT_TRUE(WaitFor([&] { return (target = pid_of(name)) > 0 && (other = pid_of(decoy)) > 0; },
                      std::chrono::milliseconds(3000)));

  std::shared_ptr<Injector> freeze = ParseSpec(
      *stop_kind_, "hosts: h1\nservice: {process: {name: '" + name + "', freeze: true}}\n",
      SshTarget());
  ASSERT_TRUE(freeze);
  InjectorEnv env;
  env.run_id = "rlit";
  env.duration = seconds(5);
  FaultTarget h1 = (*freeze->Discover(env))[0];
  Result<std::string> record = freeze->RevertRecord(h1, env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  Status injected = freeze->Inject(h1, env);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(injected.ok()) << injected.ToString();
  EXPECT_EQ(State(target), 'T');
  std::printf("freeze by name over SSH (pick, protect, expiry timer, SIGSTOP, confirm): %.0f ms\n",
              took * 1e3);
  EXPECT_EQ(State(other), 'S') << "the decoy " << decoy << " was frozen too";
  ASSERT_TRUE(stop_kind_->Revert(*record, env).ok());
  EXPECT_EQ(State(target), 'S');
}

TEST_F(RemoteArgsTest, APidFileThatHoldsNoPidSelectsNothing) {
  ASSERT_TRUE(Up("rpidf", 1));
  const std::string file = StateDir(0) + "/test.pid";
  const std::string dummy = std::to_string(DummyPid(0));
  ASSERT_NE(dummy, "0");
  auto write = [&](const std::string& content) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
  };
  // What the old script made of "-1" (its own line, run as a dry run): pid 1.
  write("-1\n");
  EXPECT_EQ(Run(0, "tr -cd '0-9 \\n' < " + Quote(file)).out, "1\n");

  const std::string nul(
      "1\0"
      "2",
      3);
  for (const std::string& content :
       {std::string("-1"), std::string("0"), std::string("1\n"), std::string("  12 junk\n"),
        std::string("99999999999\n"), std::string("4194305"), std::string("012"),
        std::string("+12"), "-" + dummy, dummy + " " + dummy, dummy + "\n\n", dummy + "junk", nul,
        std::string(40, '7')}) {
    write(content);
    Picked p = DryRun(0, "", PidsFromFileScript(file));
    EXPECT_EQ(p.seen, "") << "from '" << content << "'";
    EXPECT_EQ(p.pids, "") << "from '" << content << "'";
    EXPECT_NE(p.bad.find("not a process id"), std::string::npos) << p.bad;
  }
  write(dummy + "\n");
  Picked p = DryRun(0, "", PidsFromFileScript(file));
  EXPECT_EQ(p.seen, dummy);
  EXPECT_EQ(p.pids, dummy);
  EXPECT_EQ(p.bad, "");
  // Empty (runit's pid file of a stopped service) and missing files are no pid, not a problem.
  write("");
  p = DryRun(0, "", PidsFromFileScript(file));
  EXPECT_EQ(p.seen + p.bad, "");
  p = DryRun(0, "", PidsFromFileScript(file + ".missing"));
  EXPECT_EQ(p.seen + p.bad, "");
}

TEST_F(RemoteArgsTest, ServiceStopRefusesAPidFileThatHoldsNoPid) {
  ASSERT_TRUE(Up("rjunk", 1));
  const int dummy = DummyPid(0);
  ASSERT_GT(dummy, 1);
  ASSERT_EQ(State(dummy), 'S');
  std::shared_ptr<Injector> freeze = ParseSpec(
      *stop_kind_,
      "hosts: h1\nservice: {process: {pid_file: '{{gameday_state_dir}}/junk.pid', freeze: true}}\n",
      SshTarget());
  ASSERT_TRUE(freeze);
  InjectorEnv env;
  env.run_id = "rjunk";
  env.duration = seconds(5);
  FaultTarget h1 = (*freeze->Discover(env))[0];
  // Both contents hold the dummy service's pid among other things; the old script dug it out
  // (and "-PID" would be a process group), and froze it.
  for (const std::string& content :
       {std::to_string(dummy) + " junk\n", "-" + std::to_string(dummy)}) {
    std::ofstream(StateDir(0) + "/junk.pid", std::ios::trunc) << content;
    Result<std::string> record = freeze->RevertRecord(h1, env);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    Status injected = freeze->Inject(h1, env);
    EXPECT_EQ(injected.code(), Status::Code::kFailedPrecondition) << injected.ToString();
    EXPECT_NE(injected.message().find("not a process id"), std::string::npos) << injected.message();
    EXPECT_EQ(State(dummy), 'S') << "a pid taken out of '" << content << "' was frozen";
    // The engine reverts whatever it journaled: harmless here (and it thaws what the old
    // script froze).
    Status reverted = stop_kind_->Revert(*record, env);
    EXPECT_TRUE(reverted.ok()) << reverted.ToString();
    EXPECT_EQ(State(dummy), 'S');
  }
}

TEST_F(RemoteArgsTest, NeverSignalsPid1TheSessionItsParentsSshdOrATimer) {
  ASSERT_TRUE(Up("rprot", 1));
  const std::string sshd_pid_file = bed_->dir() + "/h1/sshd.pid";
  const int sshd = SshdPid(0);
  ASSERT_GT(sshd, 1);
  // gd_protected, asked directly in one session. The stand-in timer carries the marker in its
  // command line as a real one does; `; :` keeps sh from exec'ing its sleep.
  CommandResult r =
      Run(0, PidShellFunctions() +
                 "gd_check() { if gd_protected \"$1\"; then echo \"$2 protected\"; else echo \"$2 "
                 "open\"; fi; }\n"
                 "gd_check 1 pid1\ngd_check $$ self\ngd_check $PPID parent\n"
                 "gd_check $(cat " +
                 Quote(sshd_pid_file) +
                 ") sshd\n"
                 "gd_check $(cat " +
                 Quote(Host(0).Var("dummy_service_dir") + "/supervise/pid") +
                 ") dummy\n"
                 "sh -c 'sleep 60; :' gameday-expiry-test </dev/null >/dev/null 2>&1 & gd_t=$!\n"
                 "gd_i=0; until gd_s=$(pgrep -P $gd_t); do gd_i=$((gd_i+1)); [ $gd_i -lt 100 ] || "
                 "break; sleep 0.02; done\n"
                 "gd_check $gd_t timer\ngd_check \"$gd_s\" timer-sleep\nkill $gd_s $gd_t\n");
  EXPECT_EQ(r.out,
            "pid1 protected\nself protected\nparent protected\nsshd protected\ndummy open\n"
            "timer protected\ntimer-sleep protected\n")
      << r.err;

  // Selections leave them out: every sshd found by name, sshd's pid file, the session's own pid.
  Picked by_name = DryRun(0, "", PidsFromNameScript("sshd"));
  EXPECT_NE(by_name.seen, "");
  EXPECT_EQ(by_name.pids, "");
  EXPECT_EQ(by_name.skipped, by_name.seen);
  Picked by_file = DryRun(0, "", PidsFromFileScript(sshd_pid_file));
  EXPECT_EQ(by_file.seen, std::to_string(sshd));
  EXPECT_EQ(by_file.pids, "");
  const std::string own = StateDir(0) + "/own.pid";
  Picked self = DryRun(0, "echo $$ > " + Quote(own) + "\n", PidsFromFileScript(own));
  EXPECT_NE(self.seen, "");
  EXPECT_EQ(self.pids, "");

  // A freeze of sshd through its pid file: refused, sshd serves new sessions. (The old script
  // stopped the bed's sshd.)
  std::shared_ptr<Injector> freeze = ParseSpec(
      *stop_kind_,
      "hosts: h1\nservice: {process: {pid_file: '{{gameday_state_dir}}/../sshd.pid', freeze: "
      "true}}\n",
      SshTarget());
  ASSERT_TRUE(freeze);
  InjectorEnv env;
  env.run_id = "rprot";
  env.duration = seconds(5);
  FaultTarget h1 = (*freeze->Discover(env))[0];
  Result<std::string> record = freeze->RevertRecord(h1, env);
  ASSERT_TRUE(record.ok());
  Status injected = freeze->Inject(h1, env);
  EXPECT_EQ(injected.code(), Status::Code::kFailedPrecondition) << injected.ToString();
  EXPECT_NE(injected.message().find("refusing to signal pid " + std::to_string(sshd)),
            std::string::npos)
      << injected.message();
  if (State(sshd) == 'T') {
    ADD_FAILURE() << "the bed's sshd was frozen";
    ::kill(sshd, SIGCONT);
  }
  SshClient fresh;
  Result<CommandResult> hello = fresh.Run(Host(0).ssh, "echo hello", seconds(5));
  EXPECT_TRUE(hello.ok() && hello->out == "hello\n") << hello.status().ToString();
  EXPECT_TRUE(stop_kind_->Revert(*record, env).ok());
}

TEST_F(RemoteArgsTest, AStaticPodManifestFromAVarStaysInItsFolder) {
  ASSERT_TRUE(Up("rpod", 1));
  const std::string state = StateDir(0);
  std::filesystem::create_directories(state + "/manifests");
  const std::string victim = state + "/victim.yaml";
  std::ofstream(victim) << "kind: Secret\n";
  std::shared_ptr<Injector> pod = ParseSpec(
      *stop_kind_,
      "hosts: h1\nservice: {static_pod: {manifest: '{{pod}}', dir: "
      "'{{gameday_state_dir}}/manifests', stash_dir: '{{gameday_state_dir}}/stash/in'}}\n",
      TargetWithVars({{"pod", "../victim.yaml"}}));
  ASSERT_TRUE(pod);
  InjectorEnv env;
  env.run_id = "rpod";
  env.duration = seconds(5);
  Result<std::vector<FaultTarget>> targets = pod->Discover(env);
  if (targets.ok()) {
    // The old code: show where the file outside the manifests folder went, then put it back.
    Result<std::string> record = pod->RevertRecord((*targets)[0], env);
    ASSERT_TRUE(record.ok());
    Status injected = pod->Inject((*targets)[0], env);
    ADD_FAILURE() << "'../victim.yaml' from the inventory was accepted; inject: "
                  << injected.ToString()
                  << "; victim.yaml still in place: " << std::filesystem::exists(victim);
    EXPECT_TRUE(stop_kind_->Revert(*record, env).ok());
    return;
  }
  EXPECT_EQ(targets.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(targets.status().message().find(
                "service.static_pod.manifest '{{pod}}' on host h1: expected a file name inside "
                "the folder, not the path '../victim.yaml'"),
            std::string::npos)
      << targets.status().message();
  EXPECT_TRUE(std::filesystem::exists(victim));
}

TEST_F(RemoteArgsTest, HostPartitionPutsOnlyAddressesAndPortsIntoRules) {
  ASSERT_TRUE(Up("rconn", 2));
  const std::string bridge = Host(0).ssh.address.substr(0, Host(0).ssh.address.rfind('.')) + ".1";
  const std::string pwned = bed_->dir() + "/pwned";
  // The host decides what $SSH_CONNECTION says (here root's ~/.bashrc, which bash reads for
  // commands that come over SSH). The old script put its fourth word into a root script.
  const std::string bashrc = bed_->dir() + "/h1/home/.bashrc";
  std::ofstream(bashrc) << "export SSH_CONNECTION='" << bridge << " 40000 " << Host(0).ssh.address
                        << " 22;touch${IFS}" << pwned << ";#'\n";
  auto kind = MakeHostPartitionInjectorKind(ssh_);
  std::shared_ptr<Injector> cut = ParseSpec(*kind, "hosts: h1\n", SshTarget());
  ASSERT_TRUE(cut);
  InjectorEnv env;
  env.run_id = "rconn";
  env.duration = seconds(10);
  FaultTarget h1 = (*cut->Discover(env))[0];
  Result<std::string> record = cut->RevertRecord(h1, env);
  ASSERT_TRUE(record.ok());
  Status injected = cut->Inject(h1, env);
  EXPECT_EQ(injected.code(), Status::Code::kFailedPrecondition) << injected.ToString();
  EXPECT_NE(injected.message().find("$SSH_CONNECTION on the host reads"), std::string::npos)
      << injected.message();
  EXPECT_FALSE(std::filesystem::exists(pwned)) << "the host's $SSH_CONNECTION ran as root";
  EXPECT_EQ(bed_->Exec(0, "iptables -w -S | grep GAMEDAY || true").out, "");
  ASSERT_TRUE(kind->Revert(*record, env).ok());

  // Without the planted value the same fault goes in, its SSH exemption on the real port.
  std::filesystem::remove(bashrc);
  injected = cut->Inject(h1, env);
  ASSERT_TRUE(injected.ok()) << injected.ToString();
  const std::string rules = bed_->Exec(0, "iptables -w -S | grep GAMEDAY || true").out;
  EXPECT_NE(rules.find("-s " + bridge + "/32 -p tcp -m tcp --dport 22 -j RETURN"),
            std::string::npos)
      << rules;
  ASSERT_TRUE(kind->Revert(*record, env).ok());

  // An inventory "address" that is a range would drop the whole subnet (h2 with it).
  TargetSpec wide = SshTarget();
  wide.inventory = bed_->dir() + "/inventory-wide.yaml";
  {
    std::ifstream in(bed_->inventory_path());
    std::ofstream out(wide.inventory);
    out << in.rdbuf() << "  - name: subnet\n    address: "
        << Host(0).ssh.address.substr(0, Host(0).ssh.address.rfind('.')) + ".0/24"
        << "\n    groups: [wide]\n";
  }
  std::shared_ptr<Injector> cut_wide = ParseSpec(*kind, "hosts: h1\nfrom: wide\n", wide);
  ASSERT_TRUE(cut_wide);
  FaultTarget wide_h1 = (*cut_wide->Discover(env))[0];
  Result<std::string> wide_record = cut_wide->RevertRecord(wide_h1, env);
  ASSERT_TRUE(wide_record.ok());
  injected = cut_wide->Inject(wide_h1, env);
  EXPECT_EQ(injected.code(), Status::Code::kFailedPrecondition) << injected.ToString();
  EXPECT_NE(injected.message().find("is not one host's address"), std::string::npos)
      << injected.message();
  EXPECT_EQ(bed_->Exec(0, "iptables -w -S | grep GAMEDAY || true").out, "");
  ASSERT_TRUE(kind->Revert(*wide_record, env).ok());
}

}  // namespace
}  // namespace gameday

// node-failure on a real node (tests/harness/real-node.sh: containerd, kubelet, kube-proxy in a
// network namespace, joined to the test plane started with GAMEDAY_PLANE_NODE_NET=1): `gameday
// run` stops the node's kubelet over SSH for 30 s (mode kubelet-stop, the kubelet as a process
// by its pid file, started again by `real-node.sh kubelet-start`), the node controller marks it
// NotReady (the plane's --node-monitor-grace-period is 20 s), the revert starts the kubelet and
// the node is Ready again. The test watches the Node itself (ground truth) and checks the times
// gameday put into the result against what it saw; then that nothing of the fault is left: the
// kubelet runs (a new process, in the node's cgroup), no expiry timer, no recorded-pids file, no
// gameday iptables chain, a clear journal. The SSH host is an sshd the test starts on 127.0.0.1
// (the kubelet's pid file and process are visible from the machine); for api-cut, an sshd in the
// node's network namespace, where its iptables rules must land. On the same node,
// container-kill: SIGKILL to a pod's container through that host, the kubelet's restart, and
// the stages it recorded set against the pod's settings.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include "clients/kubernetes/client.h"
#include "experiments/journal.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"
// After the plane's helpers: child_process.h has a WaitUntil of its own that k8s_test_util.h's
// calls must not see.
#include "tests/integration/child_process.h"

namespace gameday {
namespace {

using gameday::testing::ReadFileOrEmpty;
using gameday::testing::RunShell;
using gameday::testing::ShellQuote;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

// The plane of this binary makes room for real nodes; set before main() (see
// k8s_real_node_test.cc), only as root.
const bool kNodeNet = [] {
  return ::geteuid() != 0 || ::setenv("GAMEDAY_PLANE_NODE_NET", "1", 1) == 0;
}();

constexpr const char* kNode = "nodefail-1";
constexpr int kNodeIndex = 3;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Polls `done` every `every` until it holds or `timeout` passed (the two test headers each have a
// WaitUntil, which are ambiguous here).
bool Await(const std::function<bool()>& done, milliseconds timeout,
           milliseconds every = milliseconds(100)) {
  const auto deadline = Steady::now() + timeout;
  while (true) {
    if (done()) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

double Since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

int ReadPid(const std::string& file) { return std::atoi(Trim(ReadFileOrEmpty(file)).c_str()); }

bool Alive(int pid) {
  if (pid <= 1) return false;
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(") ");
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// A free TCP port on 127.0.0.1 in [20000, 40000) (one the kernel would not hand out on its own
// first, and none in use now).
int FreePort() {
  std::random_device rd;
  for (int i = 0; i < 50; ++i) {
    const int port = 20000 + static_cast<int>(rd() % 20000);
    if (RunShell("ss -Htln 'sport = :" + std::to_string(port) + "' | grep -q .") != 0) return port;
  }
  return 0;
}

// The Node's Ready condition status ("True", "False", "Unknown"; "" when not read).
std::string ReadyStatus(KubeClient& client, const std::string& node) {
  KubeRequest req;
  req.ref = ResourceRef::Core("nodes", "", node);
  req.max_attempts = 1;
  Result<rapidjson::Document> doc = client.CallJson(req);
  if (!doc.ok()) return "";
  const rapidjson::Value* conds = JsonPath(*doc, {"status", "conditions"});
  if (conds == nullptr || !conds->IsArray()) return "";
  for (const auto& c : conds->GetArray()) {
    if (JsonPathString(c, {"type"}) == "Ready") return JsonPathString(c, {"status"});
  }
  return "";
}

// `name=12.34s` in `text`, as a number.
std::optional<double> Field(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(name + "=([0-9]+\\.[0-9]+)s"))) return std::nullopt;
  return std::stod(m[1].str());
}

class NodeFailureTest : public gameday::testing::K8sPlaneTest {
 protected:
  NodeFailureTest() : K8sPlaneTest("nodefail") {}

  void SetUp() override {
    ASSERT_TRUE(kNodeNet);
    K8sPlaneTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (::geteuid() != 0) GTEST_SKIP() << "real nodes need root (namespaces, cgroups, iptables)";
    std::string missing;
    for (const char* tool : {"runc", "ip", "iptables", "nsenter", "gcc", "python3", "ss",
                             "ssh-keygen", "/usr/sbin/sshd"}) {
      if (RunShell(std::string("command -v ") + tool + " >/dev/null") != 0) {
        missing += " " + std::string(tool);
      }
    }
    if (!std::filesystem::exists("/usr/lib/cni/bridge")) missing += " containernetworking-plugins";
    if (!missing.empty()) {
      const std::string why =
          "node-failure on a real node needs:" + missing + " (scripts/setup.sh)";
      if (std::getenv("CI") != nullptr) FAIL() << why;
      GTEST_SKIP() << why;
    }
    std::string bin;
    const int rc =
        RunShell(ShellQuote(plane_->harness + "/build-k8s.sh") + " --with-nodes | tail -n 1", &bin);
    bin_ = Trim(bin);
    if (rc != 0 || !std::filesystem::exists(bin_ + "/kubelet")) {
      const std::string why = "build-k8s.sh --with-nodes failed (see its output above)";
      if (std::getenv("CI") != nullptr) FAIL() << why;
      GTEST_SKIP() << why;
    }
    admin_ = gameday::testing::AdminClient();
    ASSERT_NE(admin_, nullptr);
  }

  void TearDown() override {
    if (sshd_) sshd_->Stop();
    if (node_up_) {
      EXPECT_EQ(RunShell(Script() + " down " + ShellQuote(plane_->dir) + " " + kNode), 0);
      EXPECT_EQ(Trim(Lines("grep -l 'gameday-node-' /proc/[0-9]*/cgroup 2>/dev/null | "
                           "xargs -r grep -l 'gameday-node-" +
                           subnet_ + "-" + std::to_string(kNodeIndex) + "' 2>/dev/null")),
                "")
          << "processes of the node are left";
    }
    K8sPlaneTest::TearDown();
  }

  std::string Script() const { return ShellQuote(plane_->harness + "/real-node.sh"); }

  static std::string Lines(const std::string& command) {
    std::string out;
    RunShell(command, &out);
    return out;
  }

  // tmp_/inventory.yaml: the node's host is the test's sshd. Returns the host's state folder.
  std::string WriteInventory() {
    const std::string state = tmp_ + "/hoststate";
    std::filesystem::create_directories(state);
    std::ofstream(tmp_ + "/inventory.yaml")
        << "defaults:\n  user: root\n  port: " << port_ << "\n  key_file: " << tmp_
        << "/ssh/id_ed25519\n  known_hosts: " << tmp_ << "/ssh/known_hosts\n"
        << "  connect_timeout: 5s\nhosts:\n  - name: node-host\n    address: " << address_
        << "\n    vars: {k8s_node: " << kNode << ", gameday_state_dir: " << state << "}\n";
    return state;
  }

  // An sshd for root with a key of the test's, its host key in a known_hosts file: on 127.0.0.1
  // (a free port), or in network namespace `netns` on `address`:22.
  ::testing::AssertionResult StartSshd(const std::string& netns = "",
                                       const std::string& address = "127.0.0.1") {
    const std::string d = tmp_ + "/ssh";
    std::filesystem::create_directories(d + "/home");
    address_ = address;
    port_ = netns.empty() ? FreePort() : 22;
    if (port_ == 0) return ::testing::AssertionFailure() << "no free port";
    if (RunShell("ssh-keygen -q -t ed25519 -N '' -f " + ShellQuote(d + "/host_key") +
                 " && ssh-keygen -q -t ed25519 -N '' -f " + ShellQuote(d + "/id_ed25519") +
                 " && cp " + ShellQuote(d + "/id_ed25519.pub") + " " +
                 ShellQuote(d + "/authorized_keys") + " && mkdir -p /run/sshd") != 0) {
      return ::testing::AssertionFailure() << "ssh-keygen failed";
    }
    std::ofstream(d + "/sshd_config")
        << "Port " << port_ << "\nListenAddress " << address << "\nHostKey " << d << "/host_key\n"
        << "PidFile " << d << "/sshd.pid\nAuthorizedKeysFile " << d << "/authorized_keys\n"
        << "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        << "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        << "StrictModes no\nUseDNS no\nPrintMotd no\nAllowTcpForwarding no\nX11Forwarding no\n"
        << "MaxStartups 50\nSetEnv HOME=" << d << "/home\n";
    // known_hosts names a host on port 22 by its address alone.
    std::ofstream(d + "/known_hosts")
        << (port_ == 22 ? address : "[" + address + "]:" + std::to_string(port_)) << " "
        << Trim(ReadFileOrEmpty(d + "/host_key.pub")) << "\n";
    std::vector<std::string> command = {"/usr/sbin/sshd", "-D", "-e", "-f", d + "/sshd_config"};
    const std::string in_netns = netns.empty() ? "" : "ip netns exec " + ShellQuote(netns) + " ";
    if (!netns.empty()) {
      const std::string ip = Trim(Lines("command -v ip"));  // the child is started without PATH
      command.insert(command.begin(), {ip, "netns", "exec", netns});
    }
    sshd_ = std::make_unique<gameday::testing::ChildProcess>(command, d + "/sshd.log");
    if (!Await(
            [&] {
              return RunShell(in_netns + "ss -Htln 'sport = :" + std::to_string(port_) +
                              "' | grep -q .") == 0;
            },
            seconds(10))) {
      return ::testing::AssertionFailure() << "sshd did not listen:\n" << sshd_->LogText();
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult NodeUp() {
    node_up_ = true;
    const int rc = RunShell("GAMEDAY_K8S_BIN=" + ShellQuote(bin_) + " " + Script() + " up " +
                            ShellQuote(plane_->dir) + " " + kNode + " " +
                            std::to_string(kNodeIndex) + " </dev/null");
    if (rc != 0) return ::testing::AssertionFailure() << "real-node.sh up failed";
    subnet_ = Trim(Lines("sed -n 's/^SUBNET=\\([0-9]*\\)$/\\1/p' " +
                         ShellQuote(plane_->dir + "/nodes/" + kNode + "/node.env")));
    return ::testing::AssertionSuccess();
  }

  std::string PidFile() const { return plane_->dir + "/nodes/" + kNode + "/run/kubelet.pid"; }

  // Processes whose command line names a gameday expiry timer, and gameday chains in the
  // iptables of network namespace `netns` ("" = the machine's): "" when there are none.
  static std::string HostLeftovers(const std::string& netns) {
    const std::string in = netns.empty() ? "" : "ip netns exec " + netns + " ";
    return Lines(
        "for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null | grep -a "
        "'gameday-expiry-[0-9a-f]\\{12\\}' | grep -v grep; done; " +
        in + "iptables -w -S 2>/dev/null | grep -E 'GAMEDAY-[0-9a-f]{12}' || true");
  }

  void RunFault(const std::string& spec, const std::string& what, const std::function<bool()>& gone,
                const std::function<std::string()>& leftovers);

  std::shared_ptr<KubeClient> admin_;
  std::string bin_;
  std::unique_ptr<gameday::testing::ChildProcess> sshd_;
  std::string address_;
  int port_ = 0;
  std::string last_note_;
  bool node_up_ = false;
  std::string subnet_;
  const std::string gameday_ = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";
};

// Runs a plan whose one step fails the node for 30 s with `spec` (the fields after nodes and
// inventory), while watching the Node itself; checks the node went NotReady during the fault and
// is Ready again, that the times in the result agree with the test's watch, and that the run
// left nothing behind. `gone` says when the fault is in (as the host shows it).
void NodeFailureTest::RunFault(const std::string& spec, const std::string& what,
                               const std::function<bool()>& gone,
                               const std::function<std::string()>& leftovers) {
  const auto t_test = Steady::now();
  const std::string before = leftovers();
  const std::string state = WriteInventory();
  std::ofstream(tmp_ + "/plan.yaml")
      << "name: node-failure-" << what << "\n"
      << "target: {kind: kubernetes, kubeconfig: " << plane_->kubeconfig << "}\n"
      << "warmup: 500ms\nstable_for: 500ms\nrecovery_timeout: 30s\n"
      << "verify:\n  - name: api\n    kind: tcp\n    interval: 200ms\n"
      << "    spec: {host: 127.0.0.1, port: " << plane_->api_port << ", timeout: 1s}\n"
      << "method:\n  - inject: node-failure\n    select: {mode: all}\n    duration: 30s\n"
      << "    spec:\n      nodes: [" << kNode << "]\n"
      << spec << "      expiry_margin: 60s\n      ready_wait: 90s\n"
      << "      inventory: inventory.yaml\n";

  // The test's own watch of the Node: when it first saw it not Ready, then Ready again.
  std::atomic<bool> stop{false};
  std::optional<double> seen_not_ready;
  std::optional<double> seen_ready_again;
  std::thread watch([&] {
    const auto t0 = Steady::now();
    while (!stop && Since(t0) < 300) {
      const std::string s = ReadyStatus(*admin_, kNode);
      if (!seen_not_ready && (s == "False" || s == "Unknown")) seen_not_ready = Since(t_test);
      if (seen_not_ready && !seen_ready_again && s == "True") seen_ready_again = Since(t_test);
      std::this_thread::sleep_for(milliseconds(200));
    }
  });

  const auto t_run = Steady::now();
  gameday::testing::ChildProcess run(
      {gameday_, "run", tmp_ + "/plan.yaml", "--journal-dir", tmp_ + "/journal", "--report-dir",
       tmp_ + "/report", "--no-history"},
      tmp_ + "/run.log");
  // The fault goes in ...
  const bool in = Await(gone, seconds(60), milliseconds(20));
  const double t_in = Since(t_test);
  EXPECT_TRUE(in) << run.LogText();
  if (in) {
    EXPECT_NE(leftovers(), before) << "the on-host expiry timer runs during the fault";
  }
  const std::optional<int> status = run.Wait(milliseconds(240000));
  stop = true;
  watch.join();
  const double run_s = Since(t_run);
  ASSERT_TRUE(status.has_value()) << run.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << run.LogText();

  // Ground truth: the node was NotReady during the fault and is Ready again.
  ASSERT_TRUE(seen_not_ready.has_value()) << "the node never went NotReady\n" << run.LogText();
  EXPECT_LT(*seen_not_ready, t_in + 30.5) << "NotReady only after the fault's 30 s";
  EXPECT_EQ(ReadyStatus(*admin_, kNode), "True") << run.LogText();
  EXPECT_TRUE(seen_ready_again.has_value());

  // What gameday measured is in the result and agrees with what the test saw.
  const std::string result = ReadFileOrEmpty(tmp_ + "/report/result.json");
  EXPECT_NE(result.find("\"kind\": \"node-failure\""), std::string::npos) << result;
  const size_t at = result.find("\"observed\"");
  ASSERT_NE(at, std::string::npos) << result;
  const std::string note = result.substr(at, result.find('\n', at) - at);
  const std::optional<double> not_ready_after = Field(note, "not_ready_after");
  const std::optional<double> ready_again_after = Field(note, "ready_again_after");
  ASSERT_TRUE(not_ready_after.has_value()) << note;
  ASSERT_TRUE(ready_again_after.has_value()) << note;
  EXPECT_GT(*not_ready_after, 5.0) << "the node controller's grace period is 20 s: " << note;
  EXPECT_LT(*not_ready_after, 30.0) << "NotReady while the fault was in: " << note;
  EXPECT_NEAR(t_in + *not_ready_after, *seen_not_ready, 3.0)
      << "gameday's time and the test's own watch agree: " << note;
  EXPECT_LT(*ready_again_after, 90.0) << note;

  // Nothing of the fault is left: no timer, no chain, no recorded pids, no live journal record.
  EXPECT_EQ(leftovers(), before);
  EXPECT_EQ(Lines("ls " + ShellQuote(state) + " | grep -v '\\.pid$' || true"), "")
      << "no recorded-pids file left";
  Result<std::vector<JournalFile>> journals = ReadJournals(tmp_ + "/journal");
  ASSERT_TRUE(journals.ok()) << journals.status().ToString();
  for (const JournalFile& f : *journals) EXPECT_TRUE(f.live.empty()) << "a live journal record";

  // GAMEDAY_REPORT_OUT=DIR keeps this run's report as DIR/<mode>/ (docs/node-failure-report.png
  // is a screenshot of the kubelet-stop one).
  if (const char* keep = std::getenv("GAMEDAY_REPORT_OUT"); keep != nullptr && *keep != '\0') {
    const std::filesystem::path to = std::filesystem::path(keep) / what;
    std::filesystem::create_directories(to);
    std::filesystem::copy(tmp_ + "/report", to,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  std::printf(
      "node-failure %s: fault in at +%.1fs; gameday: not_ready_after=%.2fs, "
      "ready_again_after=%.2fs; the test's watch: NotReady at +%.1fs, Ready again at +%.1fs; "
      "run %.1fs, test %.1fs\n%s\n",
      what.c_str(), t_in, *not_ready_after, *ready_again_after, *seen_not_ready,
      seen_ready_again.value_or(-1), run_s, Since(t_test), note.c_str());
  last_note_ = note;
}

TEST_F(NodeFailureTest, KubeletStopMakesTheNodeNotReadyAndTheRevertBringsItBack) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(NodeUp());
  ASSERT_EQ(ReadyStatus(*admin_, kNode), "True");
  const int kubelet_before = ReadPid(PidFile());
  ASSERT_TRUE(Alive(kubelet_before));
  // A pod on the node that tolerates the unreachable taint for 5 s: the node controller evicts
  // it during the 30 s fault (NotReady after the 20 s grace, then 5 s).
  {
    KubeRequest create;
    create.verb = "create";
    create.ref = ResourceRef::Core("pods", "default");
    create.body = std::string(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"evictee"},
        "spec":{"nodeName":")") +
                  kNode + R"(","terminationGracePeriodSeconds":0,
        "tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists",
          "effect":"NoExecute","tolerationSeconds":5}],
        "containers":[{"name":"pause","image":"gameday.local/pause:1",
          "imagePullPolicy":"Never"}]}})";
    ASSERT_TRUE(admin_->Call(create).ok());
  }
  const std::string start =
      plane_->harness + "/real-node.sh kubelet-start " + plane_->dir + " " + kNode;
  RunFault(
      "      mode: kubelet-stop\n      service:\n        process:\n          pid_file: " +
          PidFile() + "\n          start: " + ShellQuote(start) +
          "\n      stop_timeout: 20s\n      node_monitor_grace_period: 20s\n",
      "kubelet-stop", [&] { return !Alive(kubelet_before); }, [] { return HostLeftovers(""); });
  EXPECT_NE(last_note_.find("kubelet stopped"), std::string::npos) << last_note_;
  // The expected timeline from the plan's grace period, with the measured time set against it.
  EXPECT_NE(last_note_.find("expected from the cluster's settings: NotReady and the "
                            "node.kubernetes.io/unreachable taint "),
            std::string::npos)
      << last_note_;
  EXPECT_NE(last_note_.find("-25s after the inject (grace 20s, the plan's "
                            "node_monitor_grace_period; heartbeat every "),
            std::string::npos)
      << last_note_;
  EXPECT_NE(last_note_.find("checked every 5s): measured "), std::string::npos) << last_note_;
  EXPECT_NE(last_note_.find("evictions: 5s after the taint (tolerationSeconds of 1 pod): first "
                            "eviction measured "),
            std::string::npos)
      << last_note_;
  EXPECT_NE(last_note_.find("(1 evicted while the fault was in)"), std::string::npos) << last_note_;
  // A new kubelet of the node runs, in the node's cgroup (where `down` finds it).
  const int kubelet_after = ReadPid(PidFile());
  EXPECT_NE(kubelet_after, kubelet_before);
  EXPECT_TRUE(Alive(kubelet_after));
  EXPECT_NE(ReadFileOrEmpty("/proc/" + std::to_string(kubelet_after) + "/cgroup")
                .find("gameday-node-" + subnet_ + "-" + std::to_string(kNodeIndex)),
            std::string::npos);
}

// containers: freeze on the same real node: the node's kubepods cgroup is frozen with the
// kubelet's stop, as a whole machine that died would stop its containers too; the revert thaws
// them before the kubelet starts, so the same container process runs on (not restarted).
TEST_F(NodeFailureTest, KubeletStopWithContainersFrozenThawsTheSameContainersOnRevert) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(NodeUp());
  ASSERT_EQ(ReadyStatus(*admin_, kNode), "True");
  const int kubelet_before = ReadPid(PidFile());
  ASSERT_TRUE(Alive(kubelet_before));
  // A pod that tolerates the unreachable taint for good: it is not evicted during the fault.
  {
    KubeRequest create;
    create.verb = "create";
    create.ref = ResourceRef::Core("pods", "default");
    create.body = std::string(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"frozen"},
        "spec":{"nodeName":")") +
                  kNode + R"(","terminationGracePeriodSeconds":0,
        "tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists",
          "effect":"NoExecute"},{"key":"node.kubernetes.io/not-ready","operator":"Exists",
          "effect":"NoExecute"}],
        "containers":[{"name":"pause","image":"gameday.local/pause:1",
          "imagePullPolicy":"Never"}]}})";
    ASSERT_TRUE(admin_->Call(create).ok());
  }
  const std::string cgroup = "/sys/fs/cgroup/freezer/gameday-node-" + subnet_ + "-" +
                             std::to_string(kNodeIndex) + "/kubepods";
  // The pod's pause processes (its sandbox's and its container's), found through the node's
  // freezer cgroup.
  auto pause_pids = [&] {
    return Trim(Lines("for p in $(find " + ShellQuote(cgroup) +
                      " -name cgroup.procs -exec cat {} + 2>/dev/null); do "
                      "grep -qx pause /proc/$p/comm 2>/dev/null && echo $p; done | sort -n | "
                      "tr '\\n' ' '"));
  };
  std::string pause_before;
  ASSERT_TRUE(Await(
      [&] {
        pause_before = pause_pids();
        return std::count(pause_before.begin(), pause_before.end(), ' ') == 1;
      },
      seconds(60), milliseconds(250)))
      << "the pod's container never ran: " << pause_before;
  auto frozen = [&] { return Trim(ReadFileOrEmpty(cgroup + "/freezer.state")) == "FROZEN"; };
  bool seen_frozen = false;
  const std::string start =
      plane_->harness + "/real-node.sh kubelet-start " + plane_->dir + " " + kNode;
  RunFault(
      "      mode: kubelet-stop\n      containers: freeze\n      containers_cgroup: " + cgroup +
          "\n      service:\n        process:\n          pid_file: " + PidFile() +
          "\n          start: " + ShellQuote(start) +
          "\n      stop_timeout: 20s\n      node_monitor_grace_period: 20s\n",
      "kubelet-stop-frozen",
      [&] {
        seen_frozen = seen_frozen || frozen();
        return seen_frozen && !Alive(kubelet_before);
      },
      [] { return HostLeftovers(""); });
  EXPECT_TRUE(seen_frozen) << "the containers were never frozen";
  EXPECT_NE(last_note_.find("kubelet stopped, containers frozen"), std::string::npos) << last_note_;
  EXPECT_EQ(Trim(ReadFileOrEmpty(cgroup + "/freezer.state")), "THAWED");
  // The same container process runs on: thawed, not restarted.
  EXPECT_EQ(pause_pids(), pause_before);
}

// container-kill on the same real node: SIGKILL to a container's main process, found over SSH
// on the node's host; the kubelet restarts it, and the revert note sets the stages the kubelet
// recorded (died, restarted, Ready) against what the pod's settings say.
TEST_F(NodeFailureTest, ContainerKillIsRestartedByTheRealKubeletAndItsStagesMeasured) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(NodeUp());
  KubeRequest create;
  create.verb = "create";
  create.ref = ResourceRef::Core("pods", "default");
  create.body = std::string(R"({"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":"victim","labels":{"app":"victim"}},
      "spec":{"nodeName":")") +
                kNode + R"(","terminationGracePeriodSeconds":0,
        "containers":[{"name":"pause","image":"gameday.local/pause:1",
          "imagePullPolicy":"Never"}]}})";
  ASSERT_TRUE(admin_->Call(create).ok());
  auto ready = [&] {
    KubeRequest get;
    get.ref = ResourceRef::Core("pods", "default", "victim");
    Result<rapidjson::Document> pod = admin_->CallJson(get);
    if (!pod.ok()) return false;
    const rapidjson::Value* cs = JsonPath(*pod, {"status", "containerStatuses"});
    return cs != nullptr && cs->IsArray() && !cs->Empty() && (*cs)[0].IsObject() &&
           JsonPath((*cs)[0], {"ready"}) != nullptr && (*cs)[0]["ready"].IsBool() &&
           (*cs)[0]["ready"].GetBool();
  };
  ASSERT_TRUE(Await(ready, seconds(90), milliseconds(250))) << "the pod never became Ready";
  WriteInventory();
  std::ofstream(tmp_ + "/plan.yaml")
      << "name: container-kill-real\n"
      << "target: {kind: kubernetes, kubeconfig: " << plane_->kubeconfig << "}\n"
      << "warmup: 500ms\nstable_for: 500ms\nrecovery_timeout: 30s\n"
      << "verify:\n  - name: api\n    kind: tcp\n    interval: 200ms\n"
      << "    spec: {host: 127.0.0.1, port: " << plane_->api_port << ", timeout: 1s}\n"
      << "method:\n  - inject: container-kill\n    select: {mode: all}\n"
      << "    spec: {namespace: default, label_selector: app=victim, action: kill, "
      << "restart_wait: 60s, inventory: inventory.yaml}\n";
  gameday::testing::ChildProcess run(
      {gameday_, "run", tmp_ + "/plan.yaml", "--journal-dir", tmp_ + "/journal", "--report-dir",
       tmp_ + "/report", "--no-history"},
      tmp_ + "/run.log");
  const std::optional<int> status = run.Wait(milliseconds(180000));
  ASSERT_TRUE(status.has_value()) << run.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << run.LogText();
  const std::string result = ReadFileOrEmpty(tmp_ + "/report/result.json");
  const size_t at = result.find("\"observed\"");
  ASSERT_NE(at, std::string::npos) << result << run.LogText();
  const std::string note = result.substr(at, result.find('\n', at) - at);
  EXPECT_NE(note.find("container pause of pod default/victim: restartCount 0 -> 1"),
            std::string::npos)
      << note;
  EXPECT_NE(note.find("expected from the pod's settings: restarted at once (no restart in the 10 "
                      "minutes before), Ready again as it starts (no readiness probe)"),
            std::string::npos)
      << note;
  // The kubelet's own record: the container died of the SIGKILL, was started again, and the
  // pod was Ready after it.
  EXPECT_NE(note.find("measured (the kubelet's times, to the second): died ("), std::string::npos)
      << note;
  EXPECT_NE(note.find("exit code 137) "), std::string::npos) << note;
  EXPECT_NE(note.find("after the kill (gameday's clock), restarted "), std::string::npos) << note;
  EXPECT_NE(note.find("s after the restart"), std::string::npos) << note;
  EXPECT_TRUE(ready()) << "Ready again after the run";
  std::printf("container-kill on a real node:\n%s\n", note.c_str());
}

// The SSH host is an sshd in the node's own network namespace (the node's address), so the
// rules land where the kubelet's traffic to the API server (the plane's relay on the node
// bridge) passes.
TEST_F(NodeFailureTest, ApiCutMakesTheNodeNotReadyAndTheRevertBringsItBack) {
  ASSERT_TRUE(NodeUp());
  ASSERT_EQ(ReadyStatus(*admin_, kNode), "True");
  const std::string netns = "gdn-" + subnet_ + "-" + std::to_string(kNodeIndex);
  const std::string node_ip = "198.18." + subnet_ + "." + std::to_string(10 + kNodeIndex);
  const std::string relay = "198.18." + subnet_ + ".1:" + std::to_string(plane_->api_port);
  ASSERT_TRUE(StartSshd(netns, node_ip));
  const int kubelet_before = ReadPid(PidFile());
  auto chain_in = [&] {
    return RunShell("ip netns exec " + netns +
                    " iptables -w -S | grep -qE 'GAMEDAY-[0-9a-f]{12}'") == 0;
  };
  RunFault("      mode: api-cut\n      api_server: " + relay + "\n", "api-cut", chain_in,
           [&] { return HostLeftovers(netns); });
  EXPECT_NE(last_note_.find("cut off the API server"), std::string::npos) << last_note_;
  // No grace period in the plan and no controller manager pod: the version's default (50 s) is
  // expected, and the plane's 20 s shows as earlier than the settings say.
  EXPECT_NE(last_note_.find("(grace 50s, the default of v1."), std::string::npos) << last_note_;
  EXPECT_NE(last_note_.find("earlier than the settings say"), std::string::npos) << last_note_;
  EXPECT_EQ(ReadPid(PidFile()), kubelet_before) << "the kubelet ran on throughout";
  EXPECT_TRUE(Alive(kubelet_before));
}

}  // namespace
}  // namespace gameday

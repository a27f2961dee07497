// node-failure without a cluster or a host: its spec errors (file:line:col and field path), the
// API server endpoints and the iptables rules api-cut installs, the reading of Node objects
// (hostile), the Ready-node rule, the note that carries the measured times, and the revert
// records it refuses.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "experiments/json.h"
#include "experiments/spec_reader.h"
#include "injectors/node_failure/node_failure_injector.h"
#include "injectors/node_failure/node_failure_parts.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

struct Parsed {
  Diagnostics diags;
  std::unique_ptr<Injector> injector;
  // The diagnostic at `path` whose message holds `text`, or null.
  const Diagnostic* Find(const std::string& path, const std::string& text) const {
    for (const auto& d : diags.items()) {
      if (d.path == path && d.message.find(text) != std::string::npos) return &d;
    }
    return nullptr;
  }
};

TargetSpec KubeTarget() {
  TargetSpec t;
  t.kind = "kubernetes";
  t.check_inventory = false;  // no inventory read unless a test asks for it
  return t;
}

Parsed Parse(const std::string& yaml, const TargetSpec& target = KubeTarget()) {
  Parsed p;
  auto node = LoadDocument(yaml, "plans/plan.yaml", &p.diags);
  EXPECT_TRUE(node) << p.diags.ToString();
  if (!node) return p;
  SpecNode spec(*node, "spec", std::make_shared<const std::string>("plans/plan.yaml"), &p.diags);
  p.injector = MakeNodeFailureInjectorKind()->Parse(spec, target);
  return p;
}

FaultTarget NodeTarget() {
  FaultTarget t;
  t.id = "node/n1/u1";
  t.display = "node n1 (host h1)";
  t.attributes = {{"name", "n1"}, {"uid", "u1"}, {"host", "h1"}};
  return t;
}

TEST(NodeFailureSpecTest, ValidSpecsParse) {
  auto plain = Parse("nodes: [n1, n2]\n");
  ASSERT_TRUE(plain.injector) << plain.diags.ToString();
  EXPECT_TRUE(plain.injector->Reversible());
  const std::string d = plain.injector->DescribeAction(NodeTarget());
  EXPECT_NE(d.find("stop systemd unit kubelet.service on host ? of node n1 over SSH"),
            std::string::npos)
      << "kubelet-stop of kubelet.service is the default: " << d;
  EXPECT_NE(d.find("on-host expiry"), std::string::npos) << d;
  EXPECT_NE(d.find("waits up to 1m for the node to be Ready"), std::string::npos) << d;

  auto process = Parse(
      "label_selector: type=real\n"
      "mode: kubelet-stop\n"
      "service:\n"
      "  process: {pid_file: /srv/plane/nodes/n1/run/kubelet.pid, start: 'real-node.sh "
      "kubelet-start /srv/plane n1'}\n"
      "signal: KILL\n"
      "expiry_margin: 10s\n"
      "stop_timeout: 5s\n"
      "ready_wait: 2m\n"
      "allow_all: true\n");
  ASSERT_TRUE(process.injector) << process.diags.ToString();
  EXPECT_NE(process.injector->DescribeAction(NodeTarget())
                .find("kill (SIGKILL) and stop process of pid file "
                      "/srv/plane/nodes/n1/run/kubelet.pid"),
            std::string::npos)
      << process.injector->DescribeAction(NodeTarget());

  auto cut = Parse("nodes: n1\nmode: api-cut\napi_server: [198.18.5.1:6443, 127.0.0.1:443]\n");
  ASSERT_TRUE(cut.injector) << cut.diags.ToString();
  EXPECT_NE(cut.injector->DescribeAction(NodeTarget())
                .find("cut host ? of node n1 off the API server (198.18.5.1:6443, "
                      "127.0.0.1:443) with iptables"),
            std::string::npos)
      << cut.injector->DescribeAction(NodeTarget());
  auto cut_default = Parse("nodes: n1\nmode: api-cut\n");
  ASSERT_TRUE(cut_default.injector) << cut_default.diags.ToString();
  EXPECT_NE(cut_default.injector->DescribeAction(NodeTarget()).find("the kubeconfig's server"),
            std::string::npos);
}

TEST(NodeFailureSpecTest, EveryFieldErrorHasItsPlaceAndPath) {
  auto p = Parse(
      "nodes: [n1, Bad_Node]\n"                             // 1
      "mode: api-cut\n"                                     // 2
      "signal: KILL\n"                                      // 3
      "api_server: [198.18.5.1:6443, 'h:6443', 1.2.3.4]\n"  // 4
      "ready_wait: 11m\n"                                   // 5
      "inventory: ''\n"                                     // 6
      "alow_all: true\n");                                  // 7
  EXPECT_FALSE(p.injector);
  struct Want {
    std::string path, text;
    int line, column;
  };
  for (const Want& w : std::vector<Want>{
           {"spec.nodes[1]", "expected a node name", 1, 13},
           {"spec.signal", "only used with mode: kubelet-stop", 3, 9},
           {"spec.api_server[1]", "expected IPV4_ADDRESS:PORT", 4, 31},
           {"spec.api_server[2]", "no port", 4, 41},
           {"spec.ready_wait", "", 5, 13},
           {"spec.inventory", "expected a file path", 6, 12},
           {"spec.alow_all", "allow_all", 7, 1},
       }) {
    const Diagnostic* d = p.Find(w.path, w.text);
    ASSERT_NE(d, nullptr) << "no error at " << w.path << " with '" << w.text << "' in:\n"
                          << p.diags.ToString();
    EXPECT_EQ(d->file, "plans/plan.yaml");
    EXPECT_EQ(d->line, w.line) << d->ToString();
    EXPECT_EQ(d->column, w.column) << d->ToString();
  }

  auto kubelet = Parse(
      "nodes: n1\n"
      "mode: reboot\n"
      "api_server: 198.18.5.1:6443\n");
  EXPECT_FALSE(kubelet.injector);
  EXPECT_TRUE(kubelet.Find("spec.mode", "kubelet-stop, api-cut")) << kubelet.diags.ToString();

  auto only_cut = Parse("nodes: n1\napi_server: 198.18.5.1:6443\n");
  EXPECT_FALSE(only_cut.injector);
  EXPECT_TRUE(only_cut.Find("spec.api_server", "only used with mode: api-cut"))
      << only_cut.diags.ToString();

  for (const char* nothing_named : {"mode: kubelet-stop\n", "nodes: []\n"}) {
    auto nothing = Parse(nothing_named);
    EXPECT_FALSE(nothing.injector) << "an empty selection would mean every node";
    EXPECT_TRUE(nothing.Find("spec", "set nodes (names) or label_selector"))
        << nothing.diags.ToString();
  }

  TargetSpec ssh;
  ssh.kind = "ssh";
  auto wrong_target = Parse("nodes: n1\n", ssh);
  EXPECT_FALSE(wrong_target.injector);
  EXPECT_FALSE(wrong_target.diags.empty());
}

// Every value that reaches the root shell script on the host is checked when the plan is read
// (service-stop's rules, shared).
TEST(NodeFailureSpecTest, ServiceValuesForTheRootShellAreChecked) {
  struct Case {
    std::string yaml, path, text;
  };
  for (const Case& c : std::vector<Case>{
           {"service: {systemd: --now}\n", "spec.service.systemd", "-"},
           {"service: {process: {pid_file: run/kubelet.pid, start: x}}\n",
            "spec.service.process.pid_file", "absolute"},
           {"service: {process: {pid_file: /run/kubelet.pid}}\n", "spec.service.process.start",
            "needs `start`"},
           {"service: {process: {name: 'kube;let', start: x}}\n", "spec.service.process.name", ""},
           {"service: {process: {pid_file: /run/k.pid, start: \"a\\0b\"}}\n",
            "spec.service.process.start", "NUL"},
           {"service: {static_pod: {manifest: ../kubelet.yaml}}\n",
            "spec.service.static_pod.manifest", ""},
           {"service: {systemd: kubelet.service, runit: /etc/sv/kubelet}\n", "spec.service",
            "exactly one"},
           {"service: {process: {freeze: true, pid_file: /run/k.pid}}\nsignal: KILL\n",
            "spec.signal", "freeze"},
       }) {
    auto p = Parse("nodes: n1\n" + c.yaml);
    EXPECT_FALSE(p.injector) << c.yaml;
    EXPECT_TRUE(p.Find(c.path, c.text)) << c.yaml << "\n" << p.diags.ToString();
  }
}

TEST(ApiEndpointTest, OnlyIpv4AndAPort) {
  Result<ApiEndpoint> e = ParseApiEndpoint("198.18.5.1:6443");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->address, "198.18.5.1");
  EXPECT_EQ(e->port, 6443);
  EXPECT_EQ(e->ToString(), "198.18.5.1:6443");
  for (const std::string& bad : std::vector<std::string>{
           "", "198.18.5.1", "198.18.5.1:", "198.18.5.1:0", "198.18.5.1:65536", "198.18.5.1:06443",
           "198.18.5.1:+443", "198.18.5:443", "198.18.5.1.1:443", "198.18.5.256:443",
           "198.018.5.1:443", "api.example:443", "[::1]:443", "198.18.5.1:443 ",
           "198.18.5.1/24:443", "198.18.5.1:443;reboot", "$(reboot):443", "198.18.5.1:44 3",
           std::string("198.18.5.1\0:443", 15)}) {
    Result<ApiEndpoint> r = ParseApiEndpoint(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    }
  }
  Result<ApiEndpoint> server = ApiEndpointOfServer("https://127.0.0.1:43211");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(server->ToString(), "127.0.0.1:43211");
  EXPECT_EQ(ApiEndpointOfServer("https://198.18.0.5/")->ToString(), "198.18.0.5:443");
  Result<ApiEndpoint> named = ApiEndpointOfServer("https://api.example:6443");
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(named.status().message().find("set api_server"), std::string::npos);
}

TEST(ApiCutScriptTest, DropsOnlyTheApiServersTrafficInOneChain) {
  const std::vector<ApiEndpoint> api = {{"198.18.5.1", 6443}, {"127.0.0.1", 443}};
  const std::vector<std::string> rules = ApiCutRules(api);
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0], "-d '198.18.5.1' -p tcp --dport '6443' -j DROP");
  EXPECT_EQ(rules[1], "-s '198.18.5.1' -p tcp --sport '6443' -j DROP");
  EXPECT_EQ(rules[3], "-s '127.0.0.1' -p tcp --sport '443' -j DROP");
  const std::string chain = IptablesChain("0123456789ab");
  EXPECT_EQ(chain, "GAMEDAY-0123456789ab");
  EXPECT_TRUE(ValidIptablesChain(chain));
  for (const char* bad : {"GAMEDAY-0123456789aB", "GAMEDAY-0123456789a", "INPUT",
                          "GAMEDAY-0123456789abc", "GAMEDAY-01234567;9ab", ""}) {
    EXPECT_FALSE(ValidIptablesChain(bad)) << bad;
  }
  const std::string install = InstallChainScript(chain, rules);
  EXPECT_NE(install.find("iptables -w -N 'GAMEDAY-0123456789ab' 2>/dev/null || iptables -w -F "
                         "'GAMEDAY-0123456789ab'\n"),
            std::string::npos)
      << install;
  EXPECT_NE(install.find("iptables -w -A 'GAMEDAY-0123456789ab' -d '198.18.5.1' -p tcp --dport "
                         "'6443' -j DROP\n"),
            std::string::npos)
      << install;
  EXPECT_NE(install.find("iptables -w -I INPUT 1 -j 'GAMEDAY-0123456789ab'"), std::string::npos);
  EXPECT_NE(install.find("iptables -w -I OUTPUT 1 -j 'GAMEDAY-0123456789ab'"), std::string::npos);
  const std::string teardown = TeardownChainScript(chain);
  EXPECT_NE(teardown.find("while iptables -w -D INPUT -j 'GAMEDAY-0123456789ab'"),
            std::string::npos);
  EXPECT_NE(teardown.find("iptables -w -X 'GAMEDAY-0123456789ab'"), std::string::npos);
  EXPECT_NE(teardown.find("! iptables -w -n -L 'GAMEDAY-0123456789ab'"), std::string::npos)
      << "the teardown fails unless the chain is gone";
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  EXPECT_TRUE(ParseJson(text, &d).ok()) << text;
  return d;
}

TEST(NodeStateTest, ReadsReadyTaintsAndAddressesOfHostileNodes) {
  NodeState s = ReadNodeState(Json(R"({"metadata":{"uid":"u1"},"spec":{"taints":[
      {"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"},
      {"key":"node.kubernetes.io/unreachable","effect":"NoExecute"}]},
      "status":{"conditions":[{"type":"MemoryPressure","status":"False"},
      {"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown"}],
      "addresses":[{"type":"InternalIP","address":"198.18.5.11"},{"type":"Hostname","address":"n1"}]}})"));
  EXPECT_EQ(s.uid, "u1");
  EXPECT_EQ(s.ready, NodeReady::kUnknown);
  EXPECT_EQ(s.reason, "NodeStatusUnknown");
  EXPECT_EQ(s.lost_taint, "node.kubernetes.io/unreachable");
  EXPECT_EQ(s.addresses, (std::vector<std::string>{"198.18.5.11", "n1"}));

  EXPECT_EQ(
      ReadNodeState(Json(R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})")).ready,
      NodeReady::kTrue);
  EXPECT_EQ(
      ReadNodeState(Json(R"({"status":{"conditions":[{"type":"Ready","status":"False"}]}})")).ready,
      NodeReady::kFalse);
  EXPECT_EQ(ReadNodeState(Json(R"({"status":{"conditions":[{"type":"Ready","status":7}]}})")).ready,
            NodeReady::kUnknown)
      << "a Ready condition whose status is not True is not Ready";
  for (
      const char* hostile :
      {"[]", "null", "7", R"({"status":[]})", R"({"status":{"conditions":{}}})",
       R"({"status":{"conditions":[1,"x",null,{"type":3}]},"spec":{"taints":"x"}})",
       R"({"metadata":[],"spec":{"taints":[{"key":{},"effect":"NoExecute"}]},"status":{"addresses":[7,{"address":[]}]}})"}) {
    NodeState h = ReadNodeState(Json(hostile));
    EXPECT_EQ(h.ready, NodeReady::kMissing) << hostile;
    EXPECT_EQ(h.lost_taint, "") << hostile;
    EXPECT_TRUE(h.addresses.empty()) << hostile;
  }
  NodeState odd = ReadNodeState(
      Json(R"({"status":{"conditions":[{"type":"Ready","status":"False","reason":"a\nb\u0001)" +
           std::string(500, 'x') + R"("}]}})"));
  EXPECT_EQ(odd.reason.substr(0, 4), "a?b?");
  EXPECT_LE(odd.reason.size(), 120u) << "bounded";
}

TEST(ReadyNodesTest, RefusesOnlyWhenNoReadyNodeWouldBeLeft) {
  EXPECT_TRUE(FailsEveryReadyNode({"a", "b"}, {"a", "b"}));
  EXPECT_TRUE(FailsEveryReadyNode({"a"}, {"a", "c"}));
  EXPECT_FALSE(FailsEveryReadyNode({"a", "b"}, {"a"}));
  EXPECT_FALSE(FailsEveryReadyNode({"a", "b"}, {"c"}));
  EXPECT_FALSE(FailsEveryReadyNode({}, {"a"})) << "no Ready node: nothing left to protect";
}

TEST(NodeTimesNoteTest, NamesEveryMeasuredStage) {
  NodeTimes t;
  t.node = "real-1";
  t.fault = "kubelet stopped";
  t.not_ready_after = 24.31;
  t.not_ready_as = "Unknown (NodeStatusUnknown)";
  t.tainted_after = 24.6;
  t.taint = "node.kubernetes.io/unreachable";
  t.ready_again_after = 2.5;
  t.poll_s = 0.25;
  EXPECT_EQ(NodeTimesNote(t),
            "node real-1 (kubelet stopped): not_ready_after=24.31s (Ready Unknown "
            "(NodeStatusUnknown)), tainted_after=24.60s (node.kubernetes.io/unreachable) after "
            "the inject; ready_again_after=2.50s after the revert; polled every 0.25s");
  NodeTimes none;
  none.node = "n1";
  none.fault = "cut off the API server";
  none.not_measured = "not watched";
  none.ready_problem = "not Ready within 1m";
  EXPECT_EQ(NodeTimesNote(none),
            "node n1 (cut off the API server): not_ready_after=none (not watched), "
            "tainted_after=none after the inject; "
            "ready_again_after=none after the revert (not Ready within 1m)");
}

// containers: freeze freezes the node's kubepods cgroup with the kubelet's stop, and only a path
// under /sys/fs/cgroup/ ever reaches the root shell.
TEST(NodeFailureContainersTest, FreezeIsAKubeletStopOptionWithACheckedCgroup) {
  auto freeze = Parse("nodes: n1\ncontainers: freeze\n");
  ASSERT_TRUE(freeze.injector) << freeze.diags.ToString();
  EXPECT_NE(freeze.injector->DescribeAction(NodeTarget())
                .find("first freezes every container of the node (cgroup "
                      "/sys/fs/cgroup/freezer/kubepods), thawed before the kubelet starts again"),
            std::string::npos)
      << freeze.injector->DescribeAction(NodeTarget());
  auto templated =
      Parse("nodes: n1\ncontainers: freeze\ncontainers_cgroup: '{{kubepods_cgroup}}'\n");
  EXPECT_TRUE(templated.injector) << templated.diags.ToString();

  struct Case {
    std::string yaml, path, text;
  };
  for (const Case& c : std::vector<Case>{
           {"containers: stop\n", "spec.containers", "keep, freeze"},
           {"containers_cgroup: /sys/fs/cgroup/freezer/kubepods\n", "spec.containers_cgroup",
            "only used with containers: freeze"},
           {"containers: freeze\ncontainers_cgroup: /tmp/x\n", "spec.containers_cgroup",
            "under /sys/fs/cgroup/"},
           {"containers: freeze\ncontainers_cgroup: '/sys/fs/cgroup/a/../../b'\n",
            "spec.containers_cgroup", "under /sys/fs/cgroup/"},
           {"containers: freeze\ncontainers_cgroup: '/sys/fs/cgroup/a b;reboot'\n",
            "spec.containers_cgroup", "under /sys/fs/cgroup/"},
           {"mode: api-cut\ncontainers: freeze\n", "spec.containers",
            "only used with mode: kubelet-stop"},
       }) {
    auto p = Parse("nodes: n1\n" + c.yaml);
    EXPECT_FALSE(p.injector) << c.yaml;
    EXPECT_TRUE(p.Find(c.path, c.text)) << c.yaml << p.diags.ToString();
  }

  const std::string root(kCgroupRoot);  // "/sys/fs/cgroup/"
  for (const std::string& ok : {root + "freezer/kubepods", root + "kubepods.slice",
                                root + "freezer/gameday-node-real-1/kubepods"}) {
    EXPECT_TRUE(ValidContainersCgroup(ok)) << ok;
  }
  for (const std::string& bad :
       {std::string(), root, root.substr(0, root.size() - 1), root.substr(1) + "x", root + "/x",
        root + "x/", root + "./x", root + "x/..", root + "$(x)", root + "x'y",
        "/proc/1/root" + root + "x"}) {
    EXPECT_FALSE(ValidContainersCgroup(bad)) << bad;
  }
  EXPECT_FALSE(ValidContainersCgroup(root + std::string(250, 'a')));

  const std::string f = FreezeContainersScript("/sys/fs/cgroup/freezer/kubepods");
  EXPECT_NE(f.find("echo FROZEN > '/sys/fs/cgroup/freezer/kubepods'/freezer.state"),
            std::string::npos)
      << f;
  EXPECT_NE(f.find("echo 1 > '/sys/fs/cgroup/freezer/kubepods'/cgroup.freeze"), std::string::npos)
      << f;
  EXPECT_NE(f.find("exit 3"), std::string::npos) << f;
  const std::string t = ThawContainersScript("/sys/fs/cgroup/freezer/kubepods");
  EXPECT_NE(t.find("echo THAWED >"), std::string::npos) << t;
  EXPECT_NE(t.find("echo 0 >"), std::string::npos) << t;
  EXPECT_EQ(t.find("exit"), std::string::npos) << "a thaw never fails: " << t;
}

TEST(NodeFailureRevertTest, RefusesRecordsGamedayCouldNotHaveWritten) {
  auto kind = MakeNodeFailureInjectorKind();
  const std::string ssh = R"("address":"198.18.0.21","port":22,"user":"root",)";
  const std::string node = R"("kubeconfig":"","context":"","node":"n1","uid":"",)";
  const std::string service =
      R"("manager":"systemd","unit_or_dir":"kubelet.service","stop_timeout_ms":20000,)";
  for (
      const std::string& bad : {
          std::string("not json"),
          std::string("{}"),
          // The node, the mode, the fault id, the wait.
          "{" + ssh + R"("kubeconfig":"","context":"","node":"N_1","uid":"",)" + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0})",
          "{" + ssh + node + service +
              R"("mode":"reboot","fault":"0123456789ab","ready_wait_ms":0})",
          "{" + ssh + node + service + R"("mode":"kubelet-stop","fault":"../x","ready_wait_ms":0})",
          "{" + ssh + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":-1})",
          "{" + ssh + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":600001})",
          // The service, as service-stop checks it.
          "{" + ssh + node +
              R"("manager":"systemd","unit_or_dir":"-kubelet","mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0})",
          "{" + ssh + node +
              R"("manager":"process","pid_file":"/run/k.pid","mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0})",
          // The chain of an api-cut.
          "{" + ssh + node +
              R"("mode":"api-cut","chain":"INPUT","fault":"0123456789ab","ready_wait_ms":0})",
          "{" + ssh + node +
              R"("mode":"api-cut","chain":"GAMEDAY-0123456789ab;x","fault":"0123456789ab","ready_wait_ms":0})",
          // The endpoint.
          std::string(R"({"address":"198.18.0.21","port":0,"user":"root",)") + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0})",
          // The containers' cgroup of containers: freeze.
          "{" + ssh + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0,"containers_cgroup":"/etc/passwd"})",
          "{" + ssh + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0,"containers_cgroup":"/sys/fs/cgroup/freezer/../../etc"})",
          "{" + ssh + node + service +
              R"("mode":"kubelet-stop","fault":"0123456789ab","ready_wait_ms":0,"containers_cgroup":7})",
          "{" + ssh + node +
              R"("mode":"api-cut","chain":"GAMEDAY-0123456789ab","fault":"0123456789ab","ready_wait_ms":0,"containers_cgroup":"/sys/fs/cgroup/freezer/kubepods"})",
      }) {
    Status s = kind->Revert(bad, InjectorEnv{});
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad << "\n" << s.ToString();
  }
}

}  // namespace
}  // namespace gameday

// One real node (containerd + runc, kubelet, bridge CNI, kube-proxy) joins the test plane
// (tests/harness/real-node.sh): a Deployment of the project's own gameday-demo image, built into an
// OCI archive without registry or Docker, becomes Ready through its httpGet readiness probe; its
// main process is killed and the kubelet restarts it (restartCount 0 -> 1, Ready again); a
// ClusterIP Service answers from this machine through kube-proxy's rules; after `down`, nothing of
// the node is left (processes, namespaces, mounts, cgroups, iptables chains, routes, sysctls),
// checked here independently of the script.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"
#include "tests/integration/real_node_fixture.h"

namespace gameday {
namespace {

using gameday::testing::K8sRealNodeTest;
using gameday::testing::kImage;
using gameday::testing::kNode;
using gameday::testing::ReadFileOrEmpty;
using gameday::testing::RunShell;
using gameday::testing::ShellQuote;
using gameday::testing::Since;
using gameday::testing::Trim;
using gameday::testing::WaitUntil;
using std::chrono::seconds;

// "KEY=value" lines of a file.
std::map<std::string, std::string> EnvFile(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadFileOrEmpty(path));
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// What a node could leave behind on the host, read without the harness's help.
struct HostState {
  std::set<std::string> netns;    // ip netns list
  std::set<std::string> links;    // ip -o link
  std::set<std::string> routes;   // ip route (IPv4 and IPv6)
  std::set<std::string> chains;   // iptables-save / ip6tables-save chain names, per table
  std::set<std::string> cgroups;  // /sys/fs/cgroup/*/gameday-node-*
  std::set<std::string> mounts;   // mount points
  std::map<std::string, std::string> sysctls;
  std::set<std::string> node_procs;  // pids in a gameday-node cgroup
  std::set<std::string> paths;       // machine-wide places a node must not touch, when present
};

std::set<std::string> Lines(const std::string& command) {
  std::string out;
  RunShell(command, &out);
  std::set<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.insert(line);
  }
  return lines;
}

HostState ReadHost() {
  HostState s;
  s.netns = Lines("ip netns list 2>/dev/null | awk '{print $1}'");
  s.links = Lines("ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1");
  // "linkdown" is the bridge's carrier, which its last port leaving turns off: not a leftover.
  s.routes = Lines("{ ip route show; ip -6 route show; } 2>/dev/null | sed 's/ linkdown//'");
  s.chains = Lines(
      "for f in iptables-save ip6tables-save; do $f 2>/dev/null | awk -v f=$f "
      "'/^\\*/{t=$0} /^:/{print f, t, $1}'; done");
  s.cgroups = Lines("ls -d /sys/fs/cgroup/*/gameday-node-* 2>/dev/null");
  s.mounts = Lines("awk '{print $5}' /proc/self/mountinfo");
  for (const char* key :
       {"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
        "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
        "net/ipv6/conf/all/forwarding", "net/bridge/bridge-nf-call-iptables"}) {
    s.sysctls[key] = Trim(ReadFileOrEmpty(std::string("/proc/sys/") + key));
  }
  s.node_procs = Lines("grep -l 'gameday-node-' /proc/[0-9]*/cgroup 2>/dev/null");
  for (const char* path :
       {"/var/lib/kubelet", "/var/lib/cni", "/var/lib/containerd", "/run/containerd",
        "/var/log/pods", "/var/log/containers", "/opt/containerd", "/etc/cni"}) {
    if (std::filesystem::exists(path)) s.paths.insert(path);
  }
  return s;
}

// What is in `after` and not in `before`, restricted to lines containing one of `ours` (other
// tests on the machine may make namespaces, links and chains of their own meanwhile).
std::string Diff(const std::set<std::string>& before, const std::set<std::string>& after,
                 const std::vector<std::string>& ours = {""}) {
  std::string out;
  for (const auto& a : after) {
    if (before.count(a) != 0) continue;
    for (const auto& o : ours) {
      if (a.find(o) != std::string::npos) {
        out += "  + " + a + "\n";
        break;
      }
    }
  }
  return out;
}

TEST_F(K8sRealNodeTest, ContainerRestartProbesAndClusterIpThenNothingLeft) {
  const HostState before = ReadHost();

  // The demo image: the build's gameday-demo and the shared libraries it needs.
  const std::string archive = DemoImage();
  ASSERT_FALSE(HasFailure());
  // gameday's own image, as the build wrote it.
  const std::string gameday_image = std::string(GAMEDAY_BINARY_DIR) + "/gameday-image.tar";
  std::string gameday_image_name;
  ASSERT_EQ(RunShell("python3 -c " +
                         ShellQuote("import json, sys, tarfile; print(json.load(tarfile.open("
                                    "sys.argv[1]).extractfile('index.json'))['manifests'][0]["
                                    "'annotations']['io.containerd.image.name'], end='')") +
                         " " + ShellQuote(gameday_image),
                     &gameday_image_name),
            0)
      << "no image at " << gameday_image << " (the build writes it)";

  const auto t_up = std::chrono::steady_clock::now();
  ASSERT_EQ(Up(archive + " " + gameday_image), 0) << "real-node.sh up failed; kubelet:\n"
                                                  << NodeLog("kubelet.log") << "containerd:\n"
                                                  << NodeLog("containerd.log") << "node:\n"
                                                  << NodeLog("node.log");
  const double node_ready_s = Since(t_up);

  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns_).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        KubeRequest req;
        req.ref = ResourceRef::Core("serviceaccounts", ns_, "default");
        return admin_->Call(req).ok();
      },
      seconds(30)));
  const std::string probe =
      R"({"httpGet":{"path":"/healthz","port":8080},"periodSeconds":1,"timeoutSeconds":1,"failureThreshold":3})";
  ASSERT_TRUE(gameday::testing::Create(
                  *admin_, ResourceRef::Group("apps", "v1", "deployments", ns_),
                  R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"demo"},
              "spec":{"replicas":1,"selector":{"matchLabels":{"app":"demo"}},
               "template":{"metadata":{"labels":{"app":"demo"}},
                "spec":{"nodeSelector":{"type":"real"},"automountServiceAccountToken":false,
                 "terminationGracePeriodSeconds":1,"enableServiceLinks":false,
                 "containers":[{"name":"demo","image":")" +
                      std::string(kImage) + R"(","imagePullPolicy":"Never",
                  "args":["--port","8080","--bind","0.0.0.0","--name","demo"],
                  "ports":[{"containerPort":8080}],
                  "readinessProbe":)" +
                      probe + R"(,"livenessProbe":)" + probe + R"(}]}}}})")
                  .ok());
  ASSERT_TRUE(
      gameday::testing::Create(*admin_, ResourceRef::Core("services", ns_),
                               R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"demo"},
                      "spec":{"selector":{"app":"demo"},"ports":[{"port":80,"targetPort":8080}]}})")
          .ok());

  Pod pod;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pod = DemoPod();
        return pod.ready;
      },
      seconds(90), std::chrono::milliseconds(200)))
      << "pod never Ready; kubelet:\n"
      << NodeLog("kubelet.log");
  const double pod_ready_s = Since(t_up);
  EXPECT_EQ(pod.restarts, 0);
  std::fprintf(stderr,
               "[real-node] node Ready %.1f s after up; pod Ready %.1f s after up (%s, %s)\n",
               node_ready_s, pod_ready_s, pod.name.c_str(), pod.ip.c_str());

  // The Service from this machine: the host routes the Service range to the node, whose
  // kube-proxy rules send it to the pod.
  KubeRequest svc_req;
  svc_req.ref = ResourceRef::Core("services", ns_, "demo");
  auto svc = admin_->CallJson(svc_req);
  ASSERT_TRUE(svc.ok()) << svc.status().ToString();
  const std::string cluster_ip = JsonPathString(*svc, {"spec", "clusterIP"});
  ASSERT_EQ(cluster_ip.rfind("198.19.", 0), 0u) << cluster_ip;
  std::string answer;
  const auto curl = [&] {
    answer.clear();
    return RunShell("curl -sS --noproxy '*' --max-time 2 http://" + cluster_ip + "/", &answer) == 0;
  };
  ASSERT_TRUE(WaitUntil(curl, seconds(30), std::chrono::milliseconds(250)))
      << "ClusterIP " << cluster_ip << " never answered; kube-proxy:\n"
      << NodeLog("kube-proxy.log");
  EXPECT_EQ(answer, "hello from demo\n");

  // The container's log through the API server, which reaches the kubelet by its InternalIP
  // with the plane's kubelet client certificate (never through a name lookup).
  KubeRequest log_req;
  log_req.ref = ResourceRef::Core("pods", ns_, pod.name);
  log_req.ref.subresource = "log";
  auto log_answer = admin_->Call(log_req);
  ASSERT_TRUE(log_answer.ok()) << log_answer.status().ToString();
  EXPECT_NE(log_answer->body.find("listening on 0.0.0.0:8080"), std::string::npos)
      << log_answer->body;

  // The guard drops what is not for 198.18.0.0/15 or loopback, in both families.
  for (const char* ipt : {"iptables", "ip6tables"}) {
    std::string rules;
    RunShell(Script() + " exec " + ShellQuote(plane_->dir) + " " + kNode + " " + ipt +
                 " -w -t mangle -S 2>/dev/null",
             &rules);
    EXPECT_NE(rules.find("-A GAMEDAY-GUARD -j DROP"), std::string::npos) << ipt << ":\n" << rules;
    EXPECT_NE(rules.find("-A FORWARD -j GAMEDAY-GUARD"), std::string::npos) << ipt << ":\n"
                                                                            << rules;
  }

  // Kill the container's main process; the kubelet restarts it.
  const pid_t pid = MainPid(pod.container_id);
  ASSERT_GT(pid, 0) << "no main process for container " << pod.container_id;
  const auto t_kill = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  bool saw_not_ready = false;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pod = DemoPod();
        if (!pod.ready) saw_not_ready = true;
        return pod.restarts == 1 && pod.ready;
      },
      seconds(60), std::chrono::milliseconds(100)))
      << "restarts=" << pod.restarts << " ready=" << pod.ready << "; kubelet:\n"
      << NodeLog("kubelet.log");
  std::fprintf(stderr,
               "[real-node] killed pid %d; restartCount 1 and Ready again after %.1f s (not Ready "
               "%s)\n",
               static_cast<int>(pid), Since(t_kill),
               saw_not_ready ? "seen in between" : "too short for a 100 ms poll to see");
  // The kubelet saw the container die of the SIGKILL (128 + 9); the not-Ready spell in between
  // can be shorter than the poll (0.5 s from the kill to Ready again has been seen).
  EXPECT_EQ(pod.last_exit_code, 137);
  EXPECT_NE(MainPid(pod.container_id), pid);
  ASSERT_TRUE(WaitUntil(curl, seconds(30), std::chrono::milliseconds(250)));
  EXPECT_EQ(answer, "hello from demo\n");

  // Hang it (SIGSTOP): only the liveness probe can notice; after 3 failed periods of 1 s the
  // kubelet kills and restarts it.
  const pid_t hung = MainPid(pod.container_id);
  ASSERT_GT(hung, 0);
  const auto t_stop = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(hung, SIGSTOP), 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        pod = DemoPod();
        return pod.restarts == 2 && pod.ready;
      },
      seconds(60), std::chrono::milliseconds(100)))
      << "restarts=" << pod.restarts << " ready=" << pod.ready << "; kubelet:\n"
      << NodeLog("kubelet.log");
  const double hang_s = Since(t_stop);
  std::fprintf(stderr, "[real-node] stopped pid %d; liveness restart, Ready again after %.1f s\n",
               static_cast<int>(hung), hang_s);
  EXPECT_GE(hang_s, 2.0);  // at least the failed probes (3 x 1 s, the first may come at once)
  ASSERT_TRUE(WaitUntil(curl, seconds(30), std::chrono::milliseconds(250)));

  // gameday's image on the real node: a plan from a ConfigMap, validated as the image's non-root
  // user (the kubelet refuses to start it under runAsNonRoot otherwise).
  const std::string plan =
      ReadFileOrEmpty(std::string(GAMEDAY_SOURCE_DIR) + "/watches/kubernetes/example.yaml");
  ASSERT_FALSE(plan.empty());
  ASSERT_TRUE(
      gameday::testing::Create(
          *admin_, ResourceRef::Core("configmaps", ns_),
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"plans"},"data":{"plan.yaml":)" +
              JsonQuote(plan) + "}}")
          .ok());
  ASSERT_TRUE(gameday::testing::Create(
                  *admin_, ResourceRef::Core("pods", ns_),
                  R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"gameday-validate"},
              "spec":{"nodeSelector":{"type":"real"},"restartPolicy":"Never",
               "automountServiceAccountToken":false,"enableServiceLinks":false,
               "securityContext":{"runAsNonRoot":true},
               "containers":[{"name":"gameday","image":)" +
                      JsonQuote(gameday_image_name) + R"(,"imagePullPolicy":"Never",
                "args":["validate","/plans/plan.yaml"],
                "volumeMounts":[{"name":"plans","mountPath":"/plans"}]}],
               "volumes":[{"name":"plans","configMap":{"name":"plans"}}]}})")
                  .ok());
  std::string phase;
  ASSERT_TRUE(WaitUntil(
      [&] {
        KubeRequest req;
        req.ref = ResourceRef::Core("pods", ns_, "gameday-validate");
        auto p = admin_->CallJson(req);
        phase = p.ok() ? JsonPathString(*p, {"status", "phase"}) : "";
        return phase == "Succeeded" || phase == "Failed";
      },
      seconds(60), std::chrono::milliseconds(250)))
      << "phase " << phase << "; kubelet:\n"
      << NodeLog("kubelet.log");
  KubeRequest validate_log;
  validate_log.ref = ResourceRef::Core("pods", ns_, "gameday-validate");
  validate_log.ref.subresource = "log";
  auto validated = admin_->Call(validate_log);
  ASSERT_TRUE(validated.ok()) << validated.status().ToString();
  EXPECT_EQ(phase, "Succeeded") << validated->body;
  EXPECT_NE(validated->body.find("/plans/plan.yaml: ok (1 experiment"), std::string::npos)
      << validated->body;

  // Down, then look for leftovers without the script's help.
  const auto t_down = std::chrono::steady_clock::now();
  ASSERT_EQ(Down(), 0);
  std::fprintf(stderr, "[real-node] down in %.1f s\n", Since(t_down));
  const auto node_env = EnvFile(plane_->dir + "/plane.env");
  const HostState after = ReadHost();
  EXPECT_TRUE(after.node_procs.empty()) << Diff({}, after.node_procs);
  EXPECT_EQ(Diff(before.netns, after.netns, {"gdn-", "cni-"}), "");
  EXPECT_EQ(Diff(before.links, after.links, {"gdpn-", "cni", "veth", "eth0"}), "");
  EXPECT_EQ(Diff(before.routes, after.routes, {"198.19.", "gdpl-"}), "");
  EXPECT_EQ(Diff(before.chains, after.chains, {"KUBE-", "CNI-", "GAMEDAY-GUARD"}), "");
  EXPECT_EQ(Diff(before.cgroups, after.cgroups), "");
  EXPECT_EQ(Diff(before.mounts, after.mounts,
                 {plane_->dir, "/run/netns/", "/var/lib", "/var/log", "/run/containerd", "/sys"}),
            "");
  EXPECT_EQ(before.sysctls, after.sysctls);
  EXPECT_EQ(node_env.count("NODE_SUBNET"), 1u);
  // Nothing appeared in the machine-wide places the node keeps private.
  EXPECT_EQ(Diff(before.paths, after.paths), "");
  KubeRequest node_req;
  node_req.ref = ResourceRef::Core("nodes", "", kNode);
  EXPECT_FALSE(admin_->Call(node_req).ok()) << "the Node object is left";
}

// Two real nodes: a pod pinned to each behind one Service; the ClusterIP answers from this
// machine with both; a pod on one node is reached from the other node (pod routes over the
// bridge); after both are down no namespace, route or cgroup of theirs is left.
TEST_F(K8sRealNodeTest, TwoNodesServiceSpreadsAndPodsRouteAcrossNodes) {
  const std::string archive = DemoImage();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(Up(archive, "real-2", 2), 0) << NodeLog("kubelet.log", "real-2");
  ASSERT_EQ(Up(archive, "real-3", 3), 0) << NodeLog("kubelet.log", "real-3");
  const std::string ns = "spread";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        KubeRequest req;
        req.ref = ResourceRef::Core("serviceaccounts", ns, "default");
        return admin_->Call(req).ok();
      },
      seconds(30)));
  for (const std::string node : {"real-2", "real-3"}) {
    ASSERT_TRUE(
        gameday::testing::Create(
            *admin_, ResourceRef::Core("pods", ns),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + node +
                R"(","labels":{"app":"spread"}},"spec":{"nodeName":")" + node +
                R"(","automountServiceAccountToken":false,"terminationGracePeriodSeconds":1,
                "containers":[{"name":"demo","image":")" +
                kImage +
                R"(","imagePullPolicy":"Never","args":["--port","8080","--bind","0.0.0.0","--name",")" +
                node +
                R"("],"readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":1}}]}})")
            .ok());
  }
  ASSERT_TRUE(
      gameday::testing::Create(*admin_, ResourceRef::Core("services", ns),
                               R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"spread"},
                      "spec":{"selector":{"app":"spread"},"ports":[{"port":80,"targetPort":8080}]}})")
          .ok());
  std::map<std::string, std::string> pod_ips;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pod_ips.clear();
        ListOptions opts;
        opts.label_selector = "app=spread";
        auto rv = admin_->List(ResourceRef::Core("pods", ns), opts, [&](const rapidjson::Value& p) {
          const rapidjson::Value* conds = JsonPath(p, {"status", "conditions"});
          if (conds == nullptr || !conds->IsArray()) return Status::Ok();
          for (const auto& c : conds->GetArray()) {
            if (JsonPathString(c, {"type"}) == "Ready" && JsonPathString(c, {"status"}) == "True") {
              pod_ips[JsonPathString(p, {"metadata", "name"})] =
                  JsonPathString(p, {"status", "podIP"});
            }
          }
          return Status::Ok();
        });
        return rv.ok() && pod_ips.size() == 2;
      },
      seconds(60), std::chrono::milliseconds(200)));
  EXPECT_EQ(pod_ips["real-2"].rfind("198.19.242.", 0), 0u) << pod_ips["real-2"];
  EXPECT_EQ(pod_ips["real-3"].rfind("198.19.243.", 0), 0u) << pod_ips["real-3"];

  KubeRequest svc_req;
  svc_req.ref = ResourceRef::Core("services", ns, "spread");
  auto svc = admin_->CallJson(svc_req);
  ASSERT_TRUE(svc.ok()) << svc.status().ToString();
  const std::string url = "http://" + JsonPathString(*svc, {"spec", "clusterIP"}) + "/";
  std::set<std::string> answers;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string a = Curl(url);
        if (!a.empty()) answers.insert(a);
        return answers.size() == 2;
      },
      seconds(60), std::chrono::milliseconds(50)))
      << answers.size() << " distinct answers";
  EXPECT_EQ(answers, (std::set<std::string>{"hello from real-2\n", "hello from real-3\n"}));

  // From node real-2's namespace to the pod on real-3: over the bridge, through real-3's cni0.
  std::string across;
  EXPECT_EQ(RunShell(Script() + " exec " + ShellQuote(plane_->dir) +
                         " real-2 curl -sS --noproxy '*' --max-time 3 http://" + pod_ips["real-3"] +
                         ":8080/",
                     &across),
            0);
  EXPECT_EQ(across, "hello from real-3\n");

  ASSERT_EQ(Down("real-2"), 0);
  ASSERT_EQ(Down("real-3"), 0);
  const HostState after = ReadHost();
  EXPECT_TRUE(after.node_procs.empty()) << Diff({}, after.node_procs);
  EXPECT_EQ(Diff({}, after.netns, {"gdn-"}), "");
  EXPECT_EQ(Diff({}, after.routes, {"198.19."}), "");
  EXPECT_TRUE(after.cgroups.empty()) << Diff({}, after.cgroups);
}

// A NetworkPolicy that bites: with kube-router enforcing policies on the node, gameday's
// network-partition of one of two demo pods stops real traffic to it (probed from this machine by
// pod IP) while the other keeps answering, and the revert lets it through again.
TEST_F(K8sRealNodeTest, NetworkPartitionStopsRealTrafficAndTheRevertRestoresIt) {
  EnforceNetworkPolicies();
  if (IsSkipped() || HasFatalFailure()) return;
  const std::string archive = DemoImage();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(Up(archive), 0) << NodeLog("kubelet.log") << NodeLog("node.log");
  const std::string ns = "partition";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        KubeRequest req;
        req.ref = ResourceRef::Core("serviceaccounts", ns, "default");
        return admin_->Call(req).ok();
      },
      seconds(30)));
  for (const std::string name : {"api-a", "api-b"}) {
    ASSERT_TRUE(
        gameday::testing::Create(
            *admin_, ResourceRef::Core("pods", ns),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                R"(","labels":{"app":"api"}},"spec":{"nodeName":")" + kNode +
                R"(","automountServiceAccountToken":false,"terminationGracePeriodSeconds":1,
                "containers":[{"name":"demo","image":")" +
                kImage +
                R"(","imagePullPolicy":"Never","args":["--port","8080","--bind","0.0.0.0","--name",")" +
                name +
                R"("],"readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":1}}]}})")
            .ok());
  }
  std::map<std::string, std::string> ips;  // pod name -> IP
  ASSERT_TRUE(WaitUntil(
      [&] {
        ips.clear();
        ListOptions opts;
        opts.label_selector = "app=api";
        (void)admin_->List(ResourceRef::Core("pods", ns), opts, [&](const rapidjson::Value& p) {
          const std::string ip = JsonPathString(p, {"status", "podIP"});
          if (!ip.empty()) ips[JsonPathString(p, {"metadata", "name"})] = ip;
          return Status::Ok();
        });
        return ips.size() == 2 && !Curl("http://" + ips["api-a"] + ":8080/").empty() &&
               !Curl("http://" + ips["api-b"] + ":8080/").empty();
      },
      seconds(60), std::chrono::milliseconds(250)))
      << "the demo pods never answered; kubelet:\n"
      << NodeLog("kubelet.log");

  // Partition api-a (both directions) for 8 s.
  const std::string plan = tmp_ + "/partition.yaml";
  std::ofstream(plan) << "name: partition-real-pod\ntarget: {kind: kubernetes, kubeconfig: "
                      << plane_->kubeconfig << "}\n"
                      << "warmup: 300ms\nstable_for: 200ms\ncooldown: 300ms\n"
                      << "verify:\n  - name: api\n    kind: tcp\n    interval: 200ms\n"
                      << "    spec: {host: 127.0.0.1, port: " << plane_->api_port
                      << ", timeout: 1s}\n"
                      << "method:\n  - inject: network-partition\n    name: cut\n"
                      << "    select: {mode: all}\n    duration: 8s\n"
                      << "    spec: {namespace: " << ns
                      << ", label_selector: 'app=api', field_selector: 'metadata.name=api-a', "
                         "direction: both}\n";
  // Probe both pods from this machine every 200 ms while gameday runs.
  struct Probe {
    double t;
    bool a, b, policy;
  };
  std::vector<Probe> probes;
  std::atomic<bool> stop{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread prober([&] {
    while (!stop && Since(t0) < 120) {
      Probe p;
      p.t = Since(t0);
      p.policy = false;
      ListOptions opts;
      opts.label_selector = "app.kubernetes.io/managed-by=gameday";
      (void)admin_->List(ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", ns), opts,
                         [&](const rapidjson::Value&) {
                           p.policy = true;
                           return Status::Ok();
                         });
      p.a = !Curl("http://" + ips["api-a"] + ":8080/").empty();
      p.b = !Curl("http://" + ips["api-b"] + ":8080/").empty();
      probes.push_back(p);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::string out;
  const int rc = RunShell(ShellQuote(std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday") + " run " +
                              ShellQuote(plan) + " --no-history --journal-dir " +
                              ShellQuote(tmp_ + "/journal") + " --report-dir " +
                              ShellQuote(tmp_ + "/report") + " 2>&1",
                          &out);
  // Traffic must come back after the revert: a few more seconds of probes.
  std::this_thread::sleep_for(seconds(4));
  stop = true;
  prober.join();
  EXPECT_EQ(rc, 0) << out;
  size_t cut = 0, a_answered_in_cut = 0, b_failed = 0;
  std::optional<double> policy_gone, a_back;
  for (const Probe& p : probes) {
    if (!p.b) ++b_failed;
    if (p.policy) {
      ++cut;
      if (p.a) ++a_answered_in_cut;
    } else if (cut > 0) {
      if (!policy_gone) policy_gone = p.t;
      if (!a_back && p.a) a_back = p.t;
    }
  }
  EXPECT_GE(cut, 4u) << "the partition's policy was seen in too few probes";
  // kube-router syncs a new policy within a moment: a probe or two may still pass.
  EXPECT_LE(a_answered_in_cut, 2u) << "traffic to the partitioned pod went on";
  EXPECT_EQ(b_failed, 0u) << "the other pod stopped answering";
  ASSERT_TRUE(policy_gone.has_value()) << out;
  ASSERT_TRUE(a_back.has_value()) << "traffic never came back after the revert";
  EXPECT_LT(*a_back - *policy_gone, 3.0);
  std::fprintf(stderr,
               "[real-node] partition: %zu probes with the policy in (%zu answered), traffic back "
               "%.1f s after the policy went\n",
               cut, a_answered_in_cut, *a_back - *policy_gone);
}

}  // namespace
}  // namespace gameday

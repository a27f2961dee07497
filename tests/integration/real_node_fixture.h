#pragma once

// The fixture of the tests with real Kubernetes nodes (tests/harness/real-node.sh) on the test
// plane: skips without root or the node tools (fails in CI), builds or finds the node binaries,
// starts and always stops the nodes a test asks for, and reads what the tests look at (a demo
// pod's state, a container's main process).

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"

namespace gameday::testing {

// The plane of this binary makes room for real nodes (a bridge in 198.18.0.0/15 and an API relay
// on it). Set before main(), so before the plane environment starts the plane; only as root (the
// bridge needs it; without root the test skips and the plane stays a KWOK-only one).
inline const bool kNodeNet = [] {
  return ::geteuid() != 0 || ::setenv("GAMEDAY_PLANE_NODE_NET", "1", 1) == 0;
}();

inline constexpr const char* kNode = "real-1";
inline constexpr const char* kImage = "gameday.local/gameday-demo:1";

inline double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class K8sRealNodeTest : public K8sPlaneTest {
 protected:
  K8sRealNodeTest() : K8sPlaneTest("realnode") {}

  void SetUp() override {
    ASSERT_TRUE(kNodeNet);
    K8sPlaneTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // Like the SSH test bed: without root there are no namespaces to make, so the test skips.
    if (::geteuid() != 0) GTEST_SKIP() << "real nodes need root (namespaces, cgroups, iptables)";
    std::string missing;
    for (const char* tool : {"runc", "ip", "iptables-save", "nsenter", "gcc", "python3"}) {
      if (RunShell(std::string("command -v ") + tool + " >/dev/null") != 0) {
        missing += " " + std::string(tool);
      }
    }
    if (!std::filesystem::exists("/usr/lib/cni/bridge")) missing += " containernetworking-plugins";
    if (!missing.empty()) {
      const std::string why = "real nodes need:" + missing + " (scripts/setup.sh)";
      if (std::getenv("CI") != nullptr) FAIL() << why;
      GTEST_SKIP() << why;
    }
    // The node binaries share the plane's cache folder (their own stamp).
    std::string bin;
    const int rc =
        RunShell(ShellQuote(plane_->harness + "/build-k8s.sh") + " --with-nodes | tail -n 1", &bin);
    bin_ = Trim(bin);
    if (rc != 0 || !std::filesystem::exists(bin_ + "/kubelet")) {
      const std::string why = "build-k8s.sh --with-nodes failed (see its output above)";
      if (std::getenv("CI") != nullptr) FAIL() << why;
      GTEST_SKIP() << why;
    }
    admin_ = AdminClient();
    ASSERT_NE(admin_, nullptr);
  }

  void TearDown() override {
    if (plane_ != nullptr) {
      for (const auto& node : started_) Down(node);
    }
    K8sPlaneTest::TearDown();
  }

  std::string Script() const { return ShellQuote(plane_->harness + "/real-node.sh"); }

  int Up(const std::string& images, const std::string& node = kNode, int index = 1) {
    started_.insert(node);
    return RunShell(
        "GAMEDAY_K8S_BIN=" + ShellQuote(bin_) + " GAMEDAY_NODE_IMAGES=" + ShellQuote(images) +
        " GAMEDAY_KUBE_ROUTER=" + ShellQuote(kube_router_) + " " + Script() + " up " +
        ShellQuote(plane_->dir) + " " + node + " " + std::to_string(index) + " </dev/null");
  }
  int Down(const std::string& node = kNode) {
    return RunShell(Script() + " down " + ShellQuote(plane_->dir) + " " + node);
  }

  std::string NodeLog(const std::string& name, const std::string& node = kNode) const {
    std::string out;
    RunShell("tail -n 25 " + ShellQuote(plane_->dir + "/nodes/" + node + "/logs/" + name), &out);
    return out;
  }

  // The demo image archive in the scratch folder.
  std::string DemoImage() {
    std::string archive = tmp_ + "/gameday-demo.tar";
    const int rc = RunShell(
        "python3 " + ShellQuote(std::string(GAMEDAY_SOURCE_DIR) + "/packaging/oci-image.py") +
        " binary --name " + kImage + " --out " + ShellQuote(archive) + " --binary " +
        ShellQuote(std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday-demo") + " >/dev/null");
    EXPECT_EQ(rc, 0) << "oci-image.py failed";
    return archive;
  }

  // A URL's answer from this machine ("" on failure).
  static std::string Curl(const std::string& url) {
    std::string answer;
    if (RunShell("curl -sS --noproxy '*' --max-time 2 " + ShellQuote(url), &answer) != 0) return "";
    return answer;
  }

  // The first pod of app=demo: its name, Ready condition, restartCount, how its container last
  // ended and its container id.
  struct Pod {
    std::string name;
    bool ready = false;
    int restarts = -1;
    int last_exit_code = -1;   // lastState.terminated.exitCode: 137 after a SIGKILL
    std::string container_id;  // without "containerd://"
    std::string ip;
  };
  Pod DemoPod() {
    Pod pod;
    ListOptions opts;
    opts.label_selector = "app=demo";
    auto rv = admin_->List(ResourceRef::Core("pods", ns_), opts, [&](const rapidjson::Value& p) {
      if (!pod.name.empty()) return Status::Ok();
      pod.name = JsonPathString(p, {"metadata", "name"});
      pod.ip = JsonPathString(p, {"status", "podIP"});
      const rapidjson::Value* conds = JsonPath(p, {"status", "conditions"});
      if (conds != nullptr && conds->IsArray()) {
        for (const auto& c : conds->GetArray()) {
          if (JsonPathString(c, {"type"}) == "Ready") {
            pod.ready = JsonPathString(c, {"status"}) == "True";
          }
        }
      }
      const rapidjson::Value* cs = JsonPath(p, {"status", "containerStatuses"});
      if (cs != nullptr && cs->IsArray() && cs->Size() > 0) {
        const rapidjson::Value& c = (*cs)[0];
        const rapidjson::Value* rc = JsonPath(c, {"restartCount"});
        pod.restarts = rc != nullptr && rc->IsInt() ? rc->GetInt() : -1;
        const rapidjson::Value* ec = JsonPath(c, {"lastState", "terminated", "exitCode"});
        pod.last_exit_code = ec != nullptr && ec->IsInt() ? ec->GetInt() : -1;
        const std::string id = JsonPathString(c, {"containerID"});
        const std::string prefix = "containerd://";
        if (id.rfind(prefix, 0) == 0) pod.container_id = id.substr(prefix.size());
      }
      return Status::Ok();
    });
    EXPECT_TRUE(rv.ok()) << rv.status().ToString();
    return pod;
  }

  // The host pid of a container's main process, from containerd's task list, checked against
  // /proc (its cgroup is the node's, its command line the demo's). 0 when not found.
  pid_t MainPid(const std::string& container_id) {
    if (container_id.empty()) return 0;
    std::string out;
    RunShell(Script() + " exec " + ShellQuote(plane_->dir) + " " + kNode + " " +
                 ShellQuote(bin_ + "/ctr") + " -n k8s.io tasks ls 2>/dev/null",
             &out);
    std::istringstream in(out);
    std::string id, pid_text, status;
    while (in >> id >> pid_text >> status) {
      if (id != container_id) continue;
      char* end = nullptr;
      const long pid = std::strtol(pid_text.c_str(), &end, 10);
      if (end == nullptr || *end != '\0' || pid <= 1) return 0;
      const std::string pdir = "/proc/" + std::to_string(pid);
      if (ReadFileOrEmpty(pdir + "/cgroup").find("gameday-node-") == std::string::npos) return 0;
      if (ReadFileOrEmpty(pdir + "/cmdline").find("gameday-demo") == std::string::npos) return 0;
      return static_cast<pid_t>(pid);
    }
    return 0;
  }

  // The nodes a test starts enforce NetworkPolicies with kube-router (build-kube-router.sh);
  // fails the test (in CI) or skips it when it cannot be built.
  void EnforceNetworkPolicies() {
    std::string bin;
    const int rc =
        RunShell(ShellQuote(plane_->harness + "/build-kube-router.sh") + " | tail -n 1", &bin);
    kube_router_ = Trim(bin) + "/kube-router";
    if (rc != 0 || !std::filesystem::exists(kube_router_)) {
      kube_router_.clear();
      const std::string why = "build-kube-router.sh failed (see its output above)";
      if (std::getenv("CI") != nullptr) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }

  std::shared_ptr<KubeClient> admin_;
  std::string kube_router_;  // empty: the nodes enforce no NetworkPolicy
  std::set<std::string> started_;
  std::string bin_;
  const std::string ns_ = "realnode";
};

}  // namespace gameday::testing

// kill -9 campaign on the Kubernetes test control plane (network-partition with a duration,
// node-cordon, node-drain): many trials kill `gameday run` at a random moment between its start
// and the end of the fault's revert, then `gameday recover` must leave no gameday NetworkPolicy,
// no partition mark on a pod and no cordoned node (read through the API with the admin client),
// the journal empty, and exit 0. pod-kill is left out: it is one-shot, nothing to revert. See
// tests/integration/kill9_campaign.h.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_engine_test.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/kill9_campaign.h"

namespace gameday {
namespace {

using std::chrono::seconds;
using testing::Kill9Campaign;
using testing::Kill9Kind;
using testing::Kill9Timing;

constexpr char kNamespace[] = "kill9";
const std::vector<std::string> kNodes = {"kwok-node-1", "kwok-node-2", "kwok-node-3"};

class Kill9K8sTest : public testing::K8sEngineTest {
 protected:
  Kill9K8sTest() : K8sEngineTest("kill9") {}

  void SetUp() override {
    K8sEngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(testing::CreateNamespace(*admin_, kNamespace).ok());
    ASSERT_TRUE(testing::CreateDeployment(*admin_, kNamespace, "api", 4).ok());
    ASSERT_TRUE(testing::DeploymentReady(*admin_, kNamespace, "api", 4, seconds(60)));
  }

  // Names of `collection`'s objects matching `selector`.
  std::vector<std::string> Names(const ResourceRef& collection, const std::string& selector) {
    std::vector<std::string> out;
    ListOptions opts;
    opts.label_selector = selector;
    auto rv = admin_->List(collection, opts, [&](const rapidjson::Value& o) {
      out.push_back(JsonPathString(o, {"metadata", "name"}));
      return Status::Ok();
    });
    if (!rv.ok()) out.push_back("(list failed: " + rv.status().ToString() + ")");
    return out;
  }

  static ResourceRef Policies() {
    return ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", kNamespace);
  }

  // gameday's NetworkPolicies and partition marks in the namespace, cordoned nodes: "" = none.
  std::string Faults() {
    std::string out;
    for (const auto& n : Names(Policies(), "app.kubernetes.io/managed-by=gameday")) {
      out += "policy " + n + "; ";
    }
    for (const auto& n : Names(ResourceRef::Core("pods", kNamespace), "gameday.io/partition")) {
      out += "marked pod " + n + "; ";
    }
    for (const std::string& node : kNodes) {
      KubeRequest req;
      req.ref = ResourceRef::Core("nodes", "", node);
      auto n = admin_->CallJson(req);
      if (!n.ok()) {
        out += "node " + node + ": " + n.status().ToString() + "; ";
        continue;
      }
      const rapidjson::Value* u = JsonPath(*n, {"spec", "unschedulable"});
      if (u && u->IsBool() && u->GetBool()) out += "node " + node + " cordoned; ";
    }
    return out;
  }

  Status Patch(const ResourceRef& ref, const std::string& body) {
    KubeRequest req;
    req.verb = "patch";
    req.ref = ref;
    req.content_type = "application/merge-patch+json";
    req.body = body;
    return admin_->Call(req).status();
  }

  void Heal() {
    for (const auto& n : Names(Policies(), "app.kubernetes.io/managed-by=gameday")) {
      KubeRequest req;
      req.verb = "delete";
      req.ref = ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", kNamespace, n);
      admin_->Call(req);
    }
    for (const auto& n : Names(ResourceRef::Core("pods", kNamespace), "gameday.io/partition")) {
      Patch(ResourceRef::Core("pods", kNamespace, n),
            R"({"metadata":{"labels":{"gameday.io/partition":null}}})");
    }
    for (const std::string& node : kNodes) {
      Patch(ResourceRef::Core("nodes", "", node), R"({"spec":{"unschedulable":false}})");
    }
  }

  std::string Plan(const std::string& name, const std::string& step) const {
    return "name: kill9-" + name +
           "\ntarget: {kind: kubernetes, kubeconfig: " + plane_->kubeconfig + "}\n" +
           R"(warmup: 200ms
stable_for: 100ms
cooldown: 200ms
verify:
  - name: apiserver
    kind: tcp
    interval: 100ms
    spec: {host: 127.0.0.1, port: )" +
           std::to_string(plane_->api_port) + R"(, timeout: 500ms}
method:
)" + step;
  }

  void Campaign(const std::string& name, const std::string& step) {
    Kill9Kind kind;
    kind.name = name;
    kind.duration = seconds(1);
    kind.plan = Plan(name, step);
    kind.fault = [&] { return Faults(); };
    kind.heal = [&] { Heal(); };
    Kill9Campaign campaign(tmp_);
    Kill9Timing cal;
    ASSERT_TRUE(campaign.Calibrate(kind, &cal));
    const auto summary = campaign.Run(kind, cal, Kill9Campaign::Trials(10));
    EXPECT_EQ(summary.leaks, 0) << name;
  }
};

// One test for the three kinds: CTest runs each test in its own process, and the plane comes up
// once per process.
TEST_F(Kill9K8sTest, NetworkPartitionCordonAndDrain) {
  Campaign("network-partition", R"(  - inject: network-partition
    name: partition
    select: {mode: fixed-percent, value: 50}
    duration: 1s
    spec:
      namespace: kill9
      label_selector: app=api
      direction: both
)");
  Campaign("node-cordon", R"(  - inject: node-cordon
    name: cordon
    select: {mode: all}
    duration: 1s
    spec:
      nodes: [kwok-node-2]
)");
  Campaign("node-drain", R"(  - inject: node-drain
    name: drain
    select: {mode: all}
    duration: 1s
    spec:
      nodes: [kwok-node-1]
      eviction_timeout: 20s
)");
}

}  // namespace
}  // namespace gameday

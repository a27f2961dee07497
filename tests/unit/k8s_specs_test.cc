// Plan-level checks of the Kubernetes injector and verifier kinds: their example plans parse with
// the real registries, and bad specs are rejected with the field named. No cluster needed.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "experiments/plan.h"
#include "injectors/registry.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

class K8sSpecsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBuiltinInjectors(registries_.injectors);
    RegisterBuiltinVerifiers(registries_.verifiers);
  }

  std::string Errors(const std::string& yaml) {
    Diagnostics diags;
    ParsePlan(yaml, "plan.yaml", registries_, &diags);
    return diags.ToString();
  }

  // A one-experiment plan on a kubernetes target with `method` and `verify` inserted.
  static std::string PlanText(const std::string& method, const std::string& verify = "",
                              const std::string& target = "{kind: kubernetes}") {
    return "name: p\ntarget: " + target + "\nverify:\n" +
           (verify.empty() ? "  - {name: api, kind: apiserver}\n" : verify) + "method:\n" + method +
           "objectives:\n  - {verifier: api, expect_no_impact: true}\n";
  }

  Registries registries_;
};

TEST_F(K8sSpecsTest, ExamplePlansParse) {
  for (const char* dir :
       {"injectors/pod_kill", "injectors/node_drain", "injectors/network_partition",
        "verifiers/kubernetes", "verifiers/apiserver"}) {
    const std::string path = std::string(GAMEDAY_SOURCE_DIR) + "/" + dir + "/example.yaml";
    Diagnostics diags;
    Plan plan = LoadPlan(path, registries_, &diags);
    EXPECT_TRUE(diags.empty()) << path << ":\n" << diags.ToString();
    EXPECT_EQ(plan.experiments.size(), 1u) << path;
  }
}

TEST_F(K8sSpecsTest, KindsAreRegistered) {
  for (const char* kind : {"pod-kill", "node-drain", "node-cordon", "network-partition"}) {
    EXPECT_NE(registries_.injectors.Find(kind), nullptr) << kind;
  }
  for (const char* kind : {"kubernetes", "apiserver"}) {
    EXPECT_NE(registries_.verifiers.Find(kind), nullptr) << kind;
  }
}

TEST_F(K8sSpecsTest, PodKillNeedsAKubernetesTargetAndAnExplicitNamespace) {
  std::string e = Errors(PlanText(
      "  - inject: pod-kill\n    spec: {namespace: shop}\n",
      "  - {name: api, kind: http, spec: {url: 'http://127.0.0.1:1/'}}\n", "{kind: local}"));
  EXPECT_NE(e.find("the pod-kill kind needs a kubernetes target (target.kind is 'local')"),
            std::string::npos)
      << e;
  e = Errors(PlanText("  - inject: pod-kill\n    spec: {label_selector: app=web}\n"));
  EXPECT_NE(e.find("missing namespace"), std::string::npos) << e;
  e = Errors(PlanText("  - inject: pod-kill\n    spec: {namespace: Shop_1, grace_perod: 1s}\n"));
  EXPECT_NE(e.find("'Shop_1' is not a valid namespace name"), std::string::npos) << e;
  EXPECT_NE(e.find("grace_perod"), std::string::npos) << e;
  EXPECT_NE(e.find("grace_period"), std::string::npos) << "suggests the right field: " << e;
}

TEST_F(K8sSpecsTest, ProtectedNamespacesAreRefusedUnlessAllowed) {
  const std::string method = "  - inject: pod-kill\n    spec: {namespaces: [shop, monitoring]}\n";
  std::string e =
      Errors(PlanText(method, "", "{kind: kubernetes, protected_namespaces: [monitoring]}"));
  EXPECT_NE(e.find("namespace monitoring is protected"), std::string::npos) << e;
  e = Errors(PlanText(
      method, "", "{kind: kubernetes, protected_namespaces: [monitoring], allow_protected: true}"));
  EXPECT_TRUE(e.empty()) << e;
  e = Errors(PlanText("  - inject: network-partition\n    spec: {namespace: kube-system}\n"));
  EXPECT_NE(e.find("namespace kube-system is protected"), std::string::npos) << e;
}

TEST_F(K8sSpecsTest, NodeKindsAndPartitionValidateTheirFields) {
  std::string e = Errors(PlanText("  - inject: node-drain\n    spec: {}\n"));
  EXPECT_NE(e.find("set nodes (names) or label_selector"), std::string::npos) << e;
  e = Errors(PlanText("  - inject: node-cordon\n    spec: {nodes: [a], eviction_timeout: 5s}\n"));
  EXPECT_NE(e.find("eviction_timeout"), std::string::npos) << "node-cordon has no evictions: " << e;
  e = Errors(PlanText("  - inject: node-drain\n    spec: {nodes: [a], eviction_timeout: 5s}\n"));
  EXPECT_TRUE(e.empty()) << e;
  e = Errors(
      PlanText("  - inject: network-partition\n    spec: {namespace: shop, direction: in}\n"));
  EXPECT_NE(e.find("direction"), std::string::npos) << e;
  e = Errors(PlanText("  - inject: network-partition\n    spec: {namespaces: [a, b]}\n"));
  EXPECT_NE(e.find("one namespace"), std::string::npos) << e;
}

TEST_F(K8sSpecsTest, VerifiersValidateTheirFields) {
  auto verify = [](const std::string& spec) {
    return "  - {name: api, kind: kubernetes, spec: " + spec + "}\n";
  };
  const std::string method = "  - {inject: node-cordon, spec: {nodes: [a]}}\n";
  std::string e = Errors(PlanText(method, verify("{}")));
  EXPECT_NE(e.find("set exactly one of workload, pods or node"), std::string::npos) << e;
  e = Errors(PlanText(method, verify("{workload: {kind: Job, name: x}}")));
  EXPECT_NE(e.find("Deployment"), std::string::npos) << e;
  e = Errors(PlanText(method, verify("{node: {name: a}, pods: {namespace: x}}")));
  EXPECT_NE(e.find("set exactly one"), std::string::npos) << e;
  e = Errors(
      PlanText(method, verify("{pods: {namespace: x, label_selector: app=y, min_ready: 2}}")));
  EXPECT_TRUE(e.empty()) << e;
  e = Errors(PlanText(method, "  - {name: api, kind: apiserver, spec: {endpoint: metrics}}\n"));
  EXPECT_NE(e.find("readyz"), std::string::npos) << e;
}

}  // namespace
}  // namespace gameday

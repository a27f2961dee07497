// node-drain and node-cordon on a real control plane: a drain goes through the Eviction API, so a
// PodDisruptionBudget holds (and blocks a drain it does not allow); the revert uncordons; both
// leave Events on the node.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "clients/kubernetes/client.h"
#include "experiments/engine.h"
#include "experiments/plan.h"
#include "injectors/registry.h"
#include "tests/integration/k8s_engine_test.h"
#include "tests/integration/k8s_plane.h"
#include "verifiers/probe/probe_loop.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

using gameday::testing::K8sPlane;
using std::chrono::seconds;

class K8sNodeDrainTest : public gameday::testing::K8sEngineTest {
 protected:
  K8sNodeDrainTest() : K8sEngineTest("drain") {}

  RunResult Run(const std::string& yaml) { return RunPlan(Parse(yaml), Options("k8s-drain")); }

  // Creates a PDB and waits until the disruption controller has computed its status.
  void CreatePdb(const std::string& ns, const std::string& app, int min_available,
                 int expect_allowed) {
    ASSERT_TRUE(
        gameday::testing::Create(
            *admin_, ResourceRef::Group("policy", "v1", "poddisruptionbudgets", ns),
            R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":")" + app +
                R"("},"spec":{"minAvailable":)" + std::to_string(min_available) +
                R"(,"selector":{"matchLabels":{"app":")" + app + R"("}}}})")
            .ok());
    ASSERT_TRUE(gameday::testing::WaitUntil(
        [&] {
          KubeRequest req;
          req.ref = ResourceRef::Group("policy", "v1", "poddisruptionbudgets", ns, app);
          auto pdb = admin_->CallJson(req);
          if (!pdb.ok()) return false;
          const rapidjson::Value* allowed = JsonPath(*pdb, {"status", "disruptionsAllowed"});
          const rapidjson::Value* healthy = JsonPath(*pdb, {"status", "currentHealthy"});
          return allowed && allowed->IsInt() && allowed->GetInt() == expect_allowed && healthy &&
                 healthy->IsInt() && healthy->GetInt() > 0;
        },
        std::chrono::seconds(30)));
  }

  bool Unschedulable(const std::string& node) {
    KubeRequest req;
    req.ref = ResourceRef::Core("nodes", "", node);
    auto n = admin_->CallJson(req);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok()) return false;
    const rapidjson::Value* u = JsonPath(*n, {"spec", "unschedulable"});
    return u && u->IsBool() && u->GetBool();
  }

  // Reasons of the gameday Events about `node`.
  std::multiset<std::string> NodeEvents(const std::string& node) {
    std::multiset<std::string> reasons;
    ListOptions opts;
    opts.field_selector = "involvedObject.kind=Node,involvedObject.name=" + node;
    EXPECT_TRUE(admin_
                    ->List(ResourceRef::Core("events", "default"), opts,
                           [&](const rapidjson::Value& ev) {
                             if (JsonPathString(ev, {"source", "component"}) == "gameday") {
                               reasons.insert(JsonString(ev, "reason"));
                             }
                             return Status::Ok();
                           })
                    .ok());
    return reasons;
  }

  std::string PlanYaml(const std::string& ns, const std::string& app, int min_ready,
                       const std::string& node, const std::string& eviction_timeout) const {
    return R"(
name: drain-one-node
target: {kind: kubernetes, kubeconfig: )" +
           plane_->kubeconfig + R"(}
warmup: 1s
stable_for: 1s
cooldown: 1s
verify:
  - name: ready-pods
    kind: kubernetes
    interval: 50ms
    spec:
      pods: {namespace: )" +
           ns + ", label_selector: app=" + app + ", min_ready: " + std::to_string(min_ready) + R"(}
method:
  - inject: node-drain
    name: drain
    select: {mode: all}
    duration: 2s
    spec:
      nodes: [)" +
           node + R"(]
      eviction_timeout: )" +
           eviction_timeout + R"(
objectives:
  - verifier: ready-pods
    expect_no_impact: true
)";
  }
};

TEST_F(K8sNodeDrainTest, DrainRespectsAPodDisruptionBudgetAndRevertUncordons) {
  const std::string ns = "drain";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 6).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 6, seconds(60)));
  CreatePdb(ns, "web", 5, 1);
  // Drain the node holding the most pods: 6 pods on 3 nodes put at least two on one of them,
  // wherever the scheduler placed them, so the budget must serialise their eviction.
  std::map<std::string, size_t> per_node;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=web")) {
    if (!p.node.empty()) ++per_node[p.node];
  }
  std::string node;
  size_t on_node = 0;
  for (const auto& [name, count] : per_node) {
    if (count > on_node) {
      node = name;
      on_node = count;
    }
  }
  ASSERT_GE(on_node, 2u) << "the test needs two pods on one node";

  const RunResult run = Run(PlanYaml(ns, "web", 5, node, "60s"));
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  // "No impact" on a verifier that requires 5 of 6 ready: never more than one pod was down.
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;
  ASSERT_EQ(e.faults.size(), 1u);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted);
  EXPECT_TRUE(e.faults[0].t_revert.has_value());

  // Drained: no pod of the Deployment is left on the node, all 6 run elsewhere.
  const auto pods = gameday::testing::ListPods(*admin_, ns, "app=web");
  size_t running = 0;
  for (const auto& p : pods) {
    EXPECT_NE(p.node, node) << p.name;
    running += p.phase == "Running" && !p.terminating;
  }
  EXPECT_EQ(running, 6u);
  EXPECT_FALSE(Unschedulable(node)) << "the revert should have uncordoned " << node;
  const auto events = NodeEvents(node);
  EXPECT_GE(events.count("ChaosInjected"), 1u);
  EXPECT_EQ(events.count("ChaosReverted"), 1u);
}

TEST_F(K8sNodeDrainTest, DrainThatTheBudgetForbidsFailsAndIsReverted) {
  const std::string ns = "locked";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "db", 3).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "db", 3, seconds(60)));
  CreatePdb(ns, "db", 3, 0);
  // Drain a node that holds one of the pods, wherever the scheduler placed them.
  std::set<std::string> before;
  std::string node;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=db")) {
    before.insert(p.uid);
    if (node.empty()) node = p.node;
  }
  ASSERT_FALSE(node.empty()) << "no scheduled pod of app=db";

  const RunResult run = Run(PlanYaml(ns, "db", 3, node, "2s"));
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kError) << reasons;
  EXPECT_NE(reasons.find("PodDisruptionBudget"), std::string::npos) << reasons;
  ASSERT_EQ(e.faults.size(), 1u);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted) << "a failed drain is still uncordoned";
  EXPECT_FALSE(Unschedulable(node));
  std::set<std::string> after;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=db")) after.insert(p.uid);
  EXPECT_EQ(after, before) << "the budget allowed no eviction";
}

TEST_F(K8sNodeDrainTest, CordonAndRevertFromTheRecordAlone) {
  const std::string node = "kwok-node-3";
  const InjectorKind* kind = registries_.injectors.Find("node-cordon");
  ASSERT_NE(kind, nullptr);
  TargetSpec target;
  target.kind = "kubernetes";
  target.kubeconfig = plane_->kubeconfig;
  Diagnostics diags;
  YAML::Node spec_yaml = YAML::Load("{nodes: [" + node + "]}");
  SpecNode spec(spec_yaml, "spec", std::make_shared<const std::string>("plan.yaml"), &diags);
  auto injector = kind->Parse(spec, target);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  ASSERT_NE(injector, nullptr);
  InjectorEnv env;
  env.run_id = "cordon-test";
  env.target = target;
  auto targets = injector->Discover(env);
  ASSERT_TRUE(targets.ok()) << targets.status().ToString();
  ASSERT_EQ(targets->size(), 1u);
  auto record = injector->RevertRecord((*targets)[0], env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_NE(record->find("\"context\":\"gameday-test\""), std::string::npos) << *record;
  EXPECT_NE(record->find(plane_->kubeconfig), std::string::npos) << *record;

  ASSERT_TRUE(injector->Inject((*targets)[0], env).ok());
  EXPECT_TRUE(Unschedulable(node));
  // A later process: only the record, no target in the environment.
  InjectorEnv recover_env;
  recover_env.run_id = "cordon-test";
  ASSERT_TRUE(kind->Revert(*record, recover_env).ok());
  EXPECT_FALSE(Unschedulable(node));
  EXPECT_TRUE(kind->Revert(*record, recover_env).ok()) << "reverts are idempotent";

  // A node that was cordoned before the fault stays cordoned after its revert.
  ASSERT_TRUE(injector->Inject((*targets)[0], env).ok());
  auto record2 = injector->RevertRecord((*targets)[0], env);  // taken while cordoned
  ASSERT_TRUE(record2.ok());
  ASSERT_TRUE(kind->Revert(*record2, recover_env).ok());
  EXPECT_TRUE(Unschedulable(node));
  ASSERT_TRUE(kind->Revert(*record, recover_env).ok());
  EXPECT_FALSE(Unschedulable(node));
}

}  // namespace
}  // namespace gameday

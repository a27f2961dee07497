// node-drain and node-cordon on a real control plane: a drain goes through the Eviction API, so a
// PodDisruptionBudget holds (and blocks a drain it does not allow); a node with many pods is
// drained concurrently, never past the budget; the revert uncordons; both leave Events on the
// node.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

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

  void SetUnschedulable(const std::string& node, bool value) {
    KubeRequest req;
    req.verb = "patch";
    req.ref = ResourceRef::Core("nodes", "", node);
    req.content_type = "application/merge-patch+json";
    req.body = std::string(R"({"spec":{"unschedulable":)") + (value ? "true" : "null") + "}}";
    auto r = admin_->Call(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  std::vector<std::string> KwokNodes() {
    std::vector<std::string> nodes;
    ListOptions opts;
    opts.label_selector = "type=kwok";
    EXPECT_TRUE(admin_
                    ->List(ResourceRef::Core("nodes"), opts,
                           [&](const rapidjson::Value& n) {
                             nodes.push_back(JsonPathString(n, {"metadata", "name"}));
                             return Status::Ok();
                           })
                    .ok());
    return nodes;
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

TEST_F(K8sNodeDrainTest, ManyPodsAreEvictedConcurrentlyNeverPastTheBudget) {
  constexpr int kPods = 40, kAllowed = 5;
  const std::string ns = "fleet";
  const std::vector<std::string> nodes = KwokNodes();
  ASSERT_GE(nodes.size(), 2u);
  const std::string node = nodes[0];
  // All 40 pods on one node: the others are cordoned while the Deployment comes up, then
  // uncordoned, so the replacements of evicted pods have somewhere to go.
  for (size_t i = 1; i < nodes.size(); ++i) SetUnschedulable(nodes[i], true);
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", kPods).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", kPods, seconds(120)));
  for (size_t i = 1; i < nodes.size(); ++i) SetUnschedulable(nodes[i], false);
  std::set<std::string> before;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=web")) {
    ASSERT_EQ(p.node, node) << p.name;
    before.insert(p.uid);
  }
  ASSERT_EQ(before.size(), static_cast<size_t>(kPods));
  CreatePdb(ns, "web", kPods - kAllowed, kAllowed);

  // Watch the pods of the Deployment the whole time, independently of the plan's verifier: at
  // no moment may more than kAllowed of them be missing or not running.
  std::atomic<bool> done{false};
  std::atomic<int> worst{kPods};
  std::atomic<int> looks{0};
  std::thread watch([&] {
    auto client = gameday::testing::AdminClient();
    while (!done) {
      int running = 0;
      ListOptions opts;
      opts.label_selector = "app=web";
      auto rv = client->List(ResourceRef::Core("pods", ns), opts, [&](const rapidjson::Value& p) {
        running += JsonPathString(p, {"status", "phase"}) == "Running" &&
                   JsonPath(p, {"metadata", "deletionTimestamp"}) == nullptr;
        return Status::Ok();
      });
      if (rv.ok()) {
        worst = std::min(worst.load(), running);
        ++looks;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const RunResult run = Run(PlanYaml(ns, "web", kPods - kAllowed, node, "120s"));
  done = true;
  watch.join();

  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;
  ASSERT_EQ(e.faults.size(), 1u);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted);
  EXPECT_GE(worst.load(), kPods - kAllowed) << "more pods were disrupted than the budget allows";
  EXPECT_LT(worst.load(), kPods) << "no pod was seen missing: the watch proves nothing";
  EXPECT_GT(looks.load(), 10);

  // Every pod was evicted (none of the old ones is left), and all 40 run elsewhere.
  size_t running = 0;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=web")) {
    EXPECT_EQ(before.count(p.uid), 0u) << p.name << " was not evicted";
    EXPECT_NE(p.node, node) << p.name;
    running += p.phase == "Running" && !p.terminating;
  }
  EXPECT_EQ(running, static_cast<size_t>(kPods));
  EXPECT_FALSE(Unschedulable(node));
  // The drain's own account, in its Event on the node.
  bool counted = false;
  ListOptions opts;
  opts.field_selector = "involvedObject.kind=Node,involvedObject.name=" + node;
  ASSERT_TRUE(admin_
                  ->List(ResourceRef::Core("events", "default"), opts,
                         [&](const rapidjson::Value& ev) {
                           counted |= JsonString(ev, "message").find("40 pod(s) evicted") !=
                                      std::string::npos;
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_TRUE(counted) << "no Event says 40 pods were evicted";
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

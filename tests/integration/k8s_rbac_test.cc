// `gameday rbac` proven on a real API server: a plan run as a user with no rights of its own
// passes with exactly the rules `gameday rbac --without-optional` prints, and fails with the API
// server's refusal, naming what was refused, once any single one of those rules is removed.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"

namespace gameday {
namespace {

using gameday::testing::ShellQuote;
using std::chrono::seconds;

class K8sRbacTest : public gameday::testing::K8sPlaneTest {
 protected:
  K8sRbacTest() : K8sPlaneTest("rbac") {}

  void SetUp() override {
    K8sPlaneTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    admin_ = gameday::testing::AdminClient();
    ASSERT_NE(admin_, nullptr);
  }

  void Apply(const YAML::Node& doc) {
    const Status st = gameday::testing::ApplyRbac(*admin_, doc);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // Whether user nobody may `verb` `resource` (group/resource) in `ns`, as the authorizer says now.
  bool Allowed(const std::string& verb, const std::string& group, const std::string& resource,
               const std::string& ns) {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Group("authorization.k8s.io", "v1", "subjectaccessreviews");
    req.body =
        R"({"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"nobody","resourceAttributes":{"verb":)" +
        JsonQuote(verb) + R"(,"group":)" + JsonQuote(group) + R"(,"resource":)" +
        JsonQuote(resource) + R"(,"namespace":)" + JsonQuote(ns) + "}}}";
    auto r = admin_->CallJson(req);
    if (!r.ok()) return false;
    const rapidjson::Value* allowed = JsonPath(*r, {"status", "allowed"});
    return allowed != nullptr && allowed->IsBool() && allowed->GetBool();
  }

  // `gameday run PLAN` with its journal and reports in the scratch folder; its exit code.
  int RunPlan(const std::string& plan, std::string* output) {
    const std::string dir = tmp_ + "/run-" + std::to_string(++runs_);
    return Gameday("run " + ShellQuote(plan) + " --journal-dir " + ShellQuote(dir + "/journal") +
                       " --report-dir " + ShellQuote(dir + "/report"),
                   output);
  }

  // Runs gameday with `args`; returns its exit code and keeps its output.
  int Gameday(const std::string& args, std::string* output) {
    const std::string gameday = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";
    return gameday::testing::RunShell(ShellQuote(gameday) + " " + args + " 2>&1", output);
  }

  std::shared_ptr<KubeClient> admin_;
  int runs_ = 0;
};

TEST_F(K8sRbacTest, APlanPassesWithExactlyItsRulesAndFailsWithoutAnyOneOfThem) {
  const std::string ns = "rbac-proof";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 4).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 4, seconds(60)));

  // pod-kill with two kubernetes verifiers and a kubernetes watch in one namespace, and a
  // node-cordon: a namespaced Role and a ClusterRole.
  const std::string plan = tmp_ + "/plan.yaml";
  std::ofstream(plan) << R"(
name: rbac-proof
defaults:
  target: {kind: kubernetes, kubeconfig: )"
                      << plane_->kubeconfig_nobody << R"(}
  warmup: 1s
  stable_for: 1s
  cooldown: 1s
  recovery_timeout: 60s
experiments:
  - name: kill-one
    verify:
      - name: web-pods
        kind: kubernetes
        interval: 100ms
        spec: {pods: {namespace: )"
                      << ns << R"(, label_selector: app=web, min_ready: 4}}
      - name: web-replicas
        kind: kubernetes
        interval: 100ms
        spec: {workload: {kind: Deployment, namespace: )"
                      << ns << R"(, name: web}}
    watch:
      - kind: kubernetes
        spec: {namespaces: [)"
                      << ns << R"(]}
    method:
      - inject: pod-kill
        select: {mode: fixed, value: 1}
        spec: {namespace: )"
                      << ns << R"(, label_selector: app=web, grace_period: 0s}
    objectives:
      - verifier: web-replicas
        recover_within: 30s
  - name: cordon-one
    verify:
      - name: web-replicas
        kind: kubernetes
        interval: 100ms
        spec: {workload: {kind: Deployment, namespace: )"
                      << ns << R"(, name: web}}
    method:
      - inject: node-cordon
        duration: 1s
        spec: {nodes: [kwok-node-3]}
)";
  std::string rules_yaml;
  ASSERT_EQ(Gameday("rbac --user nobody --without-optional " + ShellQuote(plan), &rules_yaml), 0)
      << rules_yaml;
  std::vector<YAML::Node> docs = YAML::LoadAll(rules_yaml);
  ASSERT_EQ(docs.size(), 4u) << rules_yaml;  // ClusterRole, its binding, Role, its binding
  EXPECT_EQ(docs[0]["kind"].as<std::string>(), "ClusterRole");
  EXPECT_EQ(docs[2]["kind"].as<std::string>(), "Role");
  EXPECT_EQ(docs[2]["metadata"]["namespace"].as<std::string>(), ns);

  // Without any rule, the run is refused at once.
  std::string out;
  EXPECT_NE(RunPlan(plan, &out), 0);
  EXPECT_NE(out.find("forbidden: user nobody cannot"), std::string::npos) << out;

  for (const YAML::Node& doc : docs) Apply(doc);
  ASSERT_TRUE(
      gameday::testing::WaitUntil([&] { return Allowed("delete", "", "pods", ns); }, seconds(20)));
  ASSERT_EQ(RunPlan(plan, &out), 0) << out;

  // Each rule of each role left out in turn: the run fails and says what was refused.
  int removed = 0;
  for (const size_t role : {size_t{0}, size_t{2}}) {
    const std::string where = role == 0 ? "" : ns;
    for (size_t i = 0; i < docs[role]["rules"].size(); ++i) {
      const YAML::Node rule = docs[role]["rules"][i];
      const std::string group = rule["apiGroups"][0].as<std::string>();
      const std::string resource = rule["resources"][0].as<std::string>();
      const std::string first_verb = rule["verbs"][0].as<std::string>();
      SCOPED_TRACE("without " + resource + " " + YAML::Dump(rule["verbs"]) +
                   (where.empty() ? " (ClusterRole)" : " in " + where));
      YAML::Node less = YAML::Clone(docs[role]);
      less["rules"].remove(i);
      Apply(less);
      ASSERT_TRUE(gameday::testing::WaitUntil(
          [&] { return !Allowed(first_verb, group, resource, where); }, seconds(20)));
      ++removed;
      EXPECT_NE(RunPlan(plan, &out), 0) << out;
      bool named = false;
      for (const auto& verb : rule["verbs"]) {
        const std::string refusal =
            "forbidden: user nobody cannot " + verb.as<std::string>() + " " + resource;
        named = named || out.find(refusal) != std::string::npos;
      }
      EXPECT_TRUE(named) << out;
      Apply(docs[role]);
      ASSERT_TRUE(gameday::testing::WaitUntil(
          [&] { return Allowed(first_verb, group, resource, where); }, seconds(20)));
    }
  }
  EXPECT_GE(removed, 3);
  // The failed runs reverted what they had put in: the node is schedulable again.
  KubeRequest node;
  node.ref = ResourceRef::Core("nodes", "", "kwok-node-3");
  auto n = admin_->CallJson(node);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  const rapidjson::Value* unschedulable = JsonPath(*n, {"spec", "unschedulable"});
  EXPECT_TRUE(unschedulable == nullptr || (unschedulable->IsBool() && !unschedulable->GetBool()));
}

}  // namespace
}  // namespace gameday

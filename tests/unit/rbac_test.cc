// `gameday rbac`: the rights that plans need, merged into Roles and a ClusterRole.

#include "experiments/rbac.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "injectors/registry.h"
#include "verifiers/registry.h"
#include "watches/registry.h"

namespace gameday {
namespace {

using Verbs = std::set<std::string>;

// The verbs of the rule for group/resource in namespace `ns` ("" = the ClusterRole) with the
// given optionality; empty when there is no such rule.
Verbs VerbsOf(const RbacRules& rules, const std::string& ns, const std::string& group,
              const std::string& resource, bool optional = false) {
  const std::vector<RbacRule>* list = &rules.cluster;
  if (!ns.empty()) {
    auto it = rules.namespaced.find(ns);
    if (it == rules.namespaced.end()) return {};
    list = &it->second;
  }
  for (const RbacRule& r : *list) {
    if (r.group == group && r.resource == resource && r.optional == optional) return r.verbs;
  }
  return {};
}

ApiAccess Access(std::string group, std::string resource, std::string ns,
                 std::vector<std::string> verbs, bool optional = false) {
  ApiAccess a;
  a.group = std::move(group);
  a.resource = std::move(resource);
  a.ns = std::move(ns);
  a.verbs = std::move(verbs);
  a.why = "test";
  a.optional = optional;
  return a;
}

TEST(RbacTest, MergesVerbsPerResourceAndNamespace) {
  const RbacRules rules = MergeApiAccesses(
      {Access("", "pods", "shop", {"list", "delete"}), Access("", "pods", "shop", {"list"}),
       Access("apps", "deployments", "shop", {"get"}), Access("", "pods", "web", {"get"}),
       Access("", "nodes", "", {"get", "patch"})},
      true);
  EXPECT_EQ(VerbsOf(rules, "shop", "", "pods"), (Verbs{"delete", "list"}));
  EXPECT_EQ(VerbsOf(rules, "shop", "apps", "deployments"), (Verbs{"get"}));
  EXPECT_EQ(VerbsOf(rules, "web", "", "pods"), (Verbs{"get"}));
  EXPECT_EQ(VerbsOf(rules, "", "", "nodes"), (Verbs{"get", "patch"}));
  EXPECT_EQ(rules.namespaced.size(), 2u);
}

TEST(RbacTest, WhatTheClusterRoleGrantsEverywhereIsNotRepeatedInARole) {
  const RbacRules rules =
      MergeApiAccesses({Access("", "pods", ApiAccess::kEveryNamespace, {"list"}),
                        Access("", "pods", "shop", {"list", "delete"})},
                       true);
  EXPECT_EQ(VerbsOf(rules, "", "", "pods"), (Verbs{"list"}));
  EXPECT_EQ(VerbsOf(rules, "shop", "", "pods"), (Verbs{"delete"}));
}

TEST(RbacTest, OptionalRightsStayApartAndCanBeLeftOut) {
  const std::vector<ApiAccess> accesses = {
      Access("", "events", "shop", {"create", "patch"}, true),
      Access("", "events", "shop", {"create"}),  // needed by something else: not optional
      Access("", "pods", "shop", {"list"})};
  const RbacRules with = MergeApiAccesses(accesses, true);
  EXPECT_EQ(VerbsOf(with, "shop", "", "events"), (Verbs{"create"}));
  EXPECT_EQ(VerbsOf(with, "shop", "", "events", true), (Verbs{"patch"}));
  const RbacRules without = MergeApiAccesses(accesses, false);
  EXPECT_EQ(VerbsOf(without, "shop", "", "events"), (Verbs{"create"}));
  EXPECT_TRUE(VerbsOf(without, "shop", "", "events", true).empty());
}

TEST(RbacTest, YamlIsRolesAndBindingsForTheSubject) {
  ApiAccess url;
  url.non_resource_url = "/readyz";
  url.verbs = {"get"};
  url.why = "apiserver verifier: /readyz";
  url.optional = true;
  const RbacRules rules = MergeApiAccesses(
      {Access("", "pods", "shop", {"list"}), Access("", "nodes", "", {"get"}), url}, true);
  const std::string yaml = RbacYaml(rules, "gd", RbacSubject{"ServiceAccount", "runner", "ops"});
  const std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
  ASSERT_EQ(docs.size(), 4u) << yaml;
  EXPECT_EQ(docs[0]["kind"].as<std::string>(), "ClusterRole");
  EXPECT_EQ(docs[0]["rules"].size(), 2u);
  EXPECT_EQ(docs[1]["kind"].as<std::string>(), "ClusterRoleBinding");
  EXPECT_EQ(docs[1]["roleRef"]["name"].as<std::string>(), "gd");
  EXPECT_EQ(docs[1]["subjects"][0]["namespace"].as<std::string>(), "ops");
  EXPECT_EQ(docs[2]["kind"].as<std::string>(), "Role");
  EXPECT_EQ(docs[2]["metadata"]["namespace"].as<std::string>(), "shop");
  EXPECT_EQ(docs[2]["rules"][0]["resources"][0].as<std::string>(), "pods");
  EXPECT_EQ(docs[3]["kind"].as<std::string>(), "RoleBinding");
  EXPECT_EQ(docs[3]["subjects"][0]["name"].as<std::string>(), "runner");
  EXPECT_NE(yaml.find("# optional: apiserver verifier: /readyz"), std::string::npos) << yaml;

  const std::string user = RbacYaml(rules, "gd", RbacSubject{"User", "alice", ""});
  const std::vector<YAML::Node> user_docs = YAML::LoadAll(user);
  EXPECT_EQ(user_docs[1]["subjects"][0]["kind"].as<std::string>(), "User");
  EXPECT_EQ(user_docs[1]["subjects"][0]["apiGroup"].as<std::string>(), "rbac.authorization.k8s.io");
  EXPECT_FALSE(user_docs[1]["subjects"][0]["namespace"]);
}

// The bundled Kubernetes suite, kind by kind.
TEST(RbacTest, TheSandboxKubernetesSuiteNeedsWhatItsKindsCall) {
  Registries registries;
  RegisterBuiltinInjectors(registries.injectors);
  RegisterBuiltinVerifiers(registries.verifiers);
  RegisterBuiltinWatches(registries.watches);
  Diagnostics diags;
  PlanOptions options;
  options.check_inventory = false;
  const Plan plan =
      LoadPlan(std::string(GAMEDAY_SOURCE_DIR) + "/experiments/plans/sandbox-kubernetes.yaml",
               registries, &diags, options);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  const auto per_cluster = PlanApiAccesses(plan);
  ASSERT_EQ(per_cluster.size(), 1u);  // every Kubernetes experiment targets gameday-sandbox
  const RbacRules rules = MergeApiAccesses(per_cluster.begin()->second, true);
  // node-drain: the nodes, every namespace's pods and their evictions.
  EXPECT_EQ(VerbsOf(rules, "", "", "nodes"), (Verbs{"get", "list", "patch"}));
  EXPECT_EQ(VerbsOf(rules, "", "", "pods"), (Verbs{"list"}));
  EXPECT_EQ(VerbsOf(rules, "", "", "pods/eviction"), (Verbs{"create"}));
  EXPECT_EQ(VerbsOf(rules, "", "policy", "poddisruptionbudgets", true), (Verbs{"list"}));
  // pod-kill and the verifiers in demo: list is granted everywhere already.
  EXPECT_EQ(VerbsOf(rules, "demo", "", "pods"), (Verbs{"delete"}));
  EXPECT_EQ(VerbsOf(rules, "demo", "apps", "deployments"), (Verbs{"get"}));
  EXPECT_EQ(VerbsOf(rules, "demo", "", "events", true), (Verbs{"create", "patch"}));
  // Nothing is asked of a namespace the plan does not touch but default (the nodes' Events).
  for (const auto& [ns, list] : rules.namespaced) {
    EXPECT_TRUE(ns == "demo" || ns == "default") << ns;
  }
  const RbacRules required = MergeApiAccesses(per_cluster.begin()->second, false);
  EXPECT_EQ(required.namespaced.count("default"), 0u);
}

// A kind that calls the API declares it: every injector and watch of a Kubernetes experiment in
// the bundled plans and examples, and every verifier of the API's own kinds, has accesses.
TEST(RbacTest, EveryBundledKubernetesKindDeclaresItsAccesses) {
  namespace fs = std::filesystem;
  Registries registries;
  RegisterBuiltinInjectors(registries.injectors);
  RegisterBuiltinVerifiers(registries.verifiers);
  RegisterBuiltinWatches(registries.watches);
  PlanOptions options;
  options.check_inventory = false;
  const fs::path root = GAMEDAY_SOURCE_DIR;
  std::vector<fs::path> files;
  for (const char* folder : {"experiments/plans", "injectors", "verifiers", "watches"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string name = entry.path().filename().string();
      if (entry.path().extension() == ".yaml" &&
          (std::string(folder) == "experiments/plans" || name == "example.yaml")) {
        files.push_back(entry.path());
      }
    }
  }
  std::set<std::string> kinds_seen;
  for (const fs::path& file : files) {
    Diagnostics diags;
    const Plan plan = LoadPlan(file.string(), registries, &diags, options);
    if (!diags.empty()) continue;  // bundled_plans_test says why
    for (const ExperimentSpec& e : plan.experiments) {
      if (e.target.kind != "kubernetes") continue;
      for (const VerifierSpec& v : e.verifiers) {
        if (v.kind != "kubernetes" && v.kind != "apiserver") continue;
        EXPECT_FALSE(v.verifier->ApiAccesses().empty()) << file << ": " << v.path;
        kinds_seen.insert("verifier " + v.kind);
      }
      for (const WatchSpec& w : e.watches) {
        EXPECT_FALSE(w.watch->ApiAccesses().empty()) << file << ": " << w.path;
        kinds_seen.insert("watch " + w.kind);
      }
      std::vector<const Step*> steps;
      for (const Step& s : e.method) steps.push_back(&s);
      while (!steps.empty()) {
        const Step* s = steps.back();
        steps.pop_back();
        if (const auto* p = std::get_if<ParallelStep>(&s->action)) {
          for (const Step& inner : p->steps) steps.push_back(&inner);
        } else if (const auto* inject = std::get_if<InjectStep>(&s->action)) {
          EXPECT_FALSE(inject->injector->ApiAccesses().empty()) << file << ": " << s->path;
          kinds_seen.insert("injector " + inject->kind);
        }
      }
    }
  }
  for (const char* kind : {"injector pod-kill", "injector node-drain", "injector network-partition",
                           "injector node-failure", "injector container-kill",
                           "verifier kubernetes", "verifier apiserver", "watch kubernetes"}) {
    EXPECT_TRUE(kinds_seen.count(kind)) << kind << " is in no bundled Kubernetes plan or example";
  }
}

}  // namespace
}  // namespace gameday

#pragma once

// Helpers shared by the Kubernetes integration tests: the test plane fixture (with a scratch
// folder), creating namespaces and workloads on the test plane through the admin client, and
// reading them back. They need the Kubernetes client only; plan runs through the engine are in
// tests/integration/k8s_engine_test.h.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_plane.h"

namespace gameday::testing {

inline std::shared_ptr<KubeClient> AdminClient() {
  auto client = KubeClient::FromKubeconfig(K8sPlane::Get()->kubeconfig, "");
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? *client : nullptr;
}

inline Status Create(KubeClient& client, const ResourceRef& collection, const std::string& json) {
  KubeRequest req;
  req.verb = "create";
  req.ref = collection;
  req.body = json;
  return client.Call(req).status();
}

inline Status CreateNamespace(KubeClient& client, const std::string& ns) {
  Status st =
      Create(client, ResourceRef::Core("namespaces"),
             R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + R"("}})");
  if (st.code() == Status::Code::kFailedPrecondition) return Status::Ok();  // exists
  return st;
}

// A Deployment whose pods run on the KWOK nodes.
inline std::string DeploymentJson(const std::string& ns, const std::string& name, int replicas,
                                  const std::string& extra_labels = "") {
  const std::string labels = R"("app":")" + name + "\"" + extra_labels;
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":")" + name +
         R"("}},"template":{"metadata":{"labels":{)" + labels +
         R"(}},"spec":{"nodeSelector":{"type":"kwok"},"tolerations":[{"key":"kwok.x-k8s.io/node","operator":"Exists","effect":"NoSchedule"}],"terminationGracePeriodSeconds":0,"containers":[{"name":"app","image":"fake-image"}]}}}})";
}

inline Status CreateDeployment(KubeClient& client, const std::string& ns, const std::string& name,
                               int replicas) {
  return Create(client, ResourceRef::Group("apps", "v1", "deployments", ns),
                DeploymentJson(ns, name, replicas));
}

// Ready replicas of a Deployment (-1 on error).
inline int ReadyReplicas(KubeClient& client, const std::string& ns, const std::string& name) {
  KubeRequest req;
  req.ref = ResourceRef::Group("apps", "v1", "deployments", ns, name);
  auto doc = client.CallJson(req);
  if (!doc.ok()) return -1;
  const rapidjson::Value* v = JsonPath(*doc, {"status", "readyReplicas"});
  return v && v->IsInt() ? v->GetInt() : 0;
}

struct PodInfo {
  std::string name;
  std::string uid;
  std::string node;
  std::string phase;
  bool terminating = false;
};

inline std::vector<PodInfo> ListPods(KubeClient& client, const std::string& ns,
                                     const std::string& selector = "") {
  std::vector<PodInfo> pods;
  ListOptions opts;
  opts.label_selector = selector;
  auto rv = client.List(ResourceRef::Core("pods", ns), opts, [&](const rapidjson::Value& pod) {
    PodInfo p;
    p.name = JsonPathString(pod, {"metadata", "name"});
    p.uid = JsonPathString(pod, {"metadata", "uid"});
    p.node = JsonPathString(pod, {"spec", "nodeName"});
    p.phase = JsonPathString(pod, {"status", "phase"});
    p.terminating = JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr;
    pods.push_back(p);
    return Status::Ok();
  });
  EXPECT_TRUE(rv.ok()) << rv.status().ToString();
  return pods;
}

inline bool DeploymentReady(KubeClient& client, const std::string& ns, const std::string& name,
                            int replicas, std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return ReadyReplicas(client, ns, name) == replicas; }, timeout);
}

// Fixture of tests that need the test plane (skipped or failed as GAMEDAY_REQUIRE_K8S_PLANE says)
// and a scratch folder /tmp/gameday-<prefix>-XXXXXX, removed with its contents afterwards.
class K8sPlaneTest : public ::testing::Test {
 protected:
  explicit K8sPlaneTest(std::string tmp_prefix) : tmp_prefix_(std::move(tmp_prefix)) {}

  void SetUp() override {
    GAMEDAY_REQUIRE_K8S_PLANE();
    plane_ = K8sPlane::Get();
    std::string templ = "/tmp/gameday-" + tmp_prefix_ + "-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    tmp_ = templ;
  }
  void TearDown() override {
    if (!tmp_.empty()) std::filesystem::remove_all(tmp_);
  }

  const K8sPlane* plane_ = nullptr;
  std::string tmp_;

 private:
  std::string tmp_prefix_;
};

// A YAML node of a manifest as JSON (its scalars all as strings: fine for RBAC objects).
inline std::string YamlToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    std::string out = "{";
    for (const auto& kv : node) {
      out += (out.size() > 1 ? "," : "") + JsonQuote(kv.first.as<std::string>()) + ":" +
             YamlToJson(kv.second);
    }
    return out + "}";
  }
  if (node.IsSequence()) {
    std::string out = "[";
    for (const auto& item : node) out += (out.size() > 1 ? "," : "") + YamlToJson(item);
    return out + "]";
  }
  return JsonQuote(node.as<std::string>());
}

// Applies one document of `gameday rbac`'s output (a Role, ClusterRole or binding): created, or
// replaced when it exists.
inline Status ApplyRbac(KubeClient& client, const YAML::Node& doc) {
  const std::string kind = doc["kind"].as<std::string>();
  const std::string name = doc["metadata"]["name"].as<std::string>();
  const std::string ns =
      doc["metadata"]["namespace"] ? doc["metadata"]["namespace"].as<std::string>() : "";
  const std::string plural = kind == "ClusterRole"          ? "clusterroles"
                             : kind == "ClusterRoleBinding" ? "clusterrolebindings"
                             : kind == "Role"               ? "roles"
                                                            : "rolebindings";
  KubeRequest get;
  get.ref = ResourceRef::Group("rbac.authorization.k8s.io", "v1", plural, ns, name);
  auto existing = client.CallJson(get);
  KubeRequest put;
  put.ref = get.ref;
  put.body = YamlToJson(doc);
  if (existing.ok()) {
    put.verb = "update";
  } else {
    put.verb = "create";
    put.ref.name.clear();
  }
  auto r = client.Call(put);
  return r.ok() ? Status::Ok()
                : Status(r.status().code(), kind + " " + name + ": " + r.status().message());
}

}  // namespace gameday::testing

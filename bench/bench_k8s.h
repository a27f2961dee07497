// What the Kubernetes benches in bench/ share: the test plane's KWOK nodes and the bench's
// namespace.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"

namespace gameday::bench {

// The names of the plane's KWOK nodes (label type=kwok), sorted; empty when the list fails.
inline std::vector<std::string> KwokNodes(KubeClient& client) {
  std::vector<std::string> nodes;
  const auto rv = client.List(ResourceRef::Core("nodes"), ListOptions{"type=kwok", "", 500, {}},
                              [&](const rapidjson::Value& n) {
                                nodes.push_back(JsonPathString(n, {"metadata", "name"}));
                                return Status::Ok();
                              });
  if (!rv.ok()) return {};
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

// Creates namespace `ns`; one that exists already is fine.
inline void CreateNamespace(KubeClient& client, const std::string& ns) {
  KubeRequest req;
  req.verb = "create";
  req.ref = ResourceRef::Core("namespaces");
  req.body = R"({"metadata":{"name":")" + ns + R"("}})";
  (void)client.Call(req);
}

}  // namespace gameday::bench

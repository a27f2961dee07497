#pragma once

#include <string>
#include <vector>

namespace gameday {

// One kind of Kubernetes API request that a configured injector, verifier or watch makes, for
// `gameday rbac`: the rights a plan needs, and nothing more.
struct ApiAccess {
  std::string group;     // API group, "" for core
  std::string resource;  // plural, with a subresource: "pods", "pods/eviction"; empty for a URL
  // A namespace; "" for a cluster-scoped resource; kEveryNamespace for a namespaced resource in
  // every namespace (which only a ClusterRole grants).
  std::string ns;
  std::vector<std::string> verbs;
  std::string non_resource_url;  // "/readyz", with resource empty
  std::string why;               // what it is for, as the output's comment says
  // The run works without it: Events gameday posts on what it touched (failures are ignored), and
  // endpoints every authenticated user reads by default (system:public-info-viewer).
  bool optional = false;

  static constexpr const char* kEveryNamespace = "*";
};

}  // namespace gameday

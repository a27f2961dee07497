#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "experiments/plan.h"
#include "experiments/plugins/api_access.h"

namespace gameday {

// `gameday rbac`: the Kubernetes rights that exactly some plans need, as the Role, ClusterRole
// and bindings a person applies with kubectl.

// Every API access of every configured injector, verifier and watch of `plan`, per cluster (the
// experiments' kubernetes targets, "kubeconfig|context"; targets of other kinds need none).
std::map<std::string, std::vector<ApiAccess>> PlanApiAccesses(const Plan& plan);

// One rule: one resource (or non-resource URL) of one API group with its verbs.
struct RbacRule {
  std::string group;
  std::string resource;          // "pods", "pods/eviction"; empty for a URL
  std::string non_resource_url;  // "/readyz"
  std::set<std::string> verbs;
  std::set<std::string> why;
  bool optional = false;  // every access behind it was optional
};

// The rules, merged: a Role per namespace, and one ClusterRole for cluster-scoped resources,
// namespaced ones in every namespace and URLs. A namespace's rule that the ClusterRole already
// grants is left out; a verb that something needs is never in an optional rule.
struct RbacRules {
  std::map<std::string, std::vector<RbacRule>> namespaced;
  std::vector<RbacRule> cluster;
  bool empty() const { return namespaced.empty() && cluster.empty(); }
};
RbacRules MergeApiAccesses(const std::vector<ApiAccess>& accesses, bool with_optional);

// Who the bindings name.
struct RbacSubject {
  std::string kind = "ServiceAccount";  // ServiceAccount | User | Group
  std::string name = "gameday";
  std::string ns = "gameday";  // ServiceAccount only
};

// The manifests: YAML documents separated by "---", each rule with a comment saying what needs
// it; `name` names every Role, ClusterRole and binding.
std::string RbacYaml(const RbacRules& rules, const std::string& name, const RbacSubject& subject);

}  // namespace gameday

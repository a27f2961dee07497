#pragma once

#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/plugins/injector.h"
#include "experiments/spec_reader.h"
#include "experiments/target.h"

namespace gameday {

// Which pods a Kubernetes fault may act on, as a plan spells it:
//   namespace: shop | namespaces: [a, b] | all_namespaces: true
//   label_selector: app=web       (Kubernetes label selector syntax)
//   field_selector: spec.nodeName=n1
struct PodSelectSpec {
  std::vector<std::string> namespaces;  // empty only with all_namespaces
  bool all_namespaces = false;
  std::string label_selector;
  std::string field_selector;
};

// Reads the fields above from `spec` (does not call Finish). A protected namespace is an error
// unless target.allow_protected; all_namespaces skips protected ones at discovery instead.
PodSelectSpec ParsePodSelect(SpecNode& spec, const TargetSpec& target);

// Reports an error and returns false unless target.kind is kubernetes.
bool RequireKubernetesTarget(SpecNode& spec, const TargetSpec& target, const std::string& kind);

// The pods that match: Running or Pending and not already terminating, sorted by namespace and
// name. Each FaultTarget has id "namespace/name/uid" and attributes namespace, name, uid, node
// and labels ("k=v,k=v").
Result<std::vector<FaultTarget>> DiscoverPods(KubeClient& client, const PodSelectSpec& spec,
                                              const TargetSpec& target);
// The same through the shared client of `target`'s kubeconfig and context.
Result<std::vector<FaultTarget>> DiscoverPods(const PodSelectSpec& spec, const TargetSpec& target);

// The rights of fault `kind` on pods in the selected namespaces (every namespace with
// all_namespaces): `list` to find them plus `verbs` (for `what`), and the optional Events on
// them when `events`.
std::vector<ApiAccess> PodAccesses(const PodSelectSpec& spec, std::vector<std::string> verbs,
                                   const std::string& kind, const std::string& what, bool events);

struct PodIdentity {
  std::string ns;
  std::string name;
  std::string uid;
  static PodIdentity FromTarget(const FaultTarget& target);
};

}  // namespace gameday

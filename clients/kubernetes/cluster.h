#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/clock.h"
#include "experiments/status.h"
#include "experiments/target.h"

namespace gameday {

// Shared plumbing for the Kubernetes injectors and verifiers: one client per (kubeconfig,
// context) per process, Events on affected objects, protected namespaces.

// The client for `kubeconfig` (a file, a colon list like $KUBECONFIG, or empty for the default
// lookup) and `context` (empty = current-context). Made once and then shared, so a thousand
// Inject calls reuse its connections. Thread-safe.
Result<std::shared_ptr<KubeClient>> SharedKubeClient(const std::string& kubeconfig,
                                                     const std::string& context);

// What a journal record needs to reach the same cluster as the same user later, whatever
// $KUBECONFIG or current-context say then: the file list and the resolved context.
struct ClusterIdentity {
  std::string kubeconfig;  // the files the config came from (colon-separated); "" = in-cluster
  std::string context;
};
ClusterIdentity IdentityOf(const KubeClient& client);
// `"kubeconfig":"...","context":"..."`: the members every Kubernetes revert record opens with.
std::string IdentityJsonMembers(const ClusterIdentity& id);

// An object an Event is about.
struct EventObject {
  std::string api_version = "v1";
  std::string kind;  // Pod, Node
  std::string ns;    // empty for cluster-scoped objects (the Event then goes to "default")
  std::string name;
  std::string uid;
};

// Records a core/v1 Event (source component "gameday") on `object`, so `kubectl get events` and
// `kubectl describe` show what gameday did and when. reason: ChaosInjected / ChaosReverted.
Status PostEvent(KubeClient& client, const EventObject& object, const std::string& reason,
                 const std::string& message, WallTime now, const std::string& type = "Warning");

// Whether `ns` is one of `protected_namespaces`.
bool IsProtectedNamespace(const std::vector<std::string>& protected_namespaces,
                          const std::string& ns);
// Whether gameday must leave `ns` alone: protected by the target, and allow_protected not set.
bool NamespaceOffLimits(const TargetSpec& target, const std::string& ns);
// PermissionDenied naming the setting when NamespaceOffLimits, else OK: the last check before an
// injector acts on an object in `ns`.
Status CheckNamespaceAllowed(const TargetSpec& target, const std::string& ns);

// Names as the API server accepts them, for checking journal records before acting on them.
// DNS-1123 label (namespaces): [a-z0-9-], 1 to 63, alphanumeric at both ends.
bool IsDns1123Label(const std::string& s);
// DNS-1123 subdomain (pod, node and policy names): labels joined by '.', at most 253.
bool IsDns1123Subdomain(const std::string& s);
// A uid as the API server writes it (a UUID: hex digits and '-'), at most 64 characters.
bool IsKubeUid(const std::string& s);

// A short, stable lowercase hex digest (FNV-1a 64) for names and label values.
std::string KubeNameHash(const std::string& text, size_t hex_digits = 10);

}  // namespace gameday

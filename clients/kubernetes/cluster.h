#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/event_recorder.h"
#include "experiments/clock.h"
#include "experiments/plugins/api_access.h"
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

// Records a core/v1 Event (source component "gameday") on `object`, so `kubectl get events` and
// `kubectl describe` show what gameday did and when. reason: ChaosInjected / ChaosReverted.
Status PostEvent(KubeClient& client, const EventObject& object, const std::string& reason,
                 const std::string& message, WallTime now, const std::string& type = "Warning");

// The background Event recorder of `client` (one per client, made on first use): for injectors
// that act on many objects at once and must not wait for an Event per object (see
// EventRecorder: the first 10 similar events of a step go one by one, the rest are combined).
EventRecorder& SharedEventRecorder(const std::shared_ptr<KubeClient>& client);
// Posts what every shared recorder still holds, within `max_wait` in all; for the end of a run,
// so a normal exit loses no Event. Returns whether everything went out. Never waits longer: a
// recorder left with work is stopped (abandoning it) when the process exits.
bool FlushSharedEventRecorders(Duration max_wait);

// The right `verb` on `ref` needs, for `gameday rbac`: a namespaced resource with no namespace
// means every namespace (a list or watch across them).
ApiAccess AccessTo(const ResourceRef& ref, std::vector<std::string> verbs, std::string why);
// What a request needs (its raw_path as a non-resource URL when set).
ApiAccess AccessFor(const KubeRequest& request, std::string why);
// The Events gameday posts on the objects it touched in `ns` ("" = cluster-scoped objects, whose
// Events go to "default"): optional, a refused Event never fails a run.
ApiAccess EventAccess(const std::string& ns, std::string why);

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

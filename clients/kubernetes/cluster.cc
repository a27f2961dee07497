#include "clients/kubernetes/cluster.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "clients/kubernetes/credentials.h"

namespace gameday {

Result<std::shared_ptr<KubeClient>> SharedKubeClient(const std::string& kubeconfig,
                                                     const std::string& context) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<KubeClient>> clients;
  const std::string key = kubeconfig + '\n' + context;
  std::lock_guard lock(mu);
  auto it = clients.find(key);
  if (it != clients.end()) return it->second;
  Result<std::shared_ptr<KubeClient>> client = KubeClient::FromKubeconfig(kubeconfig, context);
  if (!client.ok()) return client.status();
  clients[key] = *client;
  return *client;
}

ClusterIdentity IdentityOf(const KubeClient& client) {
  const KubeConfig& c = client.config();
  if (c.context_name.empty()) return ClusterIdentity{"", ""};  // in-cluster
  return ClusterIdentity{c.source, c.context_name};
}

Status PostEvent(KubeClient& client, const EventObject& object, const std::string& reason,
                 const std::string& message, WallTime now, const std::string& type) {
  KubeRequest req;
  req.verb = "create";
  req.ref = ResourceRef::Core("events", object.ns.empty() ? "default" : object.ns);
  req.body = KubeEventBody(object, reason, message, now, type);
  req.max_attempts = 3;
  return client.Call(req).status();
}

namespace {

struct SharedRecorders {
  std::mutex mu;
  std::map<const KubeClient*, std::unique_ptr<EventRecorder>> recorders;
};

SharedRecorders& Recorders() {
  // Destroyed at exit after main returns: each recorder then stops at once (aborting a request
  // in flight), so exit never waits on the API server.
  static SharedRecorders shared;
  return shared;
}

}  // namespace

EventRecorder& SharedEventRecorder(const std::shared_ptr<KubeClient>& client) {
  SharedRecorders& shared = Recorders();
  std::lock_guard lock(shared.mu);
  auto& slot = shared.recorders[client.get()];
  if (!slot) {
    EventRecorder::Options options;
    options.clock = &client->clock();
    slot = std::make_unique<EventRecorder>(MakeKubeEventSink(client), std::move(options));
  }
  return *slot;
}

bool FlushSharedEventRecorders(Duration max_wait) {
  SharedRecorders& shared = Recorders();
  std::vector<EventRecorder*> all;
  {
    std::lock_guard lock(shared.mu);
    for (auto& [client, recorder] : shared.recorders) all.push_back(recorder.get());
  }
  const MonoTime deadline = Clock::Real().Now() + max_wait;
  bool done = true;
  for (EventRecorder* r : all) {
    done = r->Flush(std::max(Duration{0}, deadline - Clock::Real().Now())) && done;
  }
  return done;
}

ApiAccess AccessTo(const ResourceRef& ref, std::vector<std::string> verbs, std::string why) {
  ApiAccess a;
  a.group = ref.group;
  a.resource = ref.subresource.empty() ? ref.resource : ref.resource + "/" + ref.subresource;
  const bool cluster_scoped = ref.resource == "nodes" || ref.resource == "namespaces";
  a.ns = cluster_scoped ? "" : ref.ns.empty() ? ApiAccess::kEveryNamespace : ref.ns;
  a.verbs = std::move(verbs);
  a.why = std::move(why);
  return a;
}

ApiAccess AccessFor(const KubeRequest& request, std::string why) {
  if (request.raw_path.empty()) return AccessTo(request.ref, {request.verb}, std::move(why));
  ApiAccess a;
  a.non_resource_url = request.raw_path;
  a.verbs = {"get"};
  a.why = std::move(why);
  // /version, /healthz, /livez, /readyz: every client may read them by default
  // (system:public-info-viewer).
  a.optional = true;
  return a;
}

ApiAccess EventAccess(const std::string& ns, std::string why) {
  ApiAccess a = AccessTo(ResourceRef::Core("events", ns.empty() ? "default" : ns),
                         {"create", "patch"}, std::move(why));
  a.optional = true;
  return a;
}

bool IsProtectedNamespace(const std::vector<std::string>& protected_namespaces,
                          const std::string& ns) {
  return std::find(protected_namespaces.begin(), protected_namespaces.end(), ns) !=
         protected_namespaces.end();
}

bool NamespaceOffLimits(const TargetSpec& target, const std::string& ns) {
  return IsProtectedNamespace(target.protected_namespaces, ns) && !target.allow_protected;
}

Status CheckNamespaceAllowed(const TargetSpec& target, const std::string& ns) {
  if (!NamespaceOffLimits(target, ns)) return Status::Ok();
  return Status::PermissionDenied("namespace " + ns +
                                  " is protected (target.protected_namespaces); set "
                                  "target.allow_protected: true");
}

std::string IdentityJsonMembers(const ClusterIdentity& id) {
  return "\"kubeconfig\":" + JsonQuote(id.kubeconfig) + ",\"context\":" + JsonQuote(id.context);
}

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool IsDns1123Subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = s.find('.', start);
    const std::string label =
        s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!IsDns1123Label(label)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool IsKubeUid(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  });
}

std::string KubeNameHash(const std::string& text, size_t hex_digits) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf).substr(0, std::min<size_t>(hex_digits, 16));
}

}  // namespace gameday

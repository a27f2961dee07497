#include "injectors/pod_selection/pod_selection.h"

#include <algorithm>

#include "clients/kubernetes/cluster.h"

namespace gameday {
namespace {

// DNS-1123 label: what a namespace name must be.
bool ValidNamespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63) return false;
  for (char c : ns) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return ns.front() != '-' && ns.back() != '-';
}

}  // namespace

bool RequireKubernetesTarget(SpecNode& spec, const TargetSpec& target, const std::string& kind) {
  if (target.kind == "kubernetes") return true;
  spec.Error("the " + kind + " kind needs a kubernetes target (target.kind is '" + target.kind +
             "')");
  return false;
}

PodSelectSpec ParsePodSelect(SpecNode& spec, const TargetSpec& target) {
  PodSelectSpec s;
  std::optional<std::string> one = spec.OptString("namespace");
  if (spec.Has("namespaces")) s.namespaces = spec.StringList("namespaces");
  s.all_namespaces = spec.Bool("all_namespaces", false);
  if (one) {
    if (!s.namespaces.empty()) spec.ErrorAt("namespaces", "set either namespace or namespaces");
    s.namespaces.insert(s.namespaces.begin(), *one);
  }
  if (s.all_namespaces && !s.namespaces.empty()) {
    spec.ErrorAt("all_namespaces", "all_namespaces cannot be combined with namespace(s)");
  }
  if (!s.all_namespaces && s.namespaces.empty()) {
    spec.Error(
        "missing namespace: set namespace, namespaces, or all_namespaces: true (the blast "
        "radius must be explicit)");
  }
  for (const std::string& ns : s.namespaces) {
    if (!ValidNamespace(ns)) {
      spec.ErrorAt(one ? "namespace" : "namespaces", "'" + ns + "' is not a valid namespace name");
    } else if (NamespaceOffLimits(target, ns)) {
      spec.ErrorAt(
          one ? "namespace" : "namespaces",
          "namespace " + ns + " is protected; set target.allow_protected: true to act on it");
    }
  }
  s.label_selector = spec.String("label_selector", "");
  s.field_selector = spec.String("field_selector", "");
  return s;
}

Result<std::vector<FaultTarget>> DiscoverPods(const PodSelectSpec& spec, const TargetSpec& target) {
  auto client = SharedKubeClient(target.kubeconfig, target.context);
  if (!client.ok()) return client.status();
  return DiscoverPods(**client, spec, target);
}

Result<std::vector<FaultTarget>> DiscoverPods(KubeClient& client, const PodSelectSpec& spec,
                                              const TargetSpec& target) {
  std::vector<FaultTarget> out;
  ListOptions opts;
  opts.label_selector = spec.label_selector;
  opts.field_selector = spec.field_selector;
  auto each = [&](const rapidjson::Value& pod) -> Status {
    const std::string phase = JsonPathString(pod, {"status", "phase"});
    if (phase != "Running" && phase != "Pending") return Status::Ok();
    if (JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr) return Status::Ok();
    FaultTarget t;
    const std::string ns = JsonPathString(pod, {"metadata", "namespace"});
    if (NamespaceOffLimits(target, ns)) {
      return Status::Ok();
    }
    const std::string name = JsonPathString(pod, {"metadata", "name"});
    const std::string uid = JsonPathString(pod, {"metadata", "uid"});
    t.id = ns + "/" + name + "/" + uid;
    t.display = "pod " + ns + "/" + name;
    t.attributes["namespace"] = ns;
    t.attributes["name"] = name;
    t.attributes["uid"] = uid;
    t.attributes["node"] = JsonPathString(pod, {"spec", "nodeName"});
    t.attributes["phase"] = phase;
    std::string labels;
    if (const rapidjson::Value* l = JsonPath(pod, {"metadata", "labels"}); l && l->IsObject()) {
      for (const auto& m : l->GetObject()) {
        if (!m.value.IsString()) continue;
        labels += (labels.empty() ? "" : ",") + std::string(m.name.GetString()) + "=" +
                  m.value.GetString();
      }
    }
    t.attributes["labels"] = labels;
    out.push_back(std::move(t));
    return Status::Ok();
  };
  if (spec.all_namespaces) {
    auto rv = client.List(ResourceRef::Core("pods"), opts, each);
    if (!rv.ok()) return rv.status();
  } else {
    for (const std::string& ns : spec.namespaces) {
      auto rv = client.List(ResourceRef::Core("pods", ns), opts, each);
      if (!rv.ok()) return rv.status();
    }
  }
  std::sort(out.begin(), out.end(),
            [](const FaultTarget& a, const FaultTarget& b) { return a.id < b.id; });
  return out;
}

std::vector<ApiAccess> PodAccesses(const PodSelectSpec& spec, std::vector<std::string> verbs,
                                   const std::string& kind, const std::string& what, bool events) {
  verbs.insert(verbs.begin(), "list");
  // Pods listed across every namespace (no namespace), their Events in each pod's namespace.
  const std::vector<std::string> namespaces =
      spec.all_namespaces ? std::vector<std::string>{""} : spec.namespaces;
  std::vector<ApiAccess> out;
  for (const std::string& ns : namespaces) {
    out.push_back(AccessTo(ResourceRef::Core("pods", ns), verbs, kind + ": " + what));
    if (events) {
      out.push_back(
          EventAccess(ns.empty() ? ApiAccess::kEveryNamespace : ns, kind + ": Events on the pods"));
    }
  }
  return out;
}

PodIdentity PodIdentity::FromTarget(const FaultTarget& target) {
  PodIdentity p;
  auto get = [&](const char* k) {
    auto it = target.attributes.find(k);
    return it == target.attributes.end() ? std::string() : it->second;
  };
  p.ns = get("namespace");
  p.name = get("name");
  p.uid = get("uid");
  if (p.ns.empty() || p.name.empty()) {  // from the id alone: namespace/name/uid
    const size_t a = target.id.find('/');
    const size_t b = a == std::string::npos ? a : target.id.find('/', a + 1);
    if (b != std::string::npos) {
      p.ns = target.id.substr(0, a);
      p.name = target.id.substr(a + 1, b - a - 1);
      p.uid = target.id.substr(b + 1);
    }
  }
  return p;
}

}  // namespace gameday

#include "experiments/rbac.h"

#include <cstdio>
#include <tuple>
#include <variant>

namespace gameday {
namespace {

void StepAccesses(const Step& step, std::vector<ApiAccess>* out) {
  if (const auto* inject = std::get_if<InjectStep>(&step.action)) {
    if (inject->injector) {
      for (ApiAccess& a : inject->injector->ApiAccesses()) out->push_back(std::move(a));
    }
  } else if (const auto* parallel = std::get_if<ParallelStep>(&step.action)) {
    for (const Step& s : parallel->steps) StepAccesses(s, out);
  }
}

// A double-quoted YAML scalar (JSON's escapes are YAML's).
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

template <typename Container>
std::string FlowList(const Container& items) {
  std::string out = "[";
  for (const std::string& s : items) out += (out.size() > 1 ? ", " : "") + Quote(s);
  return out + "]";
}

std::string Comment(const std::set<std::string>& why, bool optional) {
  std::string out = "  # ";
  if (optional) out += "optional: ";
  bool first = true;
  for (const std::string& w : why) {
    // One line: a reason never carries a line break into the YAML.
    std::string line = w;
    for (char& c : line) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    out += (first ? "" : "; ") + line;
    first = false;
  }
  return out + "\n";
}

void Rules(const std::vector<RbacRule>& rules, std::string* out) {
  *out += "rules:\n";
  for (const RbacRule& r : rules) {
    *out += Comment(r.why, r.optional);
    if (r.resource.empty()) {
      *out += "  - nonResourceURLs: " + FlowList(std::vector<std::string>{r.non_resource_url}) +
              "\n    verbs: " + FlowList(r.verbs) + "\n";
    } else {
      *out += "  - apiGroups: " + FlowList(std::vector<std::string>{r.group}) +
              "\n    resources: " + FlowList(std::vector<std::string>{r.resource}) +
              "\n    verbs: " + FlowList(r.verbs) + "\n";
    }
  }
}

std::string Subjects(const RbacSubject& subject) {
  std::string out =
      "subjects:\n  - kind: " + subject.kind + "\n    name: " + Quote(subject.name) + "\n";
  if (subject.kind == "ServiceAccount") {
    out += "    namespace: " + Quote(subject.ns) + "\n";
  } else {
    out += "    apiGroup: rbac.authorization.k8s.io\n";
  }
  return out;
}

// A Role (namespace `ns`) or ClusterRole (`ns` empty) with `rules`, and its binding to `subject`.
std::string RoleAndBinding(const std::string& name, const std::string& ns,
                           const std::vector<RbacRule>& rules, const RbacSubject& subject) {
  const std::string kind = ns.empty() ? "ClusterRole" : "Role";
  const std::string metadata = "metadata:\n  name: " + Quote(name) + "\n" +
                               (ns.empty() ? "" : "  namespace: " + Quote(ns) + "\n");
  std::string out =
      "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "\n" + metadata;
  Rules(rules, &out);
  return out + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: " + kind + "Binding\n" +
         metadata + "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: " + kind +
         "\n  name: " + Quote(name) + "\n" + Subjects(subject);
}

}  // namespace

std::map<std::string, std::vector<ApiAccess>> PlanApiAccesses(const Plan& plan) {
  std::map<std::string, std::vector<ApiAccess>> out;
  for (const ExperimentSpec& e : plan.experiments) {
    if (e.target.kind != "kubernetes") continue;
    std::vector<ApiAccess>& list = out[e.target.kubeconfig + "|" + e.target.context];
    for (const VerifierSpec& v : e.verifiers) {
      if (!v.verifier) continue;
      for (ApiAccess& a : v.verifier->ApiAccesses()) list.push_back(std::move(a));
    }
    for (const WatchSpec& w : e.watches) {
      if (!w.watch) continue;
      for (ApiAccess& a : w.watch->ApiAccesses()) list.push_back(std::move(a));
    }
    for (const Step& s : e.method) StepAccesses(s, &list);
  }
  return out;
}

RbacRules MergeApiAccesses(const std::vector<ApiAccess>& accesses, bool with_optional) {
  // (scope, group, resource, url) -> verb -> (needed by something, reasons)
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  struct Verb {
    bool needed = false;
    std::set<std::string> why;
  };
  std::map<Key, std::map<std::string, Verb>> merged;
  for (const ApiAccess& a : accesses) {
    if (a.optional && !with_optional) continue;
    // The ClusterRole holds cluster-scoped resources (scope ""), namespaced ones in every
    // namespace ("*") and URLs.
    const std::string scope =
        a.non_resource_url.empty() && a.ns != ApiAccess::kEveryNamespace ? a.ns : std::string();
    const Key key{scope, a.non_resource_url.empty() ? a.group : "", a.resource, a.non_resource_url};
    for (const std::string& v : a.verbs) {
      Verb& verb = merged[key][v];
      verb.needed = verb.needed || !a.optional;
      verb.why.insert(a.why);
    }
  }
  RbacRules out;
  for (const auto& [key, verbs] : merged) {
    const auto& [scope, group, resource, url] = key;
    // A rule per resource for what is needed, and one for what is optional.
    for (const bool optional : {false, true}) {
      RbacRule rule;
      rule.group = group;
      rule.resource = resource;
      rule.non_resource_url = url;
      rule.optional = optional;
      for (const auto& [name, verb] : verbs) {
        if (verb.needed == optional) continue;
        if (!scope.empty()) {
          // Already granted in every namespace by the ClusterRole?
          auto everywhere = merged.find(Key{"", group, resource, url});
          if (everywhere != merged.end()) {
            auto v = everywhere->second.find(name);
            if (v != everywhere->second.end() && (v->second.needed || optional)) continue;
          }
        }
        rule.verbs.insert(name);
        rule.why.insert(verb.why.begin(), verb.why.end());
      }
      if (rule.verbs.empty()) continue;
      if (scope.empty()) {
        out.cluster.push_back(std::move(rule));
      } else {
        out.namespaced[scope].push_back(std::move(rule));
      }
    }
  }
  return out;
}

std::string RbacYaml(const RbacRules& rules, const std::string& name, const RbacSubject& subject) {
  std::string out;
  if (!rules.cluster.empty()) out += RoleAndBinding(name, "", rules.cluster, subject);
  for (const auto& [ns, list] : rules.namespaced) out += RoleAndBinding(name, ns, list, subject);
  return out;
}

}  // namespace gameday

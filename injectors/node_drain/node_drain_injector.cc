#include "injectors/node_drain/node_drain_injector.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <optional>
#include <set>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "experiments/json.h"
#include "experiments/revert_record.h"
#include "injectors/pod_selection/pod_selection.h"

namespace gameday {
namespace {

constexpr Duration kDefaultEvictionTimeout = std::chrono::seconds(120);
constexpr Duration kEvictionRetry = std::chrono::seconds(1);

struct NodeSpec {
  std::vector<std::string> nodes;
  std::string label_selector;
  bool drain = false;
  Duration eviction_timeout = kDefaultEvictionTimeout;
  std::optional<long long> grace_period_s;
};

struct NodeRecord {
  ClusterIdentity cluster;
  std::string node;
  std::string uid;
  bool was_unschedulable = false;
};

std::string NodeName(const FaultTarget& t) {
  auto it = t.attributes.find("name");
  if (it != t.attributes.end()) return it->second;
  // "node/NAME/UID"
  const size_t a = t.id.find('/');
  const size_t b = t.id.rfind('/');
  return a == std::string::npos || b == a ? t.id : t.id.substr(a + 1, b - a - 1);
}

std::string NodeUid(const FaultTarget& t) {
  auto it = t.attributes.find("uid");
  if (it != t.attributes.end()) return it->second;
  const size_t b = t.id.rfind('/');
  return b == std::string::npos ? "" : t.id.substr(b + 1);
}

// Reads a revert record, checking every field before anything acts on it, so a record gameday
// could not have written is refused (InvalidArgument) and no node is patched.
Result<NodeRecord> ParseRecord(const std::string& text) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("invalid node revert record: " + what);
  };
  rapidjson::Document doc;
  if (Status s = ParseRevertRecord(text, "node", {"kubeconfig", "context", "node", "uid"}, &doc);
      !s.ok()) {
    return s;
  }
  NodeRecord r;
  r.cluster.kubeconfig = JsonString(doc, "kubeconfig");
  r.cluster.context = JsonString(doc, "context");
  r.node = JsonString(doc, "node");
  r.uid = JsonString(doc, "uid");
  auto it = doc.FindMember("was_unschedulable");
  if (it != doc.MemberEnd() && !it->value.IsBool()) return bad("was_unschedulable is no bool");
  r.was_unschedulable = it != doc.MemberEnd() && it->value.GetBool();
  if (!IsDns1123Subdomain(r.node)) return bad("node is not a DNS-1123 name");
  if (!r.uid.empty() && !IsKubeUid(r.uid)) return bad("uid is not a Kubernetes uid");
  if (!IsPlainText(r.cluster.kubeconfig) || !IsPlainText(r.cluster.context)) {
    return bad("kubeconfig or context holds a control character");
  }
  return r;
}

Status SetUnschedulable(KubeClient& client, const std::string& node, bool value) {
  KubeRequest req;
  req.verb = "patch";
  req.ref = ResourceRef::Core("nodes", "", node);
  req.content_type = "application/merge-patch+json";
  req.body = std::string("{\"spec\":{\"unschedulable\":") + (value ? "true" : "null") + "}}";
  return client.Call(req).status();
}

struct PodToEvict {
  std::string ns, name, uid;
};

class NodeInjector : public Injector {
 public:
  explicit NodeInjector(NodeSpec spec) : spec_(std::move(spec)) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    std::vector<FaultTarget> out;
    std::set<std::string> wanted(spec_.nodes.begin(), spec_.nodes.end());
    ListOptions opts;
    opts.label_selector = spec_.label_selector;
    auto rv = (*client)->List(ResourceRef::Core("nodes"), opts, [&](const rapidjson::Value& n) {
      const std::string name = JsonPathString(n, {"metadata", "name"});
      if (!wanted.empty() && !wanted.count(name)) return Status::Ok();
      FaultTarget t;
      const std::string uid = JsonPathString(n, {"metadata", "uid"});
      t.id = "node/" + name + "/" + uid;
      t.display = "node " + name;
      t.attributes["name"] = name;
      t.attributes["uid"] = uid;
      out.push_back(std::move(t));
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    // A named node that does not exist is a mistake in the plan, not a smaller blast radius.
    for (const std::string& name : spec_.nodes) {
      if (std::none_of(out.begin(), out.end(),
                       [&](const FaultTarget& t) { return t.attributes.at("name") == name; })) {
        return Status::NotFound(
            "node " + name + " not found" +
            (spec_.label_selector.empty() ? "" : " among nodes matching " + spec_.label_selector));
      }
    }
    return out;
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    // Whether the node was already cordoned: then the revert must leave it cordoned.
    KubeRequest req;
    req.ref = ResourceRef::Core("nodes", "", NodeName(target));
    auto node = (*client)->CallJson(req);
    if (!node.ok()) return node.status();
    const rapidjson::Value* u = JsonPath(*node, {"spec", "unschedulable"});
    const bool was = u != nullptr && u->IsBool() && u->GetBool();
    const ClusterIdentity id = IdentityOf(**client);
    return "{" + IdentityJsonMembers(id) + ",\"node\":" + JsonQuote(NodeName(target)) +
           ",\"uid\":" + JsonQuote(NodeUid(target)) +
           ",\"was_unschedulable\":" + (was ? "true" : "false") + "}";
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const std::string node = NodeName(target);
    const EventObject obj{"v1", "Node", "", node, NodeUid(target)};
    Status st = SetUnschedulable(**client, node, true);
    if (!st.ok()) return st;
    (void)PostEvent(**client, obj, "ChaosInjected",
                    "gameday run " + env.run_id + ": cordoned node " + node +
                        (spec_.drain ? ", draining it" : ""),
                    env.clock->WallNow());
    if (!spec_.drain) return Status::Ok();
    size_t evicted = 0;
    st = Drain(**client, node, env, &evicted);
    if (!st.ok()) return st;
    (void)PostEvent(**client, obj, "ChaosInjected",
                    "gameday run " + env.run_id + ": drained node " + node + " (" +
                        std::to_string(evicted) + " pod(s) evicted)",
                    env.clock->WallNow());
    return Status::Ok();
  }

  bool Reversible() const override { return true; }

  std::string DescribeAction(const FaultTarget& target) const override {
    return (spec_.drain ? "cordon and drain node " : "cordon node ") + NodeName(target) +
           (spec_.drain ? " (evictions respect PodDisruptionBudgets; blocked for at most " +
                              FormatDuration(spec_.eviction_timeout) + ")"
                        : "");
  }

 private:
  // The pods a drain evicts: not DaemonSet-managed, not mirror pods, not finished, not already
  // terminating, not in a protected namespace (unless allowed).
  Result<std::vector<PodToEvict>> PodsToEvict(KubeClient& client, const std::string& node,
                                              const TargetSpec& target,
                                              std::vector<std::string>* skipped) {
    std::vector<PodToEvict> out;
    ListOptions opts;
    opts.field_selector = "spec.nodeName=" + node;
    auto rv = client.List(ResourceRef::Core("pods"), opts, [&](const rapidjson::Value& pod) {
      const std::string ns = JsonPathString(pod, {"metadata", "namespace"});
      const std::string name = JsonPathString(pod, {"metadata", "name"});
      const std::string phase = JsonPathString(pod, {"status", "phase"});
      if (phase == "Succeeded" || phase == "Failed") return Status::Ok();
      if (JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr) return Status::Ok();
      if (JsonPath(pod, {"metadata", "annotations", "kubernetes.io/config.mirror"}) != nullptr) {
        return Status::Ok();
      }
      if (const rapidjson::Value* owners = JsonPath(pod, {"metadata", "ownerReferences"});
          owners && owners->IsArray()) {
        for (const rapidjson::Value& o : owners->GetArray()) {
          if (JsonString(o, "kind") == "DaemonSet") return Status::Ok();
        }
      }
      if (NamespaceOffLimits(target, ns)) {
        skipped->push_back(ns + "/" + name);
        return Status::Ok();
      }
      out.push_back({ns, name, JsonPathString(pod, {"metadata", "uid"})});
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    return out;
  }

  Status Drain(KubeClient& client, const std::string& node, const InjectorEnv& env,
               size_t* evicted) {
    std::vector<std::string> skipped;
    auto pods = PodsToEvict(client, node, env.target, &skipped);
    if (!pods.ok()) return pods.status();
    Clock& clock = *env.clock;
    const MonoTime deadline = clock.Now() + spec_.eviction_timeout;
    std::vector<PodToEvict> pending = *pods;
    std::vector<PodToEvict> done;
    std::string last_block;
    while (!pending.empty()) {
      std::vector<KubeRequest> evictions;
      for (const PodToEvict& p : pending) {
        KubeRequest req;
        req.verb = "create";
        req.ref = ResourceRef::Core("pods", p.ns, p.name);
        req.ref.subresource = "eviction";
        req.body = "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":" +
                   JsonQuote(p.name) + ",\"namespace\":" + JsonQuote(p.ns) +
                   "},\"deleteOptions\":{\"preconditions\":{\"uid\":" + JsonQuote(p.uid) + "}" +
                   (spec_.grace_period_s
                        ? ",\"gracePeriodSeconds\":" + std::to_string(*spec_.grace_period_s)
                        : std::string()) +
                   "}}";
        // A 429 here is a PodDisruptionBudget saying "not now": retried below, on our schedule.
        req.max_attempts = 1;
        evictions.push_back(std::move(req));
      }
      auto results = client.CallMany(evictions, 16);
      std::vector<PodToEvict> still;
      for (size_t i = 0; i < results.size(); ++i) {
        const Status& s = results[i].status();
        if (s.ok() || s.code() == Status::Code::kNotFound ||
            (s.code() == Status::Code::kFailedPrecondition &&
             s.message().find("recondition") != std::string::npos)) {
          done.push_back(pending[i]);
        } else if (s.code() == Status::Code::kUnavailable) {
          still.push_back(pending[i]);  // a disruption budget (429) or a passing API problem
          last_block = s.message();
        } else {
          return Status(s.code(), "draining node " + node + ": evicting pod " + pending[i].ns +
                                      "/" + pending[i].name + " failed: " + s.message());
        }
      }
      pending = std::move(still);
      if (pending.empty()) break;
      if (clock.Now() + kEvictionRetry > deadline) {
        std::string names;
        for (const PodToEvict& p : pending)
          names += (names.empty() ? "" : ", ") + p.ns + "/" + p.name;
        return Status::DeadlineExceeded(
            "draining node " + node + ": eviction of " + names + " still refused after " +
            FormatDuration(spec_.eviction_timeout) +
            " (a PodDisruptionBudget does not allow it): " + last_block);
      }
      clock.SleepFor(kEvictionRetry, std::stop_token());
    }
    // Like kubectl drain: wait until the evicted pods are gone.
    for (const PodToEvict& p : done) {
      while (true) {
        KubeRequest get;
        get.ref = ResourceRef::Core("pods", p.ns, p.name);
        auto pod = client.CallJson(get);
        if (!pod.ok() && pod.status().code() == Status::Code::kNotFound) break;
        if (pod.ok() && JsonPathString(*pod, {"metadata", "uid"}) != p.uid) break;
        if (clock.Now() >= deadline) {
          return Status::DeadlineExceeded("draining node " + node + ": pod " + p.ns + "/" + p.name +
                                          " was evicted but is still there after " +
                                          FormatDuration(spec_.eviction_timeout));
        }
        clock.SleepFor(std::chrono::milliseconds(100), std::stop_token());
      }
    }
    *evicted = done.size();
    return Status::Ok();
  }

  const NodeSpec spec_;
};

class NodeInjectorKind : public InjectorKind {
 public:
  explicit NodeInjectorKind(bool drain) : drain_(drain) {}
  std::string Name() const override { return drain_ ? "node-drain" : "node-cordon"; }

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    std::vector<std::string> fields = {"nodes", "label_selector"};
    if (drain_) {
      fields.push_back("eviction_timeout");
      fields.push_back("grace_period");
    }
    if (!RequireKubernetesTarget(spec, target, Name())) {
      spec.Finish(fields);
      return nullptr;
    }
    if (!spec.defined()) {
      spec.Error("missing spec: set nodes or label_selector");
      return nullptr;
    }
    if (!spec.ExpectMap()) return nullptr;
    NodeSpec s;
    s.drain = drain_;
    s.nodes = spec.StringList("nodes");
    s.label_selector = spec.String("label_selector", "");
    if (s.nodes.empty() && s.label_selector.empty()) {
      spec.Error("set nodes (names) or label_selector, so the blast radius is explicit");
    }
    if (drain_) {
      s.eviction_timeout = spec.DurationField("eviction_timeout", kDefaultEvictionTimeout,
                                              std::chrono::seconds(1), std::chrono::hours(2));
      std::optional<Duration> grace =
          spec.OptDuration("grace_period", Duration{0}, std::chrono::hours(24));
      if (grace) {
        s.grace_period_s = std::chrono::duration_cast<std::chrono::seconds>(*grace).count();
      }
    }
    spec.Finish();
    return std::make_unique<NodeInjector>(std::move(s));
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    auto r = ParseRecord(record);
    if (!r.ok()) return r.status();
    if (r->was_unschedulable) return Status::Ok();  // it was cordoned before we came
    auto client = SharedKubeClient(r->cluster.kubeconfig, r->cluster.context);
    if (!client.ok()) return client.status();
    KubeRequest get;
    get.ref = ResourceRef::Core("nodes", "", r->node);
    auto node = (*client)->CallJson(get);
    if (!node.ok()) {
      // A node that is gone has nothing left to uncordon.
      return node.status().code() == Status::Code::kNotFound ? Status::Ok() : node.status();
    }
    if (!r->uid.empty() && JsonPathString(*node, {"metadata", "uid"}) != r->uid) {
      return Status::Ok();  // a new node under the same name was never cordoned by us
    }
    const rapidjson::Value* u = JsonPath(*node, {"spec", "unschedulable"});
    if (u == nullptr || !u->IsBool() || !u->GetBool()) return Status::Ok();
    Status st = SetUnschedulable(**client, r->node, false);
    if (!st.ok()) return st;
    (void)PostEvent(**client, EventObject{"v1", "Node", "", r->node, r->uid}, "ChaosReverted",
                    "gameday run " + env.run_id + ": uncordoned node " + r->node,
                    env.clock->WallNow(), "Normal");
    return Status::Ok();
  }

 private:
  const bool drain_;
};

}  // namespace

std::unique_ptr<InjectorKind> MakeNodeDrainInjectorKind() {
  return std::make_unique<NodeInjectorKind>(true);
}

std::unique_ptr<InjectorKind> MakeNodeCordonInjectorKind() {
  return std::make_unique<NodeInjectorKind>(false);
}

}  // namespace gameday

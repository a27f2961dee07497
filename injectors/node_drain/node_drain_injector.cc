#include "injectors/node_drain/node_drain_injector.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "experiments/json.h"
#include "experiments/revert_record.h"
#include "injectors/node_drain/disruption_budgets.h"
#include "injectors/node_drain/eviction_scheduler.h"
#include "injectors/pod_selection/pod_selection.h"

namespace gameday {
namespace {

constexpr Duration kDefaultEvictionTimeout = std::chrono::seconds(120);
// How often a drain looks whether the pods it evicted are gone.
constexpr Duration kGonePoll = std::chrono::milliseconds(100);

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
  std::map<std::string, std::string> labels;
};

// At most this many evictions in flight for one node. Those of one PodDisruptionBudget are
// held to what it allows at the start (at least one), so the first round draws no 429s. Fewer
// in flight per budget is slower, not kinder: measured on the test plane (110 pods, a budget
// allowing 10, a 2-core machine at load 20 to 36), one at a time emptied the node in 39 s,
// three in 30 s, ten in 21 s; the budget, not the pacing, keeps the disruption within bounds.
constexpr size_t kMaxEvictionsInFlight = 32;

// What the API server said in a Status answer ("message"), bounded and on one line, for errors
// whose wording ErrorFor replaces (a 403 from the eviction endpoint is about the budget's state).
std::string ServerSaid(const std::string& body) {
  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_bytes = 1 << 20;
  if (!ParseJson(body, &doc, limits).ok() || !doc.IsObject()) return "";
  std::string m = JsonString(doc, "message");
  if (m.size() > 300) m = m.substr(0, 300) + "...";
  for (char& c : m) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return m;
}

KubeRequest EvictionRequest(const PodToEvict& p, const std::optional<long long>& grace_period_s) {
  KubeRequest req;
  req.verb = "create";
  req.ref = ResourceRef::Core("pods", p.ns, p.name);
  req.ref.subresource = "eviction";
  req.body = "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":" +
             JsonQuote(p.name) + ",\"namespace\":" + JsonQuote(p.ns) +
             "},\"deleteOptions\":{\"preconditions\":{\"uid\":" + JsonQuote(p.uid) + "}" +
             (grace_period_s ? ",\"gracePeriodSeconds\":" + std::to_string(*grace_period_s)
                             : std::string()) +
             "}}";
  // A 429 is a PodDisruptionBudget saying "not now": the eviction scheduler retries it on its
  // own schedule, and a passing server error too.
  req.max_attempts = 1;
  return req;
}

// One eviction, and what its answer means for the drain.
EvictionOutcome Evict(KubeClient& client, const PodToEvict& p,
                      const std::optional<long long>& grace_period_s) {
  const KubeRequest req = EvictionRequest(p, grace_period_s);
  Result<KubeResponse> r = client.Send(req);
  if (!r.ok()) {
    return {r.status().IsTransient() ? EvictionAnswer::kTransient : EvictionAnswer::kFailed,
            r.status(),
            {}};
  }
  const long code = r->status;
  if (code >= 200 && code <= 299) return {EvictionAnswer::kEvicted, Status::Ok(), {}};
  Status err = client.ErrorFor(req, *r);
  // Gone, or replaced by a new pod under the same name (the UID precondition failed): either
  // way the pod this drain listed is not on the node any more.
  if (code == 404 || (code == 409 && err.message().find("recondition") != std::string::npos)) {
    return {EvictionAnswer::kGone, Status::Ok(), {}};
  }
  if (code == 429) return {EvictionAnswer::kRefused, err, r->retry_after};
  if (code == 502 || code == 503 || code == 504) {
    return {EvictionAnswer::kTransient, err, r->retry_after};
  }
  if (code == 403) {
    // Also what a budget in a state the server will not evict under answers ("pdb disruptions
    // allowed is negative", "DisruptedPods map too big").
    const std::string said = ServerSaid(r->body);
    if (!said.empty()) err = Status::PermissionDenied(err.message() + " (" + said + ")");
  }
  return {EvictionAnswer::kFailed, err, {}};
}

// "a/b, c/d and 7 more": pod names for a message, at most `max` of them.
std::string PodList(const std::vector<const PodToEvict*>& pods, size_t max = 10) {
  std::string names;
  for (size_t i = 0; i < pods.size() && i < max; ++i) {
    names += (names.empty() ? "" : ", ") + pods[i]->ns + "/" + pods[i]->name;
  }
  if (pods.size() > max) names += " and " + std::to_string(pods.size() - max) + " more";
  return names;
}

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
    std::string summary;
    st = Drain(**client, node, env, &summary);
    if (!st.ok()) return st;
    (void)PostEvent(**client, obj, "ChaosInjected",
                    "gameday run " + env.run_id + ": drained node " + node + " (" + summary + ")",
                    env.clock->WallNow());
    return Status::Ok();
  }

  bool Reversible() const override { return true; }

  std::vector<ApiAccess> ApiAccesses() const override {
    const std::string kind = spec_.drain ? "node-drain" : "node-cordon";
    std::vector<ApiAccess> out = {AccessTo(ResourceRef::Core("nodes"), {"get", "list", "patch"},
                                           kind + ": find the nodes, cordon and uncordon them"),
                                  EventAccess("", kind + ": Events on the nodes")};
    if (spec_.drain) {
      // The pods of a node can be in any namespace.
      out.push_back(AccessTo(ResourceRef::Core("pods"), {"list"}, kind + ": the node's pods"));
      ResourceRef eviction = ResourceRef::Core("pods");
      eviction.subresource = "eviction";
      out.push_back(AccessTo(eviction, {"create"}, kind + ": evict them"));
      ApiAccess budgets = AccessTo(ResourceRef::Group("policy", "v1", "poddisruptionbudgets"),
                                   {"list"}, kind + ": pace the evictions by their budgets");
      budgets.optional = true;  // without it, the API server's 429s pace them
      out.push_back(std::move(budgets));
    }
    return out;
  }

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
      PodToEvict p{ns, name, JsonPathString(pod, {"metadata", "uid"}), {}};
      if (const rapidjson::Value* labels = JsonPath(pod, {"metadata", "labels"});
          labels && labels->IsObject()) {
        for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
          if (it->value.IsString()) p.labels[it->name.GetString()] = it->value.GetString();
        }
      }
      out.push_back(std::move(p));
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    return out;
  }

  // The budgets of the namespaces the pods are in, to pace their evictions (see
  // disruption_budgets.h). Reading them is not required: without the permission, or on any
  // error, a namespace's pods are paced as if no budget covered them, and the API server's 429s
  // hold them back instead.
  std::vector<DisruptionBudget> Budgets(KubeClient& client, const std::vector<PodToEvict>& pods) {
    std::set<std::string> namespaces;
    for (const PodToEvict& p : pods) namespaces.insert(p.ns);
    std::vector<DisruptionBudget> out;
    for (const std::string& ns : namespaces) {
      (void)client.List(ResourceRef::Group("policy", "v1", "poddisruptionbudgets", ns), {},
                        [&](const rapidjson::Value& pdb) {
                          out.push_back(DisruptionBudget::FromJson(pdb));
                          out.back().ns = ns;
                          return Status::Ok();
                        });
    }
    return out;
  }

  Status Drain(KubeClient& client, const std::string& node, const InjectorEnv& env,
               std::string* summary) {
    std::vector<std::string> skipped;
    auto listed = PodsToEvict(client, node, env.target, &skipped);
    if (!listed.ok()) return listed.status();
    const std::vector<PodToEvict>& pods = *listed;
    Clock& clock = *env.clock;
    const MonoTime start = clock.Now();
    const MonoTime deadline = start + spec_.eviction_timeout;

    std::vector<PodLabels> labels;
    for (const PodToEvict& p : pods) labels.push_back({p.ns, p.labels});
    const EvictionGroups groups =
        GroupByBudget(labels, Budgets(client, pods), kMaxEvictionsInFlight, kMaxEvictionsInFlight);
    EvictionSchedule schedule;
    schedule.max_in_flight = kMaxEvictionsInFlight;
    schedule.group_limits = groups.group_limits;
    schedule.deadline = deadline;
    schedule.clock = &clock;
    const std::optional<long long> grace = spec_.grace_period_s;
    const EvictionTally tally = RunEvictions(
        groups.pod_groups, schedule, [&](size_t i) { return Evict(client, pods[i], grace); });

    if (!tally.failure.ok()) {
      const PodToEvict& p = pods[tally.failed_pod];
      return Status(tally.failure.code(), "draining node " + node + ": evicting pod " + p.ns + "/" +
                                              p.name + " failed: " + tally.failure.message());
    }
    if (tally.Left() > 0) {
      std::vector<const PodToEvict*> left;
      std::string last;
      for (size_t i = 0; i < pods.size(); ++i) {
        if (tally.done[i]) continue;
        left.push_back(&pods[i]);
        if (!tally.last_status[i].ok()) last = tally.last_status[i].message();
      }
      return Status::DeadlineExceeded(
          "draining node " + node + ": eviction of " + PodList(left) + " still refused after " +
          FormatDuration(spec_.eviction_timeout) + " (a PodDisruptionBudget does not allow it" +
          (last.empty() ? ")" : "): " + last));
    }

    // Like kubectl drain: wait until the evicted pods are gone, looking at the node's pods.
    std::map<std::string, const PodToEvict*> waiting;  // uid -> pod
    size_t evicted = 0;
    for (size_t i = 0; i < pods.size(); ++i) {
      if (tally.gone[i]) continue;
      ++evicted;
      waiting[pods[i].uid] = &pods[i];
    }
    while (!waiting.empty()) {
      std::set<std::string> present;
      ListOptions opts;
      opts.field_selector = "spec.nodeName=" + node;
      auto rv = client.List(ResourceRef::Core("pods"), opts, [&](const rapidjson::Value& pod) {
        present.insert(JsonPathString(pod, {"metadata", "uid"}));
        return Status::Ok();
      });
      if (rv.ok()) {
        std::erase_if(waiting, [&](const auto& kv) { return !present.count(kv.first); });
      }
      if (waiting.empty()) break;
      if (clock.Now() >= deadline) {
        std::vector<const PodToEvict*> left;
        for (const auto& [uid, p] : waiting) left.push_back(p);
        return Status::DeadlineExceeded(
            "draining node " + node + ": pod(s) " + PodList(left) +
            " were evicted but are still there after " + FormatDuration(spec_.eviction_timeout) +
            (rv.ok() ? "" : " (listing the node's pods: " + rv.status().message() + ")"));
      }
      clock.SleepFor(kGonePoll, std::stop_token());
    }
    *summary = std::to_string(evicted) + " pod(s) evicted";
    if (evicted < pods.size()) {
      *summary += ", " + std::to_string(pods.size() - evicted) + " already gone";
    }
    *summary += " in " + FormatDuration(clock.Now() - start) + "; " +
                std::to_string(tally.refusals) + " eviction(s) refused by a disruption budget";
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

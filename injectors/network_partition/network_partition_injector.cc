#include "injectors/network_partition/network_partition_injector.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/credentials.h"
#include "experiments/json.h"
#include "experiments/revert_record.h"
#include "injectors/pod_selection/pod_selection.h"

namespace gameday {
namespace {

constexpr char kKind[] = "network-partition";
constexpr char kGroupLabel[] = "gameday.io/partition";
// A fault without a duration lasts until the run reverts it; its expiry says when a person
// looking at a leftover may delete it.
constexpr Duration kDefaultExpiry = std::chrono::hours(1);
constexpr Duration kExpiryMargin = std::chrono::seconds(30);

enum class Direction { kTo, kFrom, kBoth };

struct PartitionSpec {
  PodSelectSpec select;
  Direction direction = Direction::kBoth;
  std::string direction_name = "both";
};

struct PartitionRecord {
  ClusterIdentity cluster;
  std::string ns, pod, uid, policy, group, run_id;
};

// A valid label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends.
std::string LabelValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    out +=
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '-';
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  return out.empty() ? "none" : out;
}

std::string PolicyName(const PodIdentity& pod) {
  std::string base = pod.name.substr(0, 30);
  for (char& c : base) {
    if (c == '.') c = '-';
  }
  while (!base.empty() && base.back() == '-') base.pop_back();
  return "gameday-partition-" + base + "-" +
         KubeNameHash(pod.ns + "/" + pod.name + "/" + pod.uid, 8);
}

// Reads a revert record, checking every field before anything acts on it: the names are what
// the API server accepts and the policy is one PolicyName makes, so a record gameday could not
// have written is refused (InvalidArgument) and nothing is deleted or patched.
Result<PartitionRecord> ParseRecord(const std::string& text) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("invalid network-partition revert record: " + what);
  };
  rapidjson::Document doc;
  if (Status s = ParseRevertRecord(
          text, "network-partition",
          {"kubeconfig", "context", "namespace", "pod", "uid", "policy", "group", "run_id"}, &doc);
      !s.ok()) {
    return s;
  }
  PartitionRecord r;
  r.cluster.kubeconfig = JsonString(doc, "kubeconfig");
  r.cluster.context = JsonString(doc, "context");
  r.ns = JsonString(doc, "namespace");
  r.pod = JsonString(doc, "pod");
  r.uid = JsonString(doc, "uid");
  r.policy = JsonString(doc, "policy");
  r.group = JsonString(doc, "group");
  r.run_id = JsonString(doc, "run_id");
  if (!IsDns1123Label(r.ns)) return bad("namespace is not a DNS-1123 label");
  if (!IsDns1123Subdomain(r.policy) || r.policy.rfind("gameday-partition-", 0) != 0) {
    return bad("policy is not one gameday makes (gameday-partition-...)");
  }
  if (!r.pod.empty() && !IsDns1123Subdomain(r.pod)) return bad("pod is not a DNS-1123 name");
  if (!r.uid.empty() && !IsKubeUid(r.uid)) return bad("uid is not a Kubernetes uid");
  if (!r.group.empty() && LabelValue(r.group) != r.group) return bad("group is not a label value");
  if (!IsPlainText(r.cluster.kubeconfig) || !IsPlainText(r.cluster.context) ||
      !IsPlainText(r.run_id)) {
    return bad("kubeconfig, context or run_id holds a control character");
  }
  return r;
}

class PartitionInjector : public Injector {
 public:
  explicit PartitionInjector(PartitionSpec spec) : spec_(std::move(spec)) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    return DiscoverPods(spec_.select, env.target);
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const ClusterIdentity id = IdentityOf(**client);
    const PodIdentity pod = PodIdentity::FromTarget(target);
    return "{" + IdentityJsonMembers(id) + ",\"namespace\":" + JsonQuote(pod.ns) +
           ",\"pod\":" + JsonQuote(pod.name) + ",\"uid\":" + JsonQuote(pod.uid) +
           ",\"policy\":" + JsonQuote(PolicyName(pod)) + ",\"group\":" + JsonQuote(Group(env)) +
           ",\"run_id\":" + JsonQuote(env.run_id) + "}";
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const PodIdentity pod = PodIdentity::FromTarget(target);
    if (Status s = CheckNamespaceAllowed(env.target, pod.ns); !s.ok()) return s;
    const std::string group = Group(env);
    // 1. Mark the chosen pod, so the policy selects exactly the chosen pods: their own labels
    // are shared with siblings that were not chosen. The uid makes a replaced pod fail.
    KubeRequest label;
    label.verb = "patch";
    label.ref = ResourceRef::Core("pods", pod.ns, pod.name);
    label.content_type = "application/merge-patch+json";
    label.body = "{\"metadata\":{\"uid\":" + JsonQuote(pod.uid) + ",\"labels\":{" +
                 JsonQuote(kGroupLabel) + ":" + JsonQuote(group) + "}}}";
    Result<KubeResponse> labelled = (*client)->Call(label);
    if (!labelled.ok()) return labelled.status();

    // 2. The policy (idempotent: it may exist from an earlier attempt).
    const Duration life = env.duration.count() > 0 ? env.duration + kExpiryMargin : kDefaultExpiry;
    const std::string expires =
        FormatKubeTime(env.clock->WallNow() + std::chrono::duration_cast<WallTime::duration>(life));
    const std::string selector =
        "{\"matchLabels\":{" + JsonQuote(kGroupLabel) + ":" + JsonQuote(group) + "}}";
    std::string types, rules;
    if (spec_.direction != Direction::kFrom) {
      types += "\"Ingress\"";
      rules += ",\"ingress\":[{\"from\":[{\"podSelector\":" + selector + "}]}]";
    }
    if (spec_.direction != Direction::kTo) {
      types += std::string(types.empty() ? "" : ",") + "\"Egress\"";
      rules += ",\"egress\":[{\"to\":[{\"podSelector\":" + selector + "}]}]";
    }
    KubeRequest create;
    create.verb = "create";
    create.ref = ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", pod.ns);
    create.body =
        "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{"
        "\"name\":" +
        JsonQuote(PolicyName(pod)) + ",\"namespace\":" + JsonQuote(pod.ns) +
        ",\"labels\":{\"app.kubernetes.io/managed-by\":\"gameday\",\"gameday.io/run-id\":" +
        JsonQuote(LabelValue(env.run_id)) + "," + JsonQuote(kGroupLabel) + ":" + JsonQuote(group) +
        "},\"annotations\":{\"gameday.io/expires-at\":" + JsonQuote(expires) +
        ",\"gameday.io/target-pod\":" + JsonQuote(pod.ns + "/" + pod.name) +
        ",\"gameday.io/direction\":" + JsonQuote(spec_.direction_name) +
        "}},\"spec\":{\"podSelector\":" + selector + ",\"policyTypes\":[" + types + "]" + rules +
        "}}";
    Result<KubeResponse> created = (*client)->Call(create);
    if (!created.ok() && created.status().code() != Status::Code::kFailedPrecondition) {
      return created.status();
    }
    (void)PostEvent(**client, EventObject{"v1", "Pod", pod.ns, pod.name, pod.uid}, "ChaosInjected",
                    "gameday run " + env.run_id + ": " + DescribeAction(target),
                    env.clock->WallNow());
    return Status::Ok();
  }

  bool Reversible() const override { return true; }

  std::vector<ApiAccess> ApiAccesses() const override {
    std::vector<ApiAccess> out =
        PodAccesses(spec_.select, {"get", "patch"}, kKind, "find the pods and (un)mark them", true);
    for (const std::string& ns : spec_.select.namespaces) {
      out.push_back(AccessTo(ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", ns),
                             {"create", "delete"},
                             "network-partition: the NetworkPolicy that cuts the traffic"));
    }
    return out;
  }

  std::string DescribeAction(const FaultTarget& target) const override {
    const PodIdentity pod = PodIdentity::FromTarget(target);
    const char* what = spec_.direction == Direction::kTo     ? "cut traffic to"
                       : spec_.direction == Direction::kFrom ? "cut traffic from"
                                                             : "cut traffic to and from";
    return std::string(what) + " pod " + pod.ns + "/" + pod.name +
           " (except the other partitioned pods) with NetworkPolicy " + PolicyName(pod);
  }

 private:
  // The label value shared by every pod this step partitions in this run.
  std::string Group(const InjectorEnv& env) const {
    return "gd-" + KubeNameHash(env.run_id + "|" + spec_.select.namespaces.front() + "|" +
                                    spec_.select.label_selector + "|" +
                                    spec_.select.field_selector + "|" + spec_.direction_name,
                                12);
  }

  const PartitionSpec spec_;
};

class PartitionInjectorKind : public InjectorKind {
 public:
  std::string Name() const override { return kKind; }

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const std::vector<std::string> fields = {"namespace", "label_selector", "field_selector",
                                             "direction"};
    if (!RequireKubernetesTarget(spec, target, kKind)) {
      spec.Finish(fields);
      return nullptr;
    }
    if (!spec.defined()) {
      spec.Error("missing spec: set namespace and label_selector");
      return nullptr;
    }
    if (!spec.ExpectMap()) return nullptr;
    PartitionSpec s;
    s.select = ParsePodSelect(spec, target);
    if (s.select.all_namespaces || s.select.namespaces.size() > 1) {
      spec.Error("a network partition acts on one namespace: set namespace");
    }
    s.direction_name = spec.Enum("direction", {"to", "from", "both"}, "both");
    s.direction = s.direction_name == "to"     ? Direction::kTo
                  : s.direction_name == "from" ? Direction::kFrom
                                               : Direction::kBoth;
    spec.Finish();
    if (s.select.namespaces.empty()) return nullptr;
    return std::make_unique<PartitionInjector>(std::move(s));
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    auto r = ParseRecord(record);
    if (!r.ok()) return r.status();
    auto client = SharedKubeClient(r->cluster.kubeconfig, r->cluster.context);
    if (!client.ok()) return client.status();
    KubeRequest del;
    del.verb = "delete";
    del.ref = ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", r->ns, r->policy);
    Result<KubeResponse> deleted = (*client)->Call(del);
    if (!deleted.ok() && deleted.status().code() != Status::Code::kNotFound) {
      return deleted.status();
    }
    if (r->pod.empty()) return Status::Ok();
    // Unmark the pod, if it is still the same pod and still carries this run's mark.
    KubeRequest get;
    get.ref = ResourceRef::Core("pods", r->ns, r->pod);
    auto pod = (*client)->CallJson(get);
    if (!pod.ok()) {
      return pod.status().code() == Status::Code::kNotFound ? Status::Ok() : pod.status();
    }
    if (JsonPathString(*pod, {"metadata", "uid"}) != r->uid) return Status::Ok();
    if (JsonPathString(*pod, {"metadata", "labels", kGroupLabel}) == r->group) {
      KubeRequest unlabel;
      unlabel.verb = "patch";
      unlabel.ref = get.ref;
      unlabel.content_type = "application/merge-patch+json";
      unlabel.body = "{\"metadata\":{\"uid\":" + JsonQuote(r->uid) + ",\"labels\":{" +
                     JsonQuote(kGroupLabel) + ":null}}}";
      Result<KubeResponse> patched = (*client)->Call(unlabel);
      if (!patched.ok() && patched.status().code() != Status::Code::kNotFound) {
        return patched.status();
      }
    }
    if (deleted.ok()) {
      (void)PostEvent(**client, EventObject{"v1", "Pod", r->ns, r->pod, r->uid}, "ChaosReverted",
                      "gameday run " + r->run_id + ": removed NetworkPolicy " + r->policy,
                      env.clock->WallNow(), "Normal");
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakeNetworkPartitionInjectorKind() {
  return std::make_unique<PartitionInjectorKind>();
}

}  // namespace gameday

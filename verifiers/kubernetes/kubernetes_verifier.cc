#include "verifiers/kubernetes/kubernetes_verifier.h"

#include <rapidjson/document.h>

#include <optional>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "experiments/json.h"
#include "verifiers/kube_prober/kube_prober.h"

namespace gameday {
namespace {

constexpr Duration kDefaultTimeout = std::chrono::seconds(2);

struct WorkloadKind {
  const char* kind;
  const char* resource;
};
constexpr WorkloadKind kWorkloads[] = {{"Deployment", "deployments"},
                                       {"StatefulSet", "statefulsets"},
                                       {"DaemonSet", "daemonsets"},
                                       {"ReplicaSet", "replicasets"}};

struct KubernetesProbeSpec {
  enum class What { kWorkload, kPods, kNode };
  What what = What::kWorkload;
  std::string kind;  // workload kind
  std::string resource;
  std::string ns;
  std::string name;  // workload or node
  std::string label_selector;
  std::optional<long long> min_ready;  // pods: at least this many Ready (default: all, >= 1)
  Duration timeout = kDefaultTimeout;
};

std::optional<long long> IntAt(const rapidjson::Value& obj, std::initializer_list<const char*> p) {
  const rapidjson::Value* v = JsonPath(obj, p);
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

// The status of condition `type` ("True", "False", "Unknown"), or "" when absent.
std::string Condition(const rapidjson::Value& obj, const char* type, std::string* reason) {
  const rapidjson::Value* conds = JsonPath(obj, {"status", "conditions"});
  if (conds == nullptr || !conds->IsArray()) return "";
  for (const rapidjson::Value& c : conds->GetArray()) {
    if (JsonString(c, "type") == type) {
      if (reason) *reason = JsonString(c, "reason");
      return JsonString(c, "status");
    }
  }
  return "";
}

class KubernetesVerifier : public Verifier {
 public:
  KubernetesVerifier(KubernetesProbeSpec spec, TargetSpec target)
      : spec_(std::move(spec)), prober_(std::move(target)) {
    request_.verb = "get";
    request_.timeout = spec_.timeout;
    request_.max_attempts = 1;
    switch (spec_.what) {
      case KubernetesProbeSpec::What::kWorkload:
        request_.ref = ResourceRef::Group("apps", "v1", spec_.resource, spec_.ns, spec_.name);
        break;
      case KubernetesProbeSpec::What::kPods:
        request_.verb = "list";
        request_.ref = ResourceRef::Core("pods", spec_.ns);
        if (!spec_.label_selector.empty()) {
          request_.query.emplace_back("labelSelector", spec_.label_selector);
        }
        break;
      case KubernetesProbeSpec::What::kNode:
        request_.ref = ResourceRef::Core("nodes", "", spec_.name);
        break;
    }
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    prober_.Begin(io, request_, [this, done = std::move(done)](const KubeProbeResult& r) {
      ProbeOutcome out;
      out.latency_ms = r.latency_ms;
      Evaluate(r, &out);
      done(std::move(out));
    });
  }

  std::vector<ApiAccess> ApiAccesses() const override {
    return {AccessFor(request_, "kubernetes verifier: " + Describe())};
  }

  std::string Describe() const override {
    switch (spec_.what) {
      case KubernetesProbeSpec::What::kWorkload:
        return spec_.kind + " " + spec_.ns + "/" + spec_.name + " has its desired ready replicas";
      case KubernetesProbeSpec::What::kPods:
        return "pods in " + spec_.ns +
               (spec_.label_selector.empty() ? "" : " matching " + spec_.label_selector) +
               (spec_.min_ready ? " have at least " + std::to_string(*spec_.min_ready) + " Ready"
                                : " are all Ready");
      case KubernetesProbeSpec::What::kNode:
        return "node " + spec_.name + " is Ready";
    }
    return "";
  }

 private:
  void Evaluate(const KubeProbeResult& r, ProbeOutcome* out) const {
    // No answer, or no usable answer: we cannot see the workload, which says nothing about it.
    if (r.curl_code != 0) {
      out->health = Health::kUnknown;
      out->detail = "API server unreachable: " + r.error;
      return;
    }
    if (r.status == 404) {
      out->health = Health::kUnhealthy;
      out->value = 0;
      out->detail = (spec_.what == KubernetesProbeSpec::What::kNode
                         ? "node " + spec_.name
                         : spec_.kind + " " + spec_.ns + "/" + spec_.name) +
                    " not found";
      return;
    }
    if (r.status < 200 || r.status > 299) {
      out->health = Health::kUnknown;
      out->detail =
          r.refusal.empty() ? "API server answered " + std::to_string(r.status) : r.refusal;
      return;
    }
    rapidjson::Document doc;
    const Status parsed = ParseJson(r.body, &doc);  // the probe keeps at most 4 MiB anyway
    if (!parsed.ok()) {
      out->health = Health::kUnknown;
      out->detail = "the API server's answer cannot be read: " + parsed.message();
      return;
    }
    if (!doc.IsObject()) {
      out->health = Health::kUnknown;
      out->detail = "the API server's answer is not a JSON object";
      return;
    }
    switch (spec_.what) {
      case KubernetesProbeSpec::What::kWorkload:
        return EvaluateWorkload(doc, out);
      case KubernetesProbeSpec::What::kPods:
        return EvaluatePods(doc, out);
      case KubernetesProbeSpec::What::kNode:
        return EvaluateNode(doc, out);
    }
  }

  void EvaluateWorkload(const rapidjson::Document& doc, ProbeOutcome* out) const {
    long long desired, ready;
    if (spec_.kind == "DaemonSet") {
      desired = IntAt(doc, {"status", "desiredNumberScheduled"}).value_or(0);
      ready = IntAt(doc, {"status", "numberReady"}).value_or(0);
    } else {
      desired = IntAt(doc, {"spec", "replicas"}).value_or(1);
      ready = IntAt(doc, {"status", "readyReplicas"}).value_or(0);
    }
    out->value = static_cast<double>(ready);
    const bool ok = ready >= desired;
    out->health = ok ? Health::kHealthy : Health::kUnhealthy;
    if (!ok) out->detail = std::to_string(ready) + "/" + std::to_string(desired) + " ready";
  }

  void EvaluatePods(const rapidjson::Document& doc, ProbeOutcome* out) const {
    const rapidjson::Value* items = JsonPath(doc, {"items"});
    long long total = 0, ready = 0;
    std::string first_bad;
    if (items != nullptr && items->IsArray()) {
      for (const rapidjson::Value& pod : items->GetArray()) {
        const std::string phase = JsonPathString(pod, {"status", "phase"});
        if (phase == "Succeeded") continue;  // finished jobs are not replicas
        ++total;
        const bool terminating = JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr;
        if (!terminating && Condition(pod, "Ready", nullptr) == "True") {
          ++ready;
        } else if (first_bad.empty()) {
          first_bad = JsonPathString(pod, {"metadata", "name"}) +
                      (terminating ? " terminating" : " not Ready (" + phase + ")");
        }
      }
    }
    out->value = static_cast<double>(ready);
    bool ok;
    if (spec_.min_ready) {
      ok = ready >= *spec_.min_ready;
    } else {
      ok = total > 0 && ready == total;
    }
    out->health = ok ? Health::kHealthy : Health::kUnhealthy;
    if (!ok) {
      out->detail = total == 0 ? "no pods match"
                               : std::to_string(ready) + "/" + std::to_string(total) +
                                     " pods Ready" + (first_bad.empty() ? "" : "; " + first_bad);
    }
  }

  void EvaluateNode(const rapidjson::Document& doc, ProbeOutcome* out) const {
    std::string reason;
    const std::string status = Condition(doc, "Ready", &reason);
    const bool ok = status == "True";
    out->value = ok ? 1 : 0;
    out->health = ok ? Health::kHealthy : Health::kUnhealthy;
    if (!ok) {
      out->detail = "node " + spec_.name + " Ready=" + (status.empty() ? "missing" : status) +
                    (reason.empty() ? "" : " (" + reason + ")");
    }
  }

  const KubernetesProbeSpec spec_;
  KubeProber prober_;
  KubeRequest request_;
};

class KubernetesVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "kubernetes"; }

  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const std::vector<std::string> fields = {"workload", "pods", "node", "timeout"};
    if (target.kind != "kubernetes") {
      spec.Error("the kubernetes verifier needs a kubernetes target (target.kind is '" +
                 target.kind + "')");
      spec.Finish(fields);
      return nullptr;
    }
    if (!spec.defined() || !spec.ExpectMap()) {
      if (!spec.defined()) spec.Error("missing spec: set one of workload, pods or node");
      return nullptr;
    }
    KubernetesProbeSpec s;
    int set = 0;
    SpecNode workload = spec.Child("workload");
    SpecNode pods = spec.Child("pods");
    SpecNode node = spec.Child("node");
    if (workload.defined() && workload.ExpectMap()) {
      ++set;
      s.what = KubernetesProbeSpec::What::kWorkload;
      std::vector<std::string> kinds;
      for (const WorkloadKind& k : kWorkloads) kinds.push_back(k.kind);
      s.kind = workload.Enum("kind", kinds, "Deployment");
      for (const WorkloadKind& k : kWorkloads) {
        if (s.kind == k.kind) s.resource = k.resource;
      }
      s.ns = workload.String("namespace", "default");
      s.name = workload.RequiredString("name");
      workload.Finish();
    }
    if (pods.defined() && pods.ExpectMap()) {
      ++set;
      s.what = KubernetesProbeSpec::What::kPods;
      s.ns = pods.RequiredString("namespace");
      s.label_selector = pods.String("label_selector", "");
      s.min_ready = pods.OptInt("min_ready", 0, 1000000);
      pods.Finish();
    }
    if (node.defined() && node.ExpectMap()) {
      ++set;
      s.what = KubernetesProbeSpec::What::kNode;
      s.name = node.RequiredString("name");
      node.Finish();
    }
    if (set != 1) spec.Error("set exactly one of workload, pods or node");
    s.timeout = spec.DurationField("timeout", kDefaultTimeout, std::chrono::milliseconds(10),
                                   std::chrono::minutes(5));
    spec.Finish();
    return std::make_unique<KubernetesVerifier>(std::move(s), target);
  }
};

}  // namespace

std::unique_ptr<VerifierKind> MakeKubernetesVerifierKind() {
  return std::make_unique<KubernetesVerifierKind>();
}

}  // namespace gameday

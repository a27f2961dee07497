#include "injectors/pod_kill/pod_kill_injector.h"

#include <rapidjson/document.h>

#include <mutex>
#include <optional>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "experiments/json.h"
#include "experiments/revert_record.h"
#include "injectors/pod_selection/pod_selection.h"

namespace gameday {
namespace {

constexpr char kKind[] = "pod-kill";

struct PodKillSpec {
  PodSelectSpec select;
  std::optional<long long> grace_period_s;  // none = the pod's own
};

class PodKillInjector : public Injector {
 public:
  explicit PodKillInjector(PodKillSpec spec) : spec_(std::move(spec)) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    return DiscoverPods(spec_.select, env.target);
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const ClusterIdentity id = IdentityOf(**client);
    const PodIdentity pod = PodIdentity::FromTarget(target);
    // Nothing to undo, but the record says exactly which pod was killed, on which cluster.
    return "{" + IdentityJsonMembers(id) + ",\"namespace\":" + JsonQuote(pod.ns) +
           ",\"name\":" + JsonQuote(pod.name) + ",\"uid\":" + JsonQuote(pod.uid) + "}";
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const PodIdentity pod = PodIdentity::FromTarget(target);
    if (Status s = CheckNamespaceAllowed(env.target, pod.ns); !s.ok()) return s;
    KubeRequest req;
    req.verb = "delete";
    req.ref = ResourceRef::Core("pods", pod.ns, pod.name);
    req.body =
        "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":{\"uid\":" +
        JsonQuote(pod.uid) + "}" +
        (spec_.grace_period_s ? ",\"gracePeriodSeconds\":" + std::to_string(*spec_.grace_period_s)
                              : std::string()) +
        "}";
    Result<KubeResponse> r = (*client)->Call(req);
    if (!r.ok()) {
      // Gone already (404), or the name now belongs to a replacement (409 on the UID
      // precondition): the pod this fault chose no longer exists, which is the kill's outcome.
      if (r.status().code() == Status::Code::kNotFound ||
          (r.status().code() == Status::Code::kFailedPrecondition &&
           r.status().message().find("recondition") != std::string::npos)) {
        return Status::Ok();
      }
      return r.status();
    }
    // Best effort, in the background: the kill is confirmed once the DELETE is answered, and a
    // missing right to create events must not turn a kill into a failure. The step's kills past
    // the first few are combined into one Event per namespace.
    EventNote note;
    note.object = EventObject{"v1", "Pod", pod.ns, pod.name, pod.uid};
    note.reason = "ChaosInjected";
    note.message = "gameday run " + env.run_id + ": " + DescribeAction(target);
    note.time = env.clock->WallNow();
    note.group = env.run_id + "/" + std::to_string(env.seed);  // the seed is per step and round
    note.group_text = "gameday run " + env.run_id;
    note.action = "deleted";
    SharedEventRecorder(*client).Record(std::move(note));
    return Status::Ok();
  }

  bool Reversible() const override { return false; }

  std::vector<ApiAccess> ApiAccesses() const override {
    return PodAccesses(spec_.select, {"delete"}, kKind, "find the pods and delete them", true);
  }

  std::string DescribeAction(const FaultTarget& target) const override {
    const PodIdentity pod = PodIdentity::FromTarget(target);
    std::string s = "delete pod " + pod.ns + "/" + pod.name + " (uid " + pod.uid;
    if (spec_.grace_period_s) s += ", grace period " + std::to_string(*spec_.grace_period_s) + "s";
    return s + ")";
  }

 private:
  const PodKillSpec spec_;
};

class PodKillInjectorKind : public InjectorKind {
 public:
  std::string Name() const override { return kKind; }

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    PodKillSpec s;
    if (!RequireKubernetesTarget(spec, target, kKind)) {
      spec.Finish({"namespace", "namespaces", "all_namespaces", "label_selector", "field_selector",
                   "grace_period"});
      return nullptr;
    }
    if (spec.defined() && !spec.ExpectMap()) return nullptr;
    s.select = ParsePodSelect(spec, target);
    std::optional<Duration> grace =
        spec.OptDuration("grace_period", Duration{0}, std::chrono::hours(24));
    if (grace) s.grace_period_s = std::chrono::duration_cast<std::chrono::seconds>(*grace).count();
    spec.Finish();
    return std::make_unique<PodKillInjector>(std::move(s));
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    // A deleted pod cannot be brought back by us; its controller replaces it. The record is
    // still checked, so a journal line that is not one gameday wrote is reported, not cleared.
    rapidjson::Document doc;
    if (Status s = ParseRevertRecord(record, kKind,
                                     {"kubeconfig", "context", "namespace", "name", "uid"}, &doc);
        !s.ok()) {
      return s;
    }
    if (!IsDns1123Label(JsonString(doc, "namespace")) ||
        !IsDns1123Subdomain(JsonString(doc, "name"))) {
      return Status::InvalidArgument(
          "invalid pod-kill revert record: namespace or name is not a DNS-1123 name");
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakePodKillInjectorKind() {
  return std::make_unique<PodKillInjectorKind>();
}

}  // namespace gameday

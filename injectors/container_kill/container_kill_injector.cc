#include "injectors/container_kill/container_kill_injector.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "clients/inventory/inventory.h"
#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "injectors/container_kill/container_process.h"
#include "injectors/container_kill/container_timeline.h"
#include "injectors/pod_selection/pod_selection.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kKind[] = "container-kill";
// The find script reads every process's cgroup file; the signal script waits at most kSignalWait.
constexpr Duration kFindTimeout = seconds(30);
constexpr Duration kSignalWait = seconds(10);
constexpr Duration kSshSlack = seconds(15);
constexpr Duration kMaxRestartWait = std::chrono::minutes(10);

enum class Action { kKill, kFreeze };

struct Spec {
  PodSelectSpec select;
  std::string container;  // "" = the pod's first container
  Action action = Action::kKill;
  std::string signal = "KILL";
  Duration restart_wait = seconds(30);  // kill: how long the revert waits for a restart
  bool on_host_expiry = true;           // freeze
  Duration expiry_margin = seconds(30);
};

// What RevertRecord found for one target, for its Inject.
struct Prepared {
  InventoryHost host;
  PodContainer container;
  HostProcess process;
  std::optional<OnHostExpiry> expiry;
  ContainerSettings settings;  // the container's probes, for the expected timeline
  ContainerStages before;      // its state before the fault
};

// What this process knows of each fault it put in (by pod uid and container), for the note of
// its revert; a revert in another process (`gameday recover`) finds nothing and says less.
struct Injected {
  ContainerSettings settings;
  ContainerStages before;
  WallTime at;
};
class InjectedBook {
 public:
  void Put(const std::string& key, Injected i) {
    std::lock_guard lock(mu_);
    if (book_.size() >= 4096) book_.erase(book_.begin());
    book_[key] = std::move(i);
  }
  std::optional<Injected> Take(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = book_.find(key);
    if (it == book_.end()) return std::nullopt;
    Injected i = std::move(it->second);
    book_.erase(it);
    return i;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Injected> book_;
};

std::string PodName(const PodIdentity& p) { return p.ns + "/" + p.name; }

std::string SignalName(const Spec& s) { return s.action == Action::kFreeze ? "STOP" : s.signal; }

// "container app of pod shop/web-1: restartCount 0 -> 1".
std::string RestartText(const std::string& container, const std::string& pod, int64_t before,
                        const std::string& after) {
  return "container " + container + " of pod " + pod + ": restartCount " + std::to_string(before) +
         " -> " + after;
}

class ContainerKillInjector : public Injector {
 public:
  ContainerKillInjector(Spec spec, Inventory inventory, std::shared_ptr<SshClient> ssh,
                        std::shared_ptr<InjectedBook> book)
      : spec_(std::move(spec)),
        inventory_(std::move(inventory)),
        ssh_(std::move(ssh)),
        book_(std::move(book)),
        token_(RandomFaultToken()) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    return DiscoverPods(spec_.select, env.target);
  }

  // Everything is looked up here, before the journal: the pod's container and its id through the
  // API, the node's host, and on the host the container's main process (pid and start time),
  // which the record carries so that no other process is ever signalled or resumed.
  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const PodIdentity pod = PodIdentity::FromTarget(target);
    if (Status s = CheckNamespaceAllowed(env.target, pod.ns); !s.ok()) return s;
    KubeRequest req;
    req.ref = ResourceRef::Core("pods", pod.ns, pod.name);
    Result<rapidjson::Document> doc = (*client)->CallJson(req);
    if (!doc.ok()) {
      return Status(doc.status().code(), std::string(kKind) + ": reading pod " + PodName(pod) +
                                             ": " + doc.status().message());
    }
    Result<PodContainer> c = ReadPodContainer(*doc, pod.uid, spec_.container);
    if (!c.ok()) return Status(c.status().code(), std::string(kKind) + ": " + c.status().message());
    Result<InventoryHost> host = FindNodeHost(inventory_, c->node);
    if (!host.ok()) {
      return Status(host.status().code(),
                    std::string(kKind) + ": pod " + PodName(pod) + ": " + host.status().message());
    }
    const std::string where = "pod " + PodName(pod) + ", container " + c->name + " (" +
                              c->id.ToString() + ") on node " + c->node + ", host " + host->name;
    Result<CommandResult> found = ssh_->Run(host->ssh, FindMainProcessScript(c->id), kFindTimeout);
    if (!found.ok()) {
      return Status(found.status().code(),
                    std::string(kKind) + ": " + where +
                        ": finding its main process: " + found.status().message());
    }
    if (!found->ok()) {
      return Status::Internal(std::string(kKind) + ": " + where +
                              ": finding its main process failed: " + found->Summary());
    }
    Result<HostProcess> proc = ParseFindOutput(found->out, c->id);
    if (!proc.ok()) {
      return Status(proc.status().code(),
                    std::string(kKind) + ": " + where + ": " + proc.status().message());
    }
    Prepared p{*host,
               *c,
               *proc,
               std::nullopt,
               ReadContainerSettings(*doc, c->name),
               ReadContainerStages(*doc, c->name)};
    if (spec_.action == Action::kFreeze && spec_.on_host_expiry) {
      p.expiry = MakeExpiry(*host, ShortHash(env.run_id + "/" + token_ + "/" + target.id));
    }
    const ClusterIdentity cluster = IdentityOf(**client);
    std::string record = HostRevertRecord(host->ssh, [&](JsonWriter& w) {
      auto str = [&](const char* k, const std::string& v) {
        w.Key(k);
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
      };
      str("kubeconfig", cluster.kubeconfig);
      str("context", cluster.context);
      str("namespace", pod.ns);
      str("name", pod.name);
      str("uid", pod.uid);
      str("container", c->name);
      str("container_id", c->id.ToString());
      str("node", c->node);
      str("host", host->name);
      w.Key("pid");
      w.Int64(proc->pid);
      w.Key("start_time");
      w.Uint64(proc->start_time);
      str("action", spec_.action == Action::kFreeze ? "freeze" : "kill");
      str("signal", SignalName(spec_));
      w.Key("restart_count_before");
      w.Int64(c->restart_count);
      w.Key("restart_wait_ms");
      w.Int64(spec_.action == Action::kFreeze
                  ? 0
                  : std::chrono::duration_cast<milliseconds>(spec_.restart_wait).count());
      if (p.expiry) p.expiry->Write(w);
    });
    std::lock_guard lock(mu_);
    prepared_[target.id] = std::move(p);
    return record;
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    std::optional<Prepared> p;
    {
      std::lock_guard lock(mu_);
      auto it = prepared_.find(target.id);
      if (it != prepared_.end()) p = it->second;
    }
    if (!p) {
      return Status::FailedPrecondition(std::string(kKind) + " on " + target.display +
                                        ": no revert record was prepared; nothing was signalled");
    }
    const std::string signal = SignalName(spec_);
    std::string script = SignalScript(p->process, p->container.id, signal, kSignalWait);
    if (p->expiry) {
      // The timer goes in before the fault; if the signal is refused (the process is gone or is
      // another one now), the timer goes too, since nothing is left for it to heal.
      script = StartExpiryScript(*p->expiry, env.duration + spec_.expiry_margin,
                                 ResumeScript(p->process)) +
               "(\n" + script + ")\ngd_rc=$?\nif [ $gd_rc -ne 0 ]; then\n" +
               CancelExpiryScript(*p->expiry) + "exit $gd_rc\nfi\n";
    }
    Status sent =
        RunFaultScript(*ssh_, p->host.ssh, script, kSignalWait + kSshSlack,
                       std::string(kKind) + " on pod " + PodName(PodIdentity::FromTarget(target)) +
                           ": SIG" + signal + " to pid " + std::to_string(p->process.pid) +
                           " of container " + p->container.name + " on " + p->host.name);
    if (sent.ok()) {
      book_->Put(PodIdentity::FromTarget(target).uid + "/" + p->container.name,
                 Injected{p->settings, p->before, env.clock->WallNow()});
    }
    return sent;
  }

  std::vector<ApiAccess> ApiAccesses() const override {
    return PodAccesses(spec_.select, {"get"}, kKind,
                       "find the pods, their nodes, containers and restarts", false);
  }

  bool Reversible() const override {
    // A kill has nothing to undo, but its revert reads the restartCount after it for the result.
    return true;
  }

  std::string DescribeAction(const FaultTarget& target) const override {
    const PodIdentity pod = PodIdentity::FromTarget(target);
    const std::string container =
        spec_.container.empty() ? "the first container" : "container " + spec_.container;
    std::string where;
    if (auto it = target.attributes.find("node"); it != target.attributes.end()) {
      Result<InventoryHost> h = FindNodeHost(inventory_, it->second);
      where =
          " on node " + it->second + (h.ok() ? " (host " + h->name + ")" : " (no inventory host)");
    }
    std::string d = (spec_.action == Action::kFreeze ? "freeze (SIGSTOP)" : "SIG" + spec_.signal) +
                    " the main process of " + container + " of pod " + PodName(pod) + where +
                    " over SSH";
    if (spec_.action == Action::kFreeze) {
      d += "; revert sends SIGCONT";
      if (spec_.on_host_expiry) {
        d += "; on-host expiry after the fault's duration + " + FormatDuration(spec_.expiry_margin);
      }
    } else {
      d += "; then waits up to " + FormatDuration(spec_.restart_wait) +
           " for its restartCount to change";
    }
    return d;
  }

 private:
  const Spec spec_;
  const Inventory inventory_;
  std::shared_ptr<SshClient> ssh_;
  std::shared_ptr<InjectedBook> book_;
  const std::string token_;
  std::mutex mu_;
  std::map<std::string, Prepared> prepared_;
};

// A revert record read back, every field checked against what RevertRecord writes.
struct Record {
  HostRevert host;
  ClusterIdentity cluster;
  PodIdentity pod;
  std::string container;
  ContainerId id;
  HostProcess process;
  Action action = Action::kKill;
  int64_t restart_count_before = 0;
  Duration restart_wait{0};
};

Result<Record> ReadRecord(const std::string& text) {
  Result<HostRevert> host = ReadHostRevert(text, kKind);
  if (!host.ok()) return host.status();
  // Every field is read from the record once it has moved into `r` (a moved-from document is
  // null: reading it is undefined behaviour).
  Record r{std::move(*host), {}, {}, "", {}, {}, Action::kKill, 0, Duration{0}};
  const rapidjson::Document& d = r.host.record;
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument(std::string(kKind) + ": invalid revert record: " + why);
  };
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = d.FindMember(k);
    if (it == d.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  for (const char* k : {"kubeconfig", "context", "namespace", "name", "uid", "container",
                        "container_id", "action", "signal"}) {
    if (!str(k)) return bad(std::string(k) + " is missing or not a string");
  }
  r.cluster.kubeconfig = *str("kubeconfig");
  r.cluster.context = *str("context");
  if (!IsPlainText(r.cluster.kubeconfig) || !IsPlainText(r.cluster.context)) {
    return bad("kubeconfig or context holds a control character");
  }
  r.pod.ns = *str("namespace");
  r.pod.name = *str("name");
  r.pod.uid = *str("uid");
  if (!IsDns1123Label(r.pod.ns) || !IsDns1123Subdomain(r.pod.name) || !IsPlainText(r.pod.uid) ||
      r.pod.uid.size() > 64) {
    return bad("namespace, name or uid is not one of a pod");
  }
  r.container = *str("container");
  if (!IsDns1123Label(r.container)) return bad("container is not a container name");
  Result<ContainerId> id = ParseContainerId(*str("container_id"));
  if (!id.ok()) return bad(id.status().message());
  r.id = *id;
  const std::string action = *str("action");
  const std::string signal = *str("signal");
  if (action == "freeze") {
    r.action = Action::kFreeze;
    if (signal != "STOP") return bad("a freeze whose signal is not STOP");
  } else if (action == "kill") {
    const auto& ok = KillSignals();
    if (std::find(ok.begin(), ok.end(), signal) == ok.end()) return bad("unknown signal");
  } else {
    return bad("action is neither kill nor freeze");
  }
  auto pid = d.FindMember("pid");
  auto start = d.FindMember("start_time");
  if (pid == d.MemberEnd() || !pid->value.IsInt64() || pid->value.GetInt64() < 2 ||
      pid->value.GetInt64() > (int64_t{1} << 22) || start == d.MemberEnd() ||
      !start->value.IsUint64()) {
    return bad("pid or start_time is not one of a process");
  }
  r.process.pid = pid->value.GetInt64();
  r.process.start_time = start->value.GetUint64();
  auto before = d.FindMember("restart_count_before");
  auto wait = d.FindMember("restart_wait_ms");
  if (before == d.MemberEnd() || !before->value.IsInt64() || before->value.GetInt64() < 0 ||
      before->value.GetInt64() > INT32_MAX || wait == d.MemberEnd() || !wait->value.IsInt64() ||
      wait->value.GetInt64() < 0 ||
      wait->value.GetInt64() > std::chrono::duration_cast<milliseconds>(kMaxRestartWait).count()) {
    return bad("restart_count_before or restart_wait_ms out of range");
  }
  r.restart_count_before = before->value.GetInt64();
  r.restart_wait = milliseconds(wait->value.GetInt64());
  return r;
}

// The restartCount after the fault, for the result: read once, or for a kill polled until it
// changed and the container is Ready again, or the record's wait passed. Never fails the revert;
// what went wrong is in the text. `after` gets the container's last state read.
std::string RestartNote(const Record& r, const InjectorEnv& env,
                        std::optional<ContainerStages>* after_out) {
  const std::string pod = PodName(r.pod);
  auto client = SharedKubeClient(r.cluster.kubeconfig, r.cluster.context);
  if (!client.ok()) {
    return RestartText(r.container, pod, r.restart_count_before,
                       "unknown (" + client.status().message() + ")");
  }
  const MonoTime start = env.clock->Now();
  while (true) {
    KubeRequest req;
    req.ref = ResourceRef::Core("pods", r.pod.ns, r.pod.name);
    Result<rapidjson::Document> doc = (*client)->CallJson(req);
    std::string after;
    bool settled = true;
    const bool waited = env.clock->Now() - start >= r.restart_wait;
    if (!doc.ok()) {
      after = doc.status().code() == Status::Code::kNotFound
                  ? "unknown (the pod is gone)"
                  : "unknown (" + doc.status().message() + ")";
    } else if (JsonPathString(*doc, {"metadata", "uid"}) != r.pod.uid) {
      after = "unknown (the pod was replaced)";
    } else if (Result<int64_t> n = ReadRestartCount(*doc, r.container); !n.ok()) {
      after = "unknown (" + n.status().message() + ")";
    } else {
      after = std::to_string(*n);
      *after_out = ReadContainerStages(*doc, r.container);
      if (r.action == Action::kKill) {
        if (*n == r.restart_count_before) {
          settled = waited;
          after += " (unchanged after waiting " + FormatDuration(r.restart_wait) + ")";
        } else {
          settled = waited || (*after_out)->ready;  // restarted: until Ready again
        }
      }
    }
    if (settled) return RestartText(r.container, pod, r.restart_count_before, after);
    env.clock->SleepFor(milliseconds(200), std::stop_token());
  }
}

class ContainerKillInjectorKind : public SshInjectorKind {
 public:
  explicit ContainerKillInjectorKind(std::shared_ptr<SshClient> ssh)
      : SshInjectorKind(kKind, std::move(ssh)), book_(std::make_shared<InjectedBook>()) {}

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const std::vector<std::string> fields = {
        "namespace",     "namespaces", "all_namespaces", "label_selector", "field_selector",
        "container",     "action",     "signal",         "restart_wait",   "on_host_expiry",
        "expiry_margin", "inventory",  "known_hosts"};
    if (!RequireKubernetesTarget(spec, target, kKind)) {
      spec.Finish(fields);
      return nullptr;
    }
    if (!spec.ExpectMap()) return nullptr;
    const size_t before = spec.diagnostics()->size();
    Spec s;
    s.select = ParsePodSelect(spec, target);
    s.container = spec.String("container", "");
    if (spec.Has("container") && !IsDns1123Label(s.container)) {
      spec.ErrorAt("container",
                   "expected a container name (a DNS-1123 label), got '" + s.container + "'");
    }
    s.action = spec.Enum("action", {"kill", "freeze"}, "kill") == "freeze" ? Action::kFreeze
                                                                           : Action::kKill;
    const bool freeze = s.action == Action::kFreeze;
    s.signal = spec.Enum("signal", KillSignals(), "KILL");
    auto kill_only = [&](const char* key, const std::string& why) {
      if (freeze && spec.Has(key))
        spec.ErrorAt(key, std::string("not used with action: freeze ") + why);
    };
    auto freeze_only = [&](const char* key) {
      if (!freeze && spec.Has(key)) {
        spec.ErrorAt(key, "only used with action: freeze (a kill has nothing to heal)");
      }
    };
    kill_only("signal", "(a freeze is SIGSTOP, resumed by SIGCONT)");
    kill_only("restart_wait", "(the restartCount after a freeze is read once, at its revert)");
    freeze_only("on_host_expiry");
    freeze_only("expiry_margin");
    s.restart_wait =
        spec.DurationField("restart_wait", s.restart_wait, Duration{0}, kMaxRestartWait);
    s.on_host_expiry = spec.Bool("on_host_expiry", true);
    s.expiry_margin =
        spec.DurationField("expiry_margin", s.expiry_margin, seconds(1), std::chrono::hours(24));

    // The nodes are reached over SSH through an inventory, named here since the experiment's
    // target is the cluster; relative paths are read from the plan's folder.
    const TargetSpec hosts = NodeInventoryTarget(spec, target);
    spec.Finish();
    if (spec.diagnostics()->size() != before) return nullptr;
    Inventory inventory;
    if (target.check_inventory) {
      std::optional<Inventory> inv = LoadTargetInventory(spec, hosts, kKind);
      if (!inv) return nullptr;
      inventory = std::move(*inv);
    }
    return std::make_unique<ContainerKillInjector>(std::move(s), std::move(inventory), ssh_, book_);
  }

  Status Revert(const std::string& text, const InjectorEnv& env) const override {
    Result<Record> r = ReadRecord(text);
    if (!r.ok()) return r.status();
    if (r->action == Action::kFreeze) {
      Status resumed =
          RunRevertScript(*ssh_, r->host, ResumeScript(r->process), kSignalWait + kSshSlack, kKind,
                          "SIGCONT to pid " + std::to_string(r->process.pid) + " of container " +
                              r->container + " of pod " + PodName(r->pod));
      if (!resumed.ok()) return resumed;
    }
    std::optional<ContainerStages> after;
    std::string note = RestartNote(*r, env, &after);
    const bool freeze = r->action == Action::kFreeze;
    if (std::optional<Injected> in = book_->Take(r->pod.uid + "/" + r->container)) {
      note += "; " + ExpectedContainerTimeline(freeze, in->settings, in->before, in->at);
      if (after) note += "; " + MeasuredContainerStages(freeze, in->before, *after, in->at);
    }
    if (env.revert_observed != nullptr) *env.revert_observed = note;
    return Status::Ok();
  }

 private:
  std::shared_ptr<InjectedBook> book_;
};

}  // namespace

std::unique_ptr<InjectorKind> MakeContainerKillInjectorKind() {
  return MakeContainerKillInjectorKind(std::make_shared<SshClient>());
}

std::unique_ptr<InjectorKind> MakeContainerKillInjectorKind(std::shared_ptr<SshClient> ssh) {
  return std::make_unique<ContainerKillInjectorKind>(std::move(ssh));
}

}  // namespace gameday

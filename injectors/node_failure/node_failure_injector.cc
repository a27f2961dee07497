#include "injectors/node_failure/node_failure_injector.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "clients/inventory/inventory.h"
#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "injectors/host_service/host_service.h"
#include "injectors/node_failure/node_failure_parts.h"
#include "injectors/node_failure/node_watch.h"
#include "injectors/pod_selection/pod_selection.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kKind[] = "node-failure";
constexpr Duration kCutTimeout = seconds(30);
constexpr Duration kMaxReadyWait = std::chrono::minutes(10);
// The watch of a fault outlives its duration by this much at most (a revert that is late).
constexpr Duration kWatchSlack = std::chrono::minutes(5);
// A fault without a duration (reverted at the experiment's end) is watched this long at most.
constexpr Duration kWatchWithoutDuration = std::chrono::minutes(30);

enum class Mode { kKubeletStop, kApiCut };

const char* ModeName(Mode m) { return m == Mode::kApiCut ? "api-cut" : "kubelet-stop"; }

struct Spec {
  std::vector<std::string> nodes;
  std::string label_selector;
  Mode mode = Mode::kKubeletStop;
  ServiceFault kubelet;                                      // kubelet-stop
  bool freeze_containers = false;                            // kubelet-stop, containers: freeze
  std::string containers_cgroup = kDefaultContainersCgroup;  // may hold {{var}}
  std::vector<ApiEndpoint> api_servers;  // api-cut; empty = the kubeconfig's server
  Duration expiry_margin = seconds(30);  // api-cut (kubelet-stop: kubelet.expiry_margin)
  bool allow_all = false;
  Duration ready_wait = seconds(60);
  std::optional<Duration> grace;  // node_monitor_grace_period, when the plan states it
};

HostService DefaultKubelet() {
  HostService s;
  s.manager = ServiceManager::kSystemd;
  s.unit_or_dir = "kubelet.service";
  return s;
}

// What RevertRecord found for one target, for its Inject.
struct Prepared {
  InventoryHost host;
  std::string node;
  std::string uid;
  std::string id;  // the fault's: its expiry marker, chain and watch
  HostService kubelet;
  std::string containers_cgroup;  // resolved; empty unless containers: freeze
  std::vector<ApiEndpoint> api;
  NodeExpectation expected;  // what the cluster's settings say will happen
};

std::string Attr(const FaultTarget& t, const char* key) {
  auto it = t.attributes.find(key);
  return it == t.attributes.end() ? "" : it->second;
}

std::string Endpoints(const std::vector<ApiEndpoint>& api) {
  std::string s;
  for (const ApiEndpoint& e : api) s += (s.empty() ? "" : ", ") + e.ToString();
  return s;
}

// The node gameday's own pod runs on, when gameday runs in a pod of this cluster (its service
// account's namespace and $HOSTNAME name the pod); nullopt when not detectable.
std::optional<std::string> OwnNode(KubeClient& client) {
  const char* in_cluster = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* hostname = std::getenv("HOSTNAME");
  if (in_cluster == nullptr || hostname == nullptr) return std::nullopt;
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns(256, '\0');
  in.read(ns.data(), static_cast<std::streamsize>(ns.size()));
  ns.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) ns.pop_back();
  const std::string pod = hostname;
  if (!IsDns1123Label(ns) || !IsDns1123Subdomain(pod)) return std::nullopt;
  KubeRequest req;
  req.ref = ResourceRef::Core("pods", ns, pod);
  req.max_attempts = 1;
  Result<rapidjson::Document> doc = client.CallJson(req);
  if (!doc.ok()) return std::nullopt;
  const std::string node = JsonPathString(*doc, {"spec", "nodeName"});
  if (!IsDns1123Subdomain(node)) return std::nullopt;
  return node;
}

// The host part of a server URL ("https://127.0.0.1:6443/" -> "127.0.0.1").
std::string ServerHost(const std::string& url) {
  std::string rest = url.substr(
      std::min(url.size(), url.find("://") == std::string::npos ? size_t{0} : url.find("://") + 3));
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.rfind(':') == std::string::npos ? rest.size() : rest.rfind(':'));
}

class NodeFailureInjector : public Injector {
 public:
  NodeFailureInjector(Spec spec, Inventory inventory, std::shared_ptr<SshClient> ssh,
                      std::shared_ptr<NodeWatchBook> book)
      : spec_(std::move(spec)),
        inventory_(std::move(inventory)),
        ssh_(std::move(ssh)),
        book_(std::move(book)),
        token_(RandomFaultToken()) {}

  // Every candidate node must exist and have exactly one inventory host, whose session opens,
  // before anything is injected: a node gameday cannot reach is a mistake in the plan, not a
  // smaller blast radius.
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    std::vector<FaultTarget> out;
    std::vector<InventoryHost> hosts;
    const std::set<std::string> wanted(spec_.nodes.begin(), spec_.nodes.end());
    Status problem = Status::Ok();
    ListOptions opts;
    opts.label_selector = spec_.label_selector;
    auto rv = (*client)->List(ResourceRef::Core("nodes"), opts, [&](const rapidjson::Value& n) {
      const std::string name = JsonPathString(n, {"metadata", "name"});
      if (!wanted.empty() && wanted.count(name) == 0) return Status::Ok();
      const std::string uid = JsonPathString(n, {"metadata", "uid"});
      if (!IsDns1123Subdomain(name) || (!uid.empty() && !IsKubeUid(uid))) {
        problem = Status::Internal(std::string(kKind) +
                                   ": the API server listed a node whose name or uid is not one");
        return Status::Ok();
      }
      Result<InventoryHost> host = FindNodeHost(inventory_, name);
      if (!host.ok()) {
        if (problem.ok()) {
          problem = Status::FailedPrecondition(std::string(kKind) + ": " + host.status().message() +
                                               "; nothing was injected");
        }
        return Status::Ok();
      }
      if (spec_.mode == Mode::kKubeletStop) {
        Result<HostService> s = ResolveHostService(spec_.kubelet.service, *host);
        if (!s.ok() && problem.ok()) problem = s.status();
      }
      FaultTarget t;
      t.id = "node/" + name + "/" + uid;
      t.display = "node " + name + " (host " + host->name + ")";
      t.attributes["name"] = name;
      t.attributes["uid"] = uid;
      t.attributes["host"] = host->name;
      out.push_back(std::move(t));
      hosts.push_back(*host);
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    if (!problem.ok()) return problem;
    for (const std::string& name : spec_.nodes) {
      if (std::none_of(out.begin(), out.end(),
                       [&](const FaultTarget& t) { return Attr(t, "name") == name; })) {
        return Status::NotFound(
            std::string(kKind) + ": node " + name + " not found" +
            (spec_.label_selector.empty() ? "" : " among nodes matching " + spec_.label_selector));
      }
    }
    if (Status s = ConnectToTargets(*ssh_, hosts); !s.ok()) return s;
    return out;
  }

  // Everything is decided here, before the journal: the node still exists with its uid, it is
  // not the API server's or gameday's own, failing it leaves a Ready node (unless allow_all),
  // and what will be stopped or cut is resolved.
  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    Prepared p;
    p.node = Attr(target, "name");
    p.uid = Attr(target, "uid");
    const std::string where = std::string(kKind) + ": node " + p.node;
    KubeRequest req;
    req.ref = ResourceRef::Core("nodes", "", p.node);
    Result<rapidjson::Document> doc = (*client)->CallJson(req);
    if (!doc.ok()) {
      return Status(doc.status().code(), where + ": " + doc.status().message());
    }
    const NodeState state = ReadNodeState(*doc);
    if (!p.uid.empty() && state.uid != p.uid) {
      return Status::FailedPrecondition(where + " was replaced since discovery (another uid)");
    }
    const std::string api_host = ServerHost((*client)->server());
    if (std::find(state.addresses.begin(), state.addresses.end(), api_host) !=
        state.addresses.end()) {
      return Status::FailedPrecondition(where + " has the address of the API server gameday " +
                                        "talks to (" + api_host +
                                        "); refusing to fail it, gameday would lose the cluster");
    }
    if (std::optional<std::string> own = OwnNode(**client); own && *own == p.node) {
      return Status::FailedPrecondition(where + " runs gameday's own pod; refusing to fail it");
    }
    Result<InventoryHost> host = FindNodeHost(inventory_, p.node);
    if (!host.ok()) return Status(host.status().code(), where + ": " + host.status().message());
    p.host = *host;
    if (spec_.mode == Mode::kKubeletStop) {
      Result<HostService> s = ResolveHostService(spec_.kubelet.service, p.host);
      if (!s.ok()) return s.status();
      p.kubelet = *s;
      if (spec_.freeze_containers) {
        Result<std::string> c =
            ExpandHostVars(spec_.containers_cgroup, p.host, "spec.containers_cgroup");
        if (!c.ok()) return c.status();
        if (!ValidContainersCgroup(*c)) {
          return Status::InvalidArgument(where + ": spec.containers_cgroup '" + c->substr(0, 80) +
                                         "' (for host " + p.host.name +
                                         ") is not a cgroup path under /sys/fs/cgroup/");
        }
        p.containers_cgroup = *c;
      }
    } else {
      p.api = spec_.api_servers;
      if (p.api.empty()) {
        Result<ApiEndpoint> e = ApiEndpointOfServer((*client)->server());
        if (!e.ok()) return Status(e.status().code(), where + ": " + e.status().message());
        p.api.push_back(*e);
      }
      for (const ApiEndpoint& e : p.api) {
        if (std::find(state.addresses.begin(), state.addresses.end(), e.address) !=
            state.addresses.end()) {
          return Status::FailedPrecondition(where + " has the address of the API server " +
                                            e.ToString() + " it would be cut off from");
        }
      }
    }
    if (Status s = CheckNotEveryReadyNode(**client, target, env, p.node); !s.ok()) return s;
    // Read before the fault, so that the pods counted are those the fault will strand.
    p.expected = ReadNodeExpectation(
        **client, p.node,
        spec_.grace ? std::optional<double>(ToSeconds(*spec_.grace)) : std::nullopt);

    p.id = ShortHash(env.run_id + "/" + token_ + "/" + p.node);
    const OnHostExpiry expiry = MakeExpiry(p.host, p.id);
    const ClusterIdentity cluster = IdentityOf(**client);
    std::string record = HostRevertRecord(p.host.ssh, [&](JsonWriter& w) {
      auto str = [&](const char* k, const std::string& v) {
        w.Key(k);
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
      };
      str("kubeconfig", cluster.kubeconfig);
      str("context", cluster.context);
      str("node", p.node);
      str("uid", p.uid);
      str("host", p.host.name);
      str("mode", ModeName(spec_.mode));
      str("fault", p.id);
      w.Key("ready_wait_ms");
      w.Int64(std::chrono::duration_cast<milliseconds>(spec_.ready_wait).count());
      if (spec_.mode == Mode::kKubeletStop) {
        WriteServiceRevert(w, spec_.kubelet, p.kubelet, expiry);
        if (!p.containers_cgroup.empty()) str("containers_cgroup", p.containers_cgroup);
      } else {
        str("chain", IptablesChain(p.id));
        expiry.Write(w);
      }
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
                                        ": no revert record was prepared; nothing was done");
    }
    auto client = SharedKubeClient(env.target.kubeconfig, env.target.context);
    if (!client.ok()) return client.status();
    const OnHostExpiry expiry = MakeExpiry(p->host, p->id);
    Status st;
    if (spec_.mode == Mode::kKubeletStop) {
      const bool freeze = !p->containers_cgroup.empty();
      st = RunFaultScript(
          *ssh_, p->host.ssh,
          StopServiceScript(spec_.kubelet, p->kubelet, expiry, env.duration,
                            freeze ? FreezeContainersScript(p->containers_cgroup) : "",
                            freeze ? ThawContainersScript(p->containers_cgroup) : ""),
          StopServiceTimeout(spec_.kubelet),
          std::string(kKind) + " on " + target.display + ": " +
              (freeze ? "freezing its containers (" + p->containers_cgroup + ") and " : "") +
              "stopping the kubelet (" + DescribeService(p->kubelet) + ")");
    } else {
      const std::string chain = IptablesChain(p->id);
      const std::string script =
          "set -e\ncommand -v iptables >/dev/null || { echo 'iptables is not installed' >&2; "
          "exit 3; }\n" +
          // The timer goes in first: no rule ever exists without its expiry.
          StartExpiryScript(expiry, env.duration + spec_.expiry_margin,
                            TeardownChainScript(chain)) +
          InstallChainScript(chain, ApiCutRules(p->api));
      st = RunFaultScript(*ssh_, p->host.ssh, script, kCutTimeout,
                          std::string(kKind) + " on " + target.display +
                              ": cutting it off the API server " + Endpoints(p->api) +
                              " (iptables chain " + chain + ")");
    }
    if (!st.ok()) return st;
    const Duration limit =
        env.duration > Duration{0} ? env.duration + kWatchSlack : kWatchWithoutDuration;
    book_->Start(p->id, *client, p->node, std::move(p->expected), env.clock, env.clock->Now(),
                 limit);
    std::lock_guard lock(mu_);
    pending_.erase(target.id);
    return Status::Ok();
  }

  bool Reversible() const override { return true; }

  std::vector<ApiAccess> ApiAccesses() const override {
    auto optional = [](ApiAccess a) {
      a.optional = true;  // only for the expected and measured timeline, which never fails a step
      return a;
    };
    return {
        AccessTo(ResourceRef::Core("nodes"), {"get", "list"},
                 std::string(kKind) + ": find the nodes, keep one Ready, follow their state"),
        optional(
            AccessTo(ResourceRef::Core("pods"), {"list"},
                     std::string(kKind) + ": the node's pods, their tolerations and evictions")),
        optional(AccessTo(ResourceRef::Core("pods", "kube-system"), {"list"},
                          std::string(kKind) + ": kube-controller-manager's grace period flag")),
        optional(
            AccessTo(ResourceRef::Group("coordination.k8s.io", "v1", "leases", "kube-node-lease"),
                     {"get"}, std::string(kKind) + ": the nodes' heartbeat interval")),
    };
  }

  std::string DescribeAction(const FaultTarget& target) const override {
    const std::string node = Attr(target, "name");
    const InventoryHost* host = inventory_.Find(Attr(target, "host"));
    const std::string where =
        "host " + (host != nullptr ? host->name : std::string("?")) + " of node " + node;
    std::string d;
    if (spec_.mode == Mode::kKubeletStop) {
      HostService what = spec_.kubelet.service;
      if (host != nullptr) {
        Result<HostService> s = ResolveHostService(spec_.kubelet.service, *host);
        if (s.ok()) what = *s;
      }
      d = DescribeServiceFault(spec_.kubelet, what, where);
      if (spec_.freeze_containers) {
        std::string cgroup = spec_.containers_cgroup;
        if (host != nullptr) {
          if (auto c = ExpandHostVars(cgroup, *host, "spec.containers_cgroup"); c.ok()) cgroup = *c;
        }
        d += "; first freezes every container of the node (cgroup " + cgroup +
             "), thawed before the kubelet starts again";
      }
    } else {
      d = "cut " + where + " off the API server (" +
          (spec_.api_servers.empty() ? "the kubeconfig's server" : Endpoints(spec_.api_servers)) +
          ") with iptables over SSH; revert removes the rules; on-host expiry after the fault's "
          "duration + " +
          FormatDuration(spec_.expiry_margin);
    }
    return d + "; the revert waits up to " + FormatDuration(spec_.ready_wait) +
           " for the node to be Ready";
  }

 private:
  // Refuses (unless allow_all) when this node, the others of this round and those whose fault
  // is in would leave no Ready node in the cluster.
  Status CheckNotEveryReadyNode(KubeClient& client, const FaultTarget& target,
                                const InjectorEnv& env, const std::string& node) {
    std::set<std::string> ready;
    auto rv = client.List(ResourceRef::Core("nodes"), {}, [&](const rapidjson::Value& n) {
      const NodeState s = ReadNodeState(n);
      if (s.ready == NodeReady::kTrue) ready.insert(JsonPathString(n, {"metadata", "name"}));
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    std::lock_guard lock(mu_);
    if (env.seed != pending_seed_) {
      // A new round: what the last one prepared was injected (and is in the book) or never was.
      pending_.clear();
      pending_seed_ = env.seed;
    }
    std::set<std::string> failing = book_->FailedNodes();
    for (const auto& [id, n] : pending_) failing.insert(n);
    failing.insert(node);
    if (!spec_.allow_all && FailsEveryReadyNode(ready, failing)) {
      return Status::FailedPrecondition(
          std::string(kKind) + ": failing node " + node + " with the others of this step (" +
          std::to_string(failing.size()) + " node(s)) would leave none of the cluster's " +
          std::to_string(ready.size()) +
          " Ready node(s) Ready; refusing (set allow_all: true to allow it)");
    }
    pending_[target.id] = node;
    return Status::Ok();
  }

  const Spec spec_;
  const Inventory inventory_;
  std::shared_ptr<SshClient> ssh_;
  std::shared_ptr<NodeWatchBook> book_;
  const std::string token_;
  std::mutex mu_;
  std::map<std::string, Prepared> prepared_;
  std::map<std::string, std::string> pending_;  // target id -> node, prepared this round
  uint64_t pending_seed_ = 0;
};

// A revert record read back, every field checked against what RevertRecord writes.
struct Record {
  HostRevert host;
  ClusterIdentity cluster;
  std::string node;
  std::string uid;
  Mode mode = Mode::kKubeletStop;
  std::string id;
  Duration ready_wait{0};
  std::string containers_cgroup;  // kubelet-stop with containers: freeze
};

Result<Record> ReadRecord(const std::string& text) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument(std::string(kKind) + ": invalid revert record: " + what);
  };
  Result<HostRevert> host = ReadHostRevert(text, kKind);
  if (!host.ok()) return host.status();
  Record r;
  const rapidjson::Document& d = host->record;
  r.cluster.kubeconfig = JsonString(d, "kubeconfig");
  r.cluster.context = JsonString(d, "context");
  r.node = JsonString(d, "node");
  r.uid = JsonString(d, "uid");
  r.id = JsonString(d, "fault");
  const std::string mode = JsonString(d, "mode");
  if (!IsPlainText(r.cluster.kubeconfig) || !IsPlainText(r.cluster.context)) {
    return bad("kubeconfig or context holds a control character");
  }
  if (!IsDns1123Subdomain(r.node)) return bad("node is not a node name");
  if (!r.uid.empty() && !IsKubeUid(r.uid)) return bad("uid is not a Kubernetes uid");
  if (!ValidExpiryMarker("gameday-expiry-" + r.id)) return bad("fault is not 12 hex digits");
  if (mode == "kubelet-stop") {
    r.mode = Mode::kKubeletStop;
  } else if (mode == "api-cut") {
    r.mode = Mode::kApiCut;
  } else {
    return bad("mode is neither kubelet-stop nor api-cut");
  }
  auto wait = d.FindMember("ready_wait_ms");
  if (wait == d.MemberEnd() || !wait->value.IsInt64() || wait->value.GetInt64() < 0 ||
      wait->value.GetInt64() > std::chrono::duration_cast<milliseconds>(kMaxReadyWait).count()) {
    return bad("ready_wait_ms out of range");
  }
  r.ready_wait = milliseconds(wait->value.GetInt64());
  if (auto c = d.FindMember("containers_cgroup"); c != d.MemberEnd()) {
    if (!c->value.IsString() || r.mode != Mode::kKubeletStop ||
        !ValidContainersCgroup(
            r.containers_cgroup.assign(c->value.GetString(), c->value.GetStringLength()))) {
      return bad("containers_cgroup is not a cgroup path under /sys/fs/cgroup/ of a kubelet-stop");
    }
  }
  r.host = std::move(*host);
  return r;
}

class NodeFailureInjectorKind : public SshInjectorKind {
 public:
  explicit NodeFailureInjectorKind(std::shared_ptr<SshClient> ssh)
      : SshInjectorKind(kKind, std::move(ssh)), book_(std::make_shared<NodeWatchBook>()) {}

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const std::vector<std::string> fields = {"nodes",         "label_selector",
                                             "mode",          "service",
                                             "signal",        "on_host_expiry",
                                             "expiry_margin", "stop_timeout",
                                             "api_server",    "allow_all",
                                             "ready_wait",    "inventory",
                                             "known_hosts",   "node_monitor_grace_period",
                                             "containers",    "containers_cgroup"};
    if (!RequireKubernetesTarget(spec, target, kKind)) {
      spec.Finish(fields);
      return nullptr;
    }
    if (!spec.defined()) {
      spec.Error("missing spec: set nodes or label_selector, and inventory");
      return nullptr;
    }
    if (!spec.ExpectMap()) return nullptr;
    const size_t before = spec.diagnostics()->size();
    Spec s;
    if (SpecNode nodes = spec.Child("nodes"); nodes.defined()) {
      if (nodes.IsScalar()) {
        s.nodes.push_back(nodes.yaml().Scalar());
        if (!IsDns1123Subdomain(s.nodes.back())) {
          nodes.Error("expected a node name (a DNS-1123 subdomain), got '" +
                      s.nodes.back().substr(0, 80) + "'");
        }
      } else {
        for (SpecNode& item : nodes.Items()) {
          std::optional<std::string> n = item.AsString();
          if (!n) continue;
          if (!IsDns1123Subdomain(*n)) {
            item.Error("expected a node name (a DNS-1123 subdomain), got '" + n->substr(0, 80) +
                       "'");
          } else {
            s.nodes.push_back(*n);
          }
        }
      }
    }
    s.label_selector = spec.String("label_selector", "");
    if (s.nodes.empty() && s.label_selector.empty()) {
      spec.Error("set nodes (names) or label_selector, so the blast radius is explicit");
    }
    s.mode = spec.Enum("mode", {"kubelet-stop", "api-cut"}, "kubelet-stop") == "api-cut"
                 ? Mode::kApiCut
                 : Mode::kKubeletStop;
    if (s.mode == Mode::kKubeletStop) {
      const HostService kubelet = DefaultKubelet();
      ParseServiceFault(spec, &s.kubelet, &kubelet);
      if (spec.Has("api_server")) {
        spec.ErrorAt("api_server", "only used with mode: api-cut");
      }
      s.freeze_containers = spec.Enum("containers", {"keep", "freeze"}, "keep") == "freeze";
      if (spec.Has("containers_cgroup")) {
        s.containers_cgroup = spec.String("containers_cgroup", s.containers_cgroup);
        if (!s.freeze_containers) {
          spec.ErrorAt("containers_cgroup", "only used with containers: freeze");
        } else if (const std::string bad = CheckTemplate(s.containers_cgroup); !bad.empty()) {
          spec.ErrorAt("containers_cgroup", bad);
        } else if (s.containers_cgroup.find("{{") == std::string::npos &&
                   !ValidContainersCgroup(s.containers_cgroup)) {
          spec.ErrorAt("containers_cgroup",
                       "expected the node's kubepods cgroup under /sys/fs/cgroup/ (a v1 freezer "
                       "directory or a v2 cgroup: letters, digits, '.', '_', '-' and '/'), got '" +
                           s.containers_cgroup.substr(0, 80) + "'");
        }
      }
    } else {
      for (const char* key : {"service", "signal", "on_host_expiry", "stop_timeout", "containers",
                              "containers_cgroup"}) {
        if (spec.Has(key)) spec.ErrorAt(key, "only used with mode: kubelet-stop");
      }
      s.expiry_margin =
          spec.DurationField("expiry_margin", s.expiry_margin, seconds(1), std::chrono::hours(24));
      if (SpecNode api = spec.Child("api_server"); api.defined()) {
        std::vector<SpecNode> items;
        if (api.IsScalar()) {
          items.push_back(api);
        } else {
          items = api.Items();
        }
        for (SpecNode& item : items) {
          std::optional<std::string> text = item.AsString();
          if (!text) continue;
          Result<ApiEndpoint> e = ParseApiEndpoint(*text);
          if (!e.ok()) {
            item.Error(e.status().message());
          } else {
            s.api_servers.push_back(*e);
          }
        }
      }
    }
    s.allow_all = spec.Bool("allow_all", false);
    s.ready_wait = spec.DurationField("ready_wait", s.ready_wait, Duration{0}, kMaxReadyWait);
    if (spec.Has("node_monitor_grace_period")) {
      s.grace = spec.DurationField("node_monitor_grace_period", seconds(50), seconds(1),
                                   std::chrono::hours(1));
    }
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
    return std::make_unique<NodeFailureInjector>(std::move(s), std::move(inventory), ssh_, book_);
  }

  Status Revert(const std::string& text, const InjectorEnv& env) const override {
    Result<Record> r = ReadRecord(text);
    if (!r.ok()) return r.status();
    NodeTimes times;
    times.node = r->node;
    times.poll_s = ToSeconds(NodeWatchBook::kPoll);
    Status healed;
    if (r->mode == Mode::kKubeletStop) {
      Result<ServiceRevert> s = ReadServiceRevert(r->host.record, kKind);
      if (!s.ok()) return s.status();
      const bool frozen = !r->containers_cgroup.empty();
      times.fault = frozen ? "kubelet stopped, containers frozen" : "kubelet stopped";
      // Stopped first, so nothing the heal does is taken for the fault's doing.
      const std::optional<NodeObservation> seen = book_->Stop(r->id);
      healed = RunRevertScript(
          *ssh_, r->host,
          (frozen ? "set -e\n" + ThawContainersScript(r->containers_cgroup) : "") + s->script,
          s->timeout, kKind,
          (frozen ? "thawing the containers (" + r->containers_cgroup + ") and " : "") +
              "starting the kubelet (" + DescribeService(s->service) + ") of node " + r->node);
      Fill(seen, &times);
    } else {
      const std::string chain = JsonString(r->host.record, "chain");
      // Never touch a chain that is not ours, whatever the record says.
      if (!ValidIptablesChain(chain)) {
        return Status::InvalidArgument(std::string(kKind) + ": invalid revert record: chain '" +
                                       chain.substr(0, 40) +
                                       "' is not a gameday chain (GAMEDAY- and 12 hex digits)");
      }
      times.fault = "cut off the API server";
      const std::optional<NodeObservation> seen = book_->Stop(r->id);
      healed = RunRevertScript(*ssh_, r->host, TeardownChainScript(chain), kCutTimeout, kKind,
                               "removing iptables chain " + chain + " of node " + r->node);
      Fill(seen, &times);
    }
    if (!healed.ok()) return healed;  // the watch's entry stays for the next attempt
    const MonoTime healed_at = env.clock->Now();
    auto client = SharedKubeClient(r->cluster.kubeconfig, r->cluster.context);
    if (!client.ok()) {
      times.ready_problem = "no API client: " + client.status().message();
    } else {
      times.ready_again_after =
          WaitForNodeReady(**client, r->node, r->uid, *env.clock, healed_at, r->ready_wait,
                           NodeWatchBook::kPoll, &times.ready_problem);
    }
    book_->Forget(r->id);
    if (env.revert_observed != nullptr) *env.revert_observed = NodeTimesNote(times);
    return Status::Ok();
  }

 private:
  static void Fill(const std::optional<NodeObservation>& seen, NodeTimes* t) {
    if (!seen) {
      t->not_measured =
          "not watched: the fault was not confirmed by this process (gameday recover, or the "
          "inject failed)";
      return;
    }
    t->not_ready_after = seen->not_ready_after;
    t->not_ready_as = seen->not_ready_as;
    t->tainted_after = seen->tainted_after;
    t->taint = seen->taint;
    NodeStages stages;
    stages.not_ready_after = seen->not_ready_after;
    stages.tainted_after = seen->tainted_after;
    stages.first_evicted_after = seen->first_evicted_after;
    stages.evicted = seen->evicted;
    t->expectation = ExpectationNote(seen->expected, stages);
    if (!t->not_ready_after) t->not_measured = "Ready stayed True while the fault was in";
  }

  std::shared_ptr<NodeWatchBook> book_;
};

}  // namespace

std::unique_ptr<InjectorKind> MakeNodeFailureInjectorKind() {
  return MakeNodeFailureInjectorKind(std::make_shared<SshClient>());
}

std::unique_ptr<InjectorKind> MakeNodeFailureInjectorKind(std::shared_ptr<SshClient> ssh) {
  return std::make_unique<NodeFailureInjectorKind>(std::move(ssh));
}

}  // namespace gameday

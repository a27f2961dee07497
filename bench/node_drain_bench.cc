// Benchmark (not a test): gameday's node-drain against `kubectl drain`, on a real control plane:
// one KWOK node holding --pods pods of a Deployment under a PodDisruptionBudget that allows
// --allowed disruptions at a time.
//
//   bench/node_drain_bench.sh        starts a plane, builds kubectl, runs this, stops the plane
//   node_drain_bench --kubeconfig FILE --kubectl PATH [--pods 110] [--allowed 10] [--runs 1]
//                    [--namespace drain-bench] [--tools gameday,kubectl]
//
// For each run and tool, from scratch: cordon every KWOK node but the first, create the
// Deployment (all its pods land on the first node), uncordon the others (so replacements land
// there), create the budget (maxUnavailable --allowed) and wait until its status allows exactly
// that. Then drain the first node, with gameday's node-drain injector (in this process, as a
// plan step runs it: Discover, RevertRecord, Inject, Revert) or with `kubectl drain
// --ignore-daemonsets --delete-emptydir-data`, while a watcher lists the Deployment's pods every
// 50 ms. "Seconds to empty" runs from the start of the drain to the first list with none of the
// pods on the node; "most unavailable" is the largest number of the Deployment's pods the
// watcher ever saw missing or not running (the budget allows --allowed). Evictions and 429s are
// the API server's own counts (apiserver_request_total for pods/eviction, before and after), the
// same for both tools. Afterwards the node is uncordoned and everything deleted.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_k8s.h"
#include "bench_util.h"
#include "clients/kubernetes/client.h"
#include "experiments/spec_reader.h"
#include "injectors/registry.h"

extern char** environ;

namespace gameday {
namespace {

using bench::Die;
using bench::Since;

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string kubeconfig;
  std::string kubectl;
  std::string ns = "drain-bench";
  int pods = 110;
  int allowed = 10;
  int runs = 1;
  std::vector<std::string> tools = {"gameday", "kubectl"};
};

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(250)) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!done()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

void Must(const Result<KubeResponse>& r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
}

void SetUnschedulable(KubeClient& client, const std::string& node, bool value) {
  KubeRequest req;
  req.verb = "patch";
  req.ref = ResourceRef::Core("nodes", "", node);
  req.content_type = "application/merge-patch+json";
  req.body = std::string(R"({"spec":{"unschedulable":)") + (value ? "true" : "null") + "}}";
  Must(client.Call(req), "patching node " + node);
}

// The pods tolerate KWOK's taint, and not-ready and unreachable nodes for good: on a loaded
// machine kwok's heartbeats can lag past the node grace period, and the plane's 10 s toleration
// would then evict them mid-run. Not every taint: that would include a cordoned node's.
std::string DeploymentJson(const Options& o) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":")" +
         o.ns + R"("},"spec":{"replicas":)" + std::to_string(o.pods) +
         R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"nodeSelector":{"type":"kwok"},"tolerations":[{"key":"kwok.x-k8s.io/node","operator":"Exists"},{"key":"node.kubernetes.io/not-ready","operator":"Exists"},{"key":"node.kubernetes.io/unreachable","operator":"Exists"}],"terminationGracePeriodSeconds":0,"automountServiceAccountToken":false,"containers":[{"name":"app","image":"fake-image"}]}}}})";
}

struct PodCount {
  int on_node = 0;  // any state
  int running = 0;  // Running, not terminating, anywhere
  int total = 0;
};

bool CountPods(KubeClient& client, const Options& o, const std::string& node, PodCount* c) {
  *c = {};
  ListOptions opts;
  opts.label_selector = "app=web";
  auto rv = client.List(ResourceRef::Core("pods", o.ns), opts, [&](const rapidjson::Value& pod) {
    ++c->total;
    c->on_node += JsonPathString(pod, {"spec", "nodeName"}) == node;
    c->running += JsonPathString(pod, {"status", "phase"}) == "Running" &&
                  JsonPath(pod, {"metadata", "deletionTimestamp"}) == nullptr;
    return Status::Ok();
  });
  return rv.ok();
}

// Evictions by answer code, from the API server's metrics.
std::map<std::string, double> EvictionCounts(KubeClient& client) {
  KubeRequest req;
  req.raw_path = "/metrics";
  auto r = client.Call(req);
  Must(r, "reading /metrics");
  std::map<std::string, double> out;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("apiserver_request_total{", 0) != 0) continue;
    if (line.find(R"(resource="pods")") == std::string::npos ||
        line.find(R"(subresource="eviction")") == std::string::npos) {
      continue;
    }
    const size_t c = line.find(R"(code=")");
    const size_t close = line.rfind('}');
    if (c == std::string::npos || close == std::string::npos) continue;
    const size_t end = line.find('"', c + 6);
    out[line.substr(c + 6, end - c - 6)] += std::atof(line.c_str() + close + 1);
  }
  return out;
}

void DeleteAll(KubeClient& client, const Options& o) {
  KubeRequest del;
  del.verb = "delete";
  del.ref = ResourceRef::Group("apps", "v1", "deployments", o.ns, "web");
  del.body = R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})";
  auto r = client.Call(del);
  if (!r.ok() && r.status().code() != Status::Code::kNotFound) Die(r.status().ToString());
  KubeRequest pdb;
  pdb.verb = "delete";
  pdb.ref = ResourceRef::Group("policy", "v1", "poddisruptionbudgets", o.ns, "web");
  r = client.Call(pdb);
  if (!r.ok() && r.status().code() != Status::Code::kNotFound) Die(r.status().ToString());
  PodCount c;
  if (!WaitFor([&] { return CountPods(client, o, "", &c) && c.total == 0; },
               std::chrono::seconds(300))) {
    Die("the Deployment's pods were not gone within 5 minutes");
  }
}

// A Deployment of o.pods pods, all on `node`, under a budget that allows o.allowed now.
void Setup(KubeClient& client, const Options& o, const std::vector<std::string>& nodes) {
  const auto t0 = SteadyClock::now();
  const std::string& node = nodes[0];
  for (size_t i = 1; i < nodes.size(); ++i) SetUnschedulable(client, nodes[i], true);
  KubeRequest create;
  create.verb = "create";
  create.ref = ResourceRef::Group("apps", "v1", "deployments", o.ns);
  create.body = DeploymentJson(o);
  Must(client.Call(create), "creating the Deployment");
  PodCount c;
  if (!WaitFor(
          [&] {
            return CountPods(client, o, node, &c) && c.on_node == o.pods && c.running == o.pods;
          },
          std::chrono::seconds(600))) {
    Die("the pods did not all run on " + node + " within 10 minutes (" + std::to_string(c.on_node) +
        " there, " + std::to_string(c.running) + " running)");
  }
  for (size_t i = 1; i < nodes.size(); ++i) SetUnschedulable(client, nodes[i], false);
  KubeRequest pdb;
  pdb.verb = "create";
  pdb.ref = ResourceRef::Group("policy", "v1", "poddisruptionbudgets", o.ns);
  pdb.body =
      R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"maxUnavailable":)" +
      std::to_string(o.allowed) + R"(,"selector":{"matchLabels":{"app":"web"}}}})";
  Must(client.Call(pdb), "creating the PodDisruptionBudget");
  if (!WaitFor(
          [&] {
            KubeRequest get;
            get.ref = ResourceRef::Group("policy", "v1", "poddisruptionbudgets", o.ns, "web");
            auto doc = client.CallJson(get);
            if (!doc.ok()) return false;
            const rapidjson::Value* allowed = JsonPath(*doc, {"status", "disruptionsAllowed"});
            const rapidjson::Value* healthy = JsonPath(*doc, {"status", "currentHealthy"});
            return allowed && allowed->IsInt() && allowed->GetInt() == o.allowed && healthy &&
                   healthy->IsInt() && healthy->GetInt() == o.pods;
          },
          std::chrono::seconds(120))) {
    Die("the PodDisruptionBudget did not allow " + std::to_string(o.allowed) + " within 2 min");
  }
  std::printf("setup: %d pods on %s under a budget allowing %d, in %.1f s\n", o.pods, node.c_str(),
              o.allowed, Since(t0));
}

// gameday: the node-drain injector, driven as a plan step drives it.
Status DrainWithGameday(const Options& o, const std::string& node, std::string* note) {
  Registry<InjectorKind> registry;
  RegisterBuiltinInjectors(registry);
  const InjectorKind* kind = registry.Find("node-drain");
  if (kind == nullptr) return Status::Internal("no node-drain kind");
  TargetSpec target;
  target.kind = "kubernetes";
  target.kubeconfig = o.kubeconfig;
  Diagnostics diags;
  YAML::Node yaml = YAML::Load("{nodes: [" + node + "], eviction_timeout: 10m}");
  SpecNode spec(yaml, "spec", std::make_shared<const std::string>("bench"), &diags);
  auto injector = kind->Parse(spec, target);
  if (!diags.empty() || injector == nullptr) return Status::InvalidArgument(diags.ToString());
  InjectorEnv env;
  env.run_id = "node-drain-bench";
  env.target = target;
  auto targets = injector->Discover(env);
  if (!targets.ok()) return targets.status();
  if (targets->size() != 1) return Status::Internal("expected one node");
  auto record = injector->RevertRecord((*targets)[0], env);
  if (!record.ok()) return record.status();
  const Status st = injector->Inject((*targets)[0], env);
  const Status reverted = kind->Revert(*record, env);
  *note = reverted.ok() ? "" : "revert: " + reverted.ToString();
  return st;
}

// kubectl drain, its output in `log`.
Status DrainWithKubectl(const Options& o, const std::string& node, std::string* note) {
  const std::string log = "/tmp/node_drain_bench_kubectl." + std::to_string(::getpid()) + ".log";
  std::vector<std::string> args = {o.kubectl,
                                   "--kubeconfig",
                                   o.kubeconfig,
                                   "drain",
                                   node,
                                   "--ignore-daemonsets",
                                   "--delete-emptydir-data",
                                   "--timeout=10m"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  if (::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    Die("cannot run " + o.kubectl);
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream in(log);
  size_t evicted = 0, retried = 0;
  std::string last;
  for (std::string line; std::getline(in, line);) {
    evicted += line.find(" evicted") != std::string::npos;
    retried += line.find("will retry after") != std::string::npos;
    if (!line.empty()) last = line;
  }
  std::remove(log.c_str());
  *note = "kubectl printed " + std::to_string(evicted) + " evicted, " + std::to_string(retried) +
          " will-retry lines";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Internal("kubectl drain failed: " + last);
  }
  return Status::Ok();
}

struct Row {
  std::string tool;
  double empty_s = 0, exit_s = 0;
  double evictions = 0, refusals = 0, other = 0;
  int most_unavailable = 0;
};

Row Measure(KubeClient& client, const Options& o, const std::vector<std::string>& nodes,
            const std::string& tool) {
  const std::string& node = nodes[0];
  Setup(client, o, nodes);
  const std::map<std::string, double> before = EvictionCounts(client);

  std::atomic<bool> stop{false};
  std::atomic<int> min_running{o.pods};
  std::atomic<double> empty_at{-1};
  const auto t0 = SteadyClock::now();
  std::thread watcher([&] {
    auto watch_client = KubeClient::FromKubeconfig(o.kubeconfig, "");
    if (!watch_client.ok()) Die(watch_client.status().ToString());
    while (!stop) {
      PodCount c;
      if (CountPods(**watch_client, o, node, &c)) {
        const double t = Since(t0);
        min_running = std::min(min_running.load(), c.running);
        if (c.on_node == 0 && empty_at < 0) empty_at = t;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::string note;
  const Status st =
      tool == "gameday" ? DrainWithGameday(o, node, &note) : DrainWithKubectl(o, node, &note);
  Row row;
  row.tool = tool;
  row.exit_s = Since(t0);
  if (!st.ok()) {
    stop = true;
    watcher.join();
    Die(tool + ": " + st.ToString());
  }
  if (!WaitFor([&] { return empty_at.load() >= 0; }, std::chrono::seconds(120),
               std::chrono::milliseconds(20))) {
    stop = true;
    watcher.join();
    Die(tool + ": the node was not empty 2 minutes after the drain returned");
  }
  stop = true;
  watcher.join();
  row.empty_s = empty_at;
  row.most_unavailable = o.pods - min_running;
  for (const auto& [code, n] : EvictionCounts(client)) {
    const double d = n - (before.count(code) ? before.at(code) : 0.0);
    if (code == "201" || code == "200") {
      row.evictions += d;
    } else if (code == "429") {
      row.refusals += d;
    } else {
      row.other += d;
    }
  }
  std::printf(
      "%s: empty after %.2f s, returned after %.2f s, %.0f evictions, %.0f 429s, %.0f other "
      "answers, at most %d unavailable%s%s\n",
      tool.c_str(), row.empty_s, row.exit_s, row.evictions, row.refusals, row.other,
      row.most_unavailable, note.empty() ? "" : "; ", note.c_str());
  SetUnschedulable(client, node, false);  // kubectl drain leaves it cordoned
  DeleteAll(client, o);
  return row;
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--kubeconfig") {
      o.kubeconfig = next();
    } else if (a == "--kubectl") {
      o.kubectl = next();
    } else if (a == "--namespace") {
      o.ns = next();
    } else if (a == "--pods") {
      o.pods = std::atoi(next().c_str());
    } else if (a == "--allowed") {
      o.allowed = std::atoi(next().c_str());
    } else if (a == "--runs") {
      o.runs = std::atoi(next().c_str());
    } else if (a == "--tools") {
      o.tools.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) o.tools.push_back(t);
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.kubeconfig.empty()) Die("--kubeconfig is required");
  if (o.pods < 1 || o.allowed < 1 || o.allowed > o.pods || o.runs < 1) {
    Die("need 1 <= --allowed <= --pods and --runs >= 1");
  }
  for (const std::string& t : o.tools) {
    if (t != "gameday" && t != "kubectl") Die("unknown tool " + t);
    if (t == "kubectl" && o.kubectl.empty()) Die("--kubectl is required for kubectl");
  }

  auto client_or = KubeClient::FromKubeconfig(o.kubeconfig, "");
  if (!client_or.ok()) Die(client_or.status().ToString());
  KubeClient& client = **client_or;
  const std::vector<std::string> nodes = bench::KwokNodes(client);
  if (nodes.size() < 2) Die("need at least two KWOK nodes");
  bench::CreateNamespace(client, o.ns);
  DeleteAll(client, o);  // leftovers of an earlier run
  std::printf("plane: %s, %zu KWOK nodes; draining %s\n", client.server().c_str(), nodes.size(),
              nodes[0].c_str());

  std::vector<Row> rows;
  for (int run = 0; run < o.runs; ++run) {
    for (const std::string& tool : o.tools) rows.push_back(Measure(client, o, nodes, tool));
  }
  std::printf(
      "\n| tool | seconds to empty | returned after (s) | evictions | 429s | "
      "most unavailable (budget %d) |\n| --- | --- | --- | --- | --- | --- |\n",
      o.allowed);
  for (const Row& r : rows) {
    std::printf("| %s | %.2f | %.2f | %.0f | %.0f | %d |\n",
                r.tool == "kubectl" ? "kubectl drain" : "gameday node-drain", r.empty_s, r.exit_s,
                r.evictions, r.refusals, r.most_unavailable);
  }
  return 0;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) { return gameday::Main(argc, argv); }

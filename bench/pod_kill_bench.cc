// Benchmark (not a test): gameday's concurrent pod delete against `kubectl delete pod <names>
// --wait=false`, on a real control plane with thousands of KWOK pods.
//
//   bench/pod_kill_bench.sh          starts a plane, builds kubectl, runs this, stops the plane
//   pod_kill_bench --kubeconfig FILE --kubectl PATH [--pods 5000] [--kill 1000]
//                  [--in-flight 32] [--namespace bench] [--gameday PATH]
//
// Steps: create --pods bare pods (bound round-robin to the KWOK nodes, so kwok runs them) and
// wait until they run; choose --kill of them; delete those with gameday's client (CallMany: one
// HTTP/2 connection, at most --in-flight requests at once, UID preconditions like pod-kill) and
// time it; recreate the same names and wait; delete them with kubectl and time it. Also reports
// the peak RSS of this process while it lists every pod (paginated), and, with --gameday, the
// peak RSS of `gameday run --dry-run` on a pod-kill plan that selects all of them.

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"

extern char** environ;

namespace gameday {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "pod_kill_bench: %s\n", msg.c_str());
  std::exit(1);
}

long StatusKib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return -1;
}

struct Options {
  std::string kubeconfig;
  std::string kubectl;
  std::string gameday;
  std::string ns = "bench";
  int pods = 5000;
  int kill = 1000;
  size_t in_flight = 32;
};

// The pods tolerate every taint: on a loaded machine kwok's heartbeats can lag past the node
// grace period, and the test plane's 10 s not-ready toleration would then evict them mid-run.
std::string PodJson(const std::string& ns, const std::string& name, const std::string& node) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":")" +
         ns + R"(","labels":{"app":"bench"}},"spec":{"nodeName":")" + node +
         R"(","tolerations":[{"operator":"Exists"}],"terminationGracePeriodSeconds":0,"automountServiceAccountToken":false,"containers":[{"name":"app","image":"fake-image"}]}})";
}

struct PodRef {
  std::string name, uid, phase;
};

std::vector<PodRef> ListPods(KubeClient& client, const std::string& ns) {
  std::vector<PodRef> out;
  auto rv = client.List(ResourceRef::Core("pods", ns), ListOptions{"app=bench", "", 500, {}},
                        [&](const rapidjson::Value& pod) {
                          if (JsonPath(pod, {"metadata", "deletionTimestamp"})) return Status::Ok();
                          out.push_back({JsonPathString(pod, {"metadata", "name"}),
                                         JsonPathString(pod, {"metadata", "uid"}),
                                         JsonPathString(pod, {"status", "phase"})});
                          return Status::Ok();
                        });
  if (!rv.ok()) Die("list: " + rv.status().ToString());
  return out;
}

// Creates `names` (bound round-robin to `nodes`) and waits until all of them run.
void CreateAndWait(KubeClient& client, const Options& o, const std::vector<std::string>& names,
                   const std::vector<std::string>& nodes, const char* what) {
  const auto t0 = Clock::now();
  std::vector<KubeRequest> creates;
  for (size_t i = 0; i < names.size(); ++i) {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("pods", o.ns);
    req.body = PodJson(o.ns, names[i], nodes[i % nodes.size()]);
    creates.push_back(std::move(req));
  }
  size_t failed = 0;
  for (const auto& r : client.CallMany(creates, o.in_flight)) {
    if (!r.ok() && r.status().code() != Status::Code::kFailedPrecondition) ++failed;
  }
  if (failed) Die(std::to_string(failed) + " pod creations failed");
  const double created = Since(t0);
  const std::set<std::string> wanted(names.begin(), names.end());
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  size_t running = 0;
  while (true) {
    running = 0;
    for (const PodRef& p : ListPods(client, o.ns))
      running += wanted.count(p.name) && p.phase == "Running";
    if (running == names.size()) break;
    if (Clock::now() > deadline) {
      std::map<std::string, size_t> phases;
      std::string example;
      std::set<std::string> seen;
      for (const PodRef& p : ListPods(client, o.ns)) {
        if (!wanted.count(p.name)) continue;
        seen.insert(p.name);
        ++phases[p.phase];
        if (p.phase != "Running" && example.empty()) example = p.name;
      }
      std::string text;
      for (const auto& [phase, n] : phases) text += " " + phase + "=" + std::to_string(n);
      Die("pods did not all run within 10 minutes:" + text +
          ", missing=" + std::to_string(wanted.size() - seen.size()) +
          (example.empty() ? "" : ", e.g. " + example));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::printf("%s: %zu pods created in %.1f s, all Running after %.1f s\n", what, names.size(),
              created, Since(t0));
}

// Waits until none of `names` is left (deleted pods are finalised by kwok), so the next step
// starts from a quiet API server.
void WaitGone(KubeClient& client, const Options& o, const std::set<std::string>& names) {
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  while (Clock::now() < deadline) {
    size_t left = 0;
    ListOptions opts{"app=bench", "", 500, {}};
    auto rv = client.List(ResourceRef::Core("pods", o.ns), opts, [&](const rapidjson::Value& pod) {
      left += names.count(JsonPathString(pod, {"metadata", "name"}));
      return Status::Ok();
    });
    if (rv.ok() && left == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  Die("deleted pods were not finalised within 5 minutes");
}

// Runs argv with stdout/stderr to `log`; returns the exit status and the child's peak RSS (KiB).
int Spawn(const std::vector<std::string>& args, const std::string& log, long* maxrss_kib,
          double* seconds) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  const auto t0 = Clock::now();
  if (::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    Die("cannot run " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  *seconds = Since(t0);
  if (maxrss_kib) *maxrss_kib = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up in logs as it happens
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--kubeconfig")
      o.kubeconfig = next();
    else if (a == "--kubectl")
      o.kubectl = next();
    else if (a == "--gameday")
      o.gameday = next();
    else if (a == "--namespace")
      o.ns = next();
    else if (a == "--pods")
      o.pods = std::atoi(next().c_str());
    else if (a == "--kill")
      o.kill = std::atoi(next().c_str());
    else if (a == "--in-flight")
      o.in_flight = static_cast<size_t>(std::atoi(next().c_str()));
    else
      Die("unknown argument " + a);
  }
  if (o.kubeconfig.empty() || o.kubectl.empty()) Die("--kubeconfig and --kubectl are required");
  if (o.kill > o.pods || o.kill <= 0) Die("--kill must be in 1..--pods");

  auto client_or = KubeClient::FromKubeconfig(o.kubeconfig, "");
  if (!client_or.ok()) Die(client_or.status().ToString());
  KubeClient& client = **client_or;

  std::vector<std::string> nodes;
  auto rv = client.List(ResourceRef::Core("nodes"), ListOptions{"type=kwok", "", 500, {}},
                        [&](const rapidjson::Value& n) {
                          nodes.push_back(JsonPathString(n, {"metadata", "name"}));
                          return Status::Ok();
                        });
  if (!rv.ok() || nodes.empty()) Die("no KWOK nodes found");
  KubeRequest ns;
  ns.verb = "create";
  ns.ref = ResourceRef::Core("namespaces");
  ns.body = R"({"metadata":{"name":")" + o.ns + R"("}})";
  (void)client.Call(ns);
  std::printf("plane: %s, %zu KWOK nodes, namespace %s\n", client.server().c_str(), nodes.size(),
              o.ns.c_str());

  std::vector<std::string> names;
  for (int i = 0; i < o.pods; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "bench-%05d", i);
    names.push_back(buf);
  }
  CreateAndWait(client, o, names, nodes, "setup");

  // Peak RSS while listing every pod (paginated, 500 a page), measured from a reset high-water
  // mark: writing 5 to clear_refs sets VmHWM back to the current RSS.
  {
    std::ofstream("/proc/self/clear_refs") << "5";
    const long base = StatusKib("VmHWM:");
    const auto t0 = Clock::now();
    const size_t n = ListPods(client, o.ns).size();
    std::printf("list: %zu pods in %.2f s; peak RSS %.1f MiB (%.1f MiB before the list)\n", n,
                Since(t0), StatusKib("VmHWM:") / 1024.0, base / 1024.0);
  }

  // The same random choice for both tools.
  std::vector<PodRef> pods = ListPods(client, o.ns);
  std::mt19937_64 rng(12345);
  std::shuffle(pods.begin(), pods.end(), rng);
  pods.resize(static_cast<size_t>(o.kill));
  std::sort(pods.begin(), pods.end(),
            [](const PodRef& a, const PodRef& b) { return a.name < b.name; });
  std::set<std::string> chosen;
  for (const PodRef& p : pods) chosen.insert(p.name);

  // gameday: concurrent deletes with UID preconditions, as pod-kill sends them.
  std::vector<KubeRequest> deletes;
  for (const PodRef& p : pods) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ResourceRef::Core("pods", o.ns, p.name);
    req.body =
        R"({"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"uid":")" + p.uid + R"("}})";
    deletes.push_back(std::move(req));
  }
  auto t0 = Clock::now();
  size_t failed = 0;
  for (const auto& r : client.CallMany(deletes, o.in_flight)) failed += !r.ok();
  const double gameday_s = Since(t0);
  if (failed) Die(std::to_string(failed) + " gameday deletes failed");
  std::printf("gameday: deleted %d pods in %.3f s (%zu in flight)\n", o.kill, gameday_s,
              o.in_flight);
  WaitGone(client, o, chosen);

  // Recreate the same names, then kubectl.
  CreateAndWait(client, o, std::vector<std::string>(chosen.begin(), chosen.end()), nodes,
                "recreate");
  std::vector<std::string> args = {o.kubectl, "--kubeconfig", o.kubeconfig, "-n",
                                   o.ns,      "delete",       "pod"};
  args.insert(args.end(), chosen.begin(), chosen.end());
  args.push_back("--wait=false");
  double kubectl_s = 0;
  long kubectl_rss = 0;
  const std::string log = "/tmp/pod_kill_bench_kubectl." + std::to_string(::getpid()) + ".log";
  const int rc = Spawn(args, log, &kubectl_rss, &kubectl_s);
  std::ifstream in(log);
  size_t lines = 0;
  for (std::string line; std::getline(in, line);)
    lines += line.find("deleted") != std::string::npos;
  std::remove(log.c_str());
  if (rc != 0) Die("kubectl exited " + std::to_string(rc));
  std::printf("kubectl: deleted %zu pods in %.3f s (peak RSS %.1f MiB)\n", lines, kubectl_s,
              kubectl_rss / 1024.0);
  WaitGone(client, o, chosen);

  if (!o.gameday.empty()) {
    // The whole tool: parse, list every pod and print the 1-of-N selection, touching nothing.
    CreateAndWait(client, o, std::vector<std::string>(chosen.begin(), chosen.end()), nodes,
                  "recreate");
    const std::string plan = "/tmp/pod_kill_bench_plan." + std::to_string(::getpid()) + ".yaml";
    std::ofstream(plan) << "name: bench-dry-run\ntarget: {kind: kubernetes, kubeconfig: "
                        << o.kubeconfig << "}\nverify:\n  - {name: api, kind: apiserver}\n"
                        << "method:\n  - inject: pod-kill\n"
                        << "    select: {mode: fixed, value: " << o.kill << "}\n"
                        << "    spec: {namespace: " << o.ns << ", label_selector: app=bench}\n";
    long rss = 0;
    double secs = 0;
    const std::string dlog = plan + ".log";
    const int drc = Spawn({o.gameday, "run", plan, "--dry-run"}, dlog, &rss, &secs);
    std::printf(
        "gameday run --dry-run (lists %d pods, selects %d): exit %d, %.2f s, peak RSS "
        "%.1f MiB\n",
        o.pods, o.kill, drc, secs, rss / 1024.0);
    std::remove(plan.c_str());
    std::remove(dlog.c_str());
  }

  std::printf("RESULT pods=%d kill=%d gameday_s=%.3f kubectl_s=%.3f speedup=%.1fx\n", o.pods,
              o.kill, gameday_s, kubectl_s, kubectl_s / gameday_s);
  return 0;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) { return gameday::Main(argc, argv); }

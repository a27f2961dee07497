// Benchmark (not a test): the side-by-side pod kill of issue 13. On a real control plane with
// thousands of KWOK pods, each tool deletes the same chosen pods, once with a 0 s grace period
// and once with 30 s, and a watch started before the tool times the deletions.
//
//   bench/pod_kill_bench.sh          starts a plane, installs the peers, runs this, cleans up
//   pod_kill_bench --kubeconfig FILE --tool-kubeconfig FILE --tool-user NAME --audit-log FILE
//                  --work DIR [--kubectl PATH] [--gameday PATH] [--chaos PATH]
//                  [--python PATH --krkn-script PATH] [--tools LIST] [--graces 0,30]
//                  [--pods 5000] [--kill 1000] [--namespace bench] [--connections 64]
//                  [--krkn-workers 32] [--tool-timeout 240]
//   pod_kill_bench raw-delete --kubeconfig FILE --namespace NS --names FILE --grace N
//                  [--connections 64 | --h2-in-flight N]      (the ceiling, run as a child)
//
// Setup: --pods bare pods (bound round-robin to the KWOK nodes, so kwok runs them), of which
// --kill carry the label chosen=yes. Then for every grace period and every tool:
//   1. the chosen pods exist and run (recreated after the previous tool, same names);
//   2. a watch on the pods starts, and is proven live by patching a pod that is not chosen;
//   3. the tool runs as a child process in its own process group (killed after --tool-timeout);
//   4. the watch records for every chosen pod when the delete was accepted (deletionTimestamp
//      set, or the object gone at once) and when the object was gone (DELETED);
//   5. the API server's audit log (the plane's kube-apiserver writes one; only --tool-user is
//      logged, and only the tools use that user) gives the tool's requests by verb and resource;
//      wait4 gives the tool's CPU time (user + sys, its waited-for children included) and its
//      peak RSS.
// Tools: gameday (a real `gameday run` of a pod-kill plan, journal on), chaostoolkit (`chaos run`
// with chaosk8s terminate_pods), krkn-serial and krkn-parallel (krkn_pod_kill.py), kubectl
// (`delete pod NAMES --wait=false`), raw-conns (--connections threads, one connection each,
// plain DELETEs) and raw-h2 (one HTTP/2 connection, CallMany). The raw rows are the ceiling.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_k8s.h"
#include "bench_util.h"
#include "clients/kubernetes/client.h"

extern char** environ;

namespace gameday {
namespace {

using bench::Die;
using bench::Since;

using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path, size_t limit = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  std::string s(limit, '\0');
  in.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string LoadAverage() {
  std::string s = ReadFile("/proc/loadavg", 256);
  const auto parts = Split(s, ' ');
  if (parts.size() < 3) return "?";
  return parts[0] + " " + parts[1] + " " + parts[2];
}

struct Options {
  std::string kubeconfig;       // the bench's own (admin certificate): setup and the watch
  std::string tool_kubeconfig;  // what every tool uses (the token user the audit log keeps)
  std::string tool_user;
  std::string audit_log;
  std::string work;  // plans, logs, names files, gameday's state
  std::string kubectl, gameday, chaos, python, krkn_script;
  std::vector<std::string> tools = {"gameday", "chaostoolkit", "krkn-serial", "krkn-parallel",
                                    "kubectl", "raw-conns",    "raw-h2"};
  std::vector<int> graces = {0, 30};
  std::string ns = "bench";
  int pods = 5000;
  int kill = 1000;
  int connections = 64;
  int krkn_workers = 32;
  int tool_timeout_s = 240;
};

constexpr char kChosenLabel[] = "chosen";
constexpr char kChosenSelector[] = "app=bench,chosen=yes";
constexpr int kWatchShards = 8;

// Pod bench-NNNNN carries the label shard=NNNNN % kWatchShards (see DeletionWatch).
int ShardOf(const std::string& name) {
  return std::atoi(name.c_str() + std::min<size_t>(name.size(), 6)) % kWatchShards;
}

// The pods tolerate every taint: on a loaded machine kwok's heartbeats can lag past the node
// grace period, and the test plane's 10 s not-ready toleration would then evict them mid-run.
std::string PodJson(const std::string& ns, const std::string& name, const std::string& node,
                    bool chosen, int grace) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":")" +
         ns + R"(","labels":{"app":"bench","shard":")" + std::to_string(ShardOf(name)) + "\"" +
         (chosen ? std::string(",\"") + kChosenLabel + "\":\"yes\"" : std::string()) +
         R"(}},"spec":{"nodeName":")" + node +
         R"(","tolerations":[{"operator":"Exists"}],"terminationGracePeriodSeconds":)" +
         std::to_string(grace) +
         R"(,"automountServiceAccountToken":false,"containers":[{"name":"app","image":"fake-image"}]}})";
}

struct PodRef {
  std::string name, uid, phase;
  bool terminating = false;
};

std::vector<PodRef> ListPods(KubeClient& client, const std::string& ns,
                             const std::string& selector = "app=bench",
                             std::string* resource_version = nullptr) {
  std::vector<PodRef> out;
  auto rv =
      client.List(ResourceRef::Core("pods", ns), ListOptions{selector, "", 500, {}},
                  [&](const rapidjson::Value& pod) {
                    out.push_back({JsonPathString(pod, {"metadata", "name"}),
                                   JsonPathString(pod, {"metadata", "uid"}),
                                   JsonPathString(pod, {"status", "phase"}),
                                   JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr});
                    return Status::Ok();
                  });
  if (!rv.ok()) Die("list: " + rv.status().ToString());
  if (resource_version) *resource_version = *rv;
  return out;
}

// Creates the pods of `names` that do not exist (bound round-robin to `nodes`) and waits until
// every one of `names` runs.
void CreateAndWait(KubeClient& client, const Options& o, const std::vector<std::string>& names,
                   const std::set<std::string>& chosen, const std::vector<std::string>& nodes,
                   int grace, const char* what) {
  const auto t0 = Clock::now();
  std::set<std::string> present;
  for (const PodRef& p : ListPods(client, o.ns)) present.insert(p.name);
  std::vector<KubeRequest> creates;
  for (size_t i = 0; i < names.size(); ++i) {
    if (present.count(names[i])) continue;
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("pods", o.ns);
    req.body = PodJson(o.ns, names[i], nodes[i % nodes.size()], chosen.count(names[i]) > 0, grace);
    creates.push_back(std::move(req));
  }
  size_t failed = 0;
  for (const auto& r : client.CallMany(creates, 32)) {
    if (!r.ok() && r.status().code() != Status::Code::kFailedPrecondition) ++failed;
  }
  if (failed) Die(std::to_string(failed) + " pod creations failed");
  const double created = Since(t0);
  const std::set<std::string> wanted(names.begin(), names.end());
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (true) {
    size_t running = 0;
    std::map<std::string, size_t> phases;
    for (const PodRef& p : ListPods(client, o.ns)) {
      if (!wanted.count(p.name)) continue;
      running += p.phase == "Running" && !p.terminating;
      ++phases[p.terminating ? "Terminating" : p.phase];
    }
    if (running == names.size()) break;
    if (Clock::now() > deadline) {
      std::string text;
      for (const auto& [phase, n] : phases) text += " " + phase + "=" + std::to_string(n);
      Die(std::string(what) + ": pods did not all run within 10 minutes:" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::printf("%s: %zu pods created in %.1f s, all %zu Running after %.1f s\n", what,
              creates.size(), created, names.size(), Since(t0));
}

// Deletes (grace 0) whatever is left of `names` and waits until none is left, so the next tool
// starts from the same state and a quiet API server.
void ClearAndWaitGone(KubeClient& client, const Options& o, const std::set<std::string>& names) {
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  bool forced = false;
  while (Clock::now() < deadline) {
    std::vector<KubeRequest> deletes;
    for (const PodRef& p : ListPods(client, o.ns, kChosenSelector)) {
      if (!names.count(p.name)) continue;
      KubeRequest req;
      req.verb = "delete";
      req.ref = ResourceRef::Core("pods", o.ns, p.name);
      req.body = R"({"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":0})";
      deletes.push_back(std::move(req));
    }
    if (deletes.empty()) return;
    // Only pods the tool left alive (a timeout) or left terminating are deleted here.
    if (!forced) std::printf("  clean-up: %zu chosen pods still there\n", deletes.size());
    forced = true;
    (void)client.CallMany(deletes, 32);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  Die("chosen pods were not gone within 5 minutes");
}

// ---- the watch ------------------------------------------------------------------------------

// Watches the bench pods in kWatchShards streams (label shard=0..N-1), from a list's
// resourceVersion; for the chosen ones it records when the delete was seen accepted
// (deletionTimestamp set, or gone at once) and when the object was gone (DELETED). Several
// streams, because the API server closes a watch whose reader falls behind a burst of events
// (1,000 deletions in well under a second, on a loaded machine). A stream that ends anyway is
// resumed from the last resourceVersion it saw (the server replays what was missed; those
// events are timed late) and, if that is too old, re-listed (pods missing then are gone "now");
// the row says how often either happened. A patch of one pod that is not chosen per shard (the
// sentinels) proves every stream live before the tool starts.
class DeletionWatch {
 public:
  DeletionWatch(KubeClient& client, const Options& o, const std::set<std::string>& chosen,
                std::vector<std::string> sentinels)
      : client_(client), o_(o), chosen_(chosen), sentinels_(std::move(sentinels)) {}

  ~DeletionWatch() { Stop(); }

  void Start() {
    std::string rv;
    (void)ListPods(client_, o_.ns, "app=bench", &rv);
    pings_.assign(kWatchShards, "");
    for (int k = 0; k < kWatchShards; ++k)
      threads_.emplace_back([this, rv, k](std::stop_token stop) { Run(k, rv, stop); });
    for (int attempt = 1; attempt <= 20; ++attempt) {
      const std::string token = std::to_string(attempt) + "-" + std::to_string(::getpid());
      for (const std::string& sentinel : sentinels_) {
        KubeRequest patch;
        patch.verb = "patch";
        patch.ref = ResourceRef::Core("pods", o_.ns, sentinel);
        patch.content_type = "application/merge-patch+json";
        patch.body = R"({"metadata":{"annotations":{"bench/ping":")" + token + R"("}}})";
        auto r = client_.Call(patch);
        if (!r.ok()) Die("patching the sentinel pod " + sentinel + ": " + r.status().ToString());
      }
      const auto until = Clock::now() + std::chrono::seconds(2);
      while (Clock::now() < until) {
        {
          std::lock_guard lock(mu_);
          if (std::all_of(pings_.begin(), pings_.end(),
                          [&](const std::string& p) { return p == token; })) {
            resumed_ = relisted_ = 0;  // only what happens while the tool runs counts
            return;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    Die("the watches did not all see their sentinel pod's patch within 40 s");
  }

  // Waits until every chosen pod is gone, or `deadline`.
  void WaitAllGone(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (gone_.size() == chosen_.size()) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void Stop() {
    for (auto& t : threads_) t.request_stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  std::map<std::string, Clock::time_point> accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  std::map<std::string, Clock::time_point> gone() const {
    std::lock_guard lock(mu_);
    return gone_;
  }
  // Streams resumed from their last resourceVersion, and shards re-listed, since Start.
  int resumed() const {
    std::lock_guard lock(mu_);
    return resumed_;
  }
  int relisted() const {
    std::lock_guard lock(mu_);
    return relisted_;
  }

 private:
  std::string Selector(int k) const { return "app=bench,shard=" + std::to_string(k); }

  // Re-lists shard k after its resourceVersion expired: chosen pods missing now are gone now,
  // terminating ones accepted now (if not seen before). Returns the list's resourceVersion.
  std::string Relist(int k) {
    std::string rv;
    const std::vector<PodRef> pods = ListPods(client_, o_.ns, Selector(k), &rv);
    const auto now = Clock::now();
    std::set<std::string> present;
    std::lock_guard lock(mu_);
    ++relisted_;
    for (const PodRef& p : pods) {
      present.insert(p.name);
      if (p.terminating && chosen_.count(p.name)) accepted_.emplace(p.name, now);
    }
    for (const std::string& name : chosen_) {
      if (ShardOf(name) != k || present.count(name)) continue;
      accepted_.emplace(name, now);
      gone_.emplace(name, now);
    }
    return rv;
  }

  void Run(int k, std::string rv, std::stop_token stop) {
    bool first = true;
    while (!stop.stop_requested()) {
      if (!first) {
        std::lock_guard lock(mu_);
        ++resumed_;
      }
      first = false;
      bool expired = false;
      KubeRequest req;
      req.verb = "watch";
      req.ref = ResourceRef::Core("pods", o_.ns);
      req.query = {{"watch", "1"},
                   {"labelSelector", Selector(k)},
                   {"resourceVersion", rv},
                   {"timeoutSeconds", "1800"}};
      req.timeout = std::chrono::hours(1);
      req.stop = stop;
      Status st = client_.Stream(req, [&](const std::string& line) {
        const auto now = Clock::now();
        if (line.size() > (1 << 20)) return true;  // no pod of ours is that large; skip it
        rapidjson::Document doc;
        doc.Parse(line.data(), line.size());
        if (doc.HasParseError() || !doc.IsObject()) return true;
        const std::string type = JsonString(doc, "type");
        if (!doc.HasMember("object") || !doc["object"].IsObject()) return true;
        const rapidjson::Value& obj = doc["object"];
        if (type == "ERROR") {  // 410 Gone: the resourceVersion left the server's window
          expired = true;
          return false;
        }
        const std::string obj_rv = JsonPathString(obj, {"metadata", "resourceVersion"});
        if (!obj_rv.empty() && obj_rv.size() < 32) rv = obj_rv;
        const std::string name = JsonPathString(obj, {"metadata", "name"});
        std::lock_guard lock(mu_);
        if (name == sentinels_[static_cast<size_t>(k)]) {
          pings_[static_cast<size_t>(k)] =
              JsonPathString(obj, {"metadata", "annotations", "bench/ping"});
          return true;
        }
        if (!chosen_.count(name)) return true;
        if (type == "DELETED") {
          gone_.emplace(name, now);
          accepted_.emplace(name, now);
        } else if (JsonPath(obj, {"metadata", "deletionTimestamp"})) {
          accepted_.emplace(name, now);
        }
        return true;
      });
      if (stop.stop_requested()) return;
      if (expired) rv = Relist(k);
      if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  KubeClient& client_;
  const Options& o_;
  const std::set<std::string>& chosen_;
  const std::vector<std::string> sentinels_;  // one per shard
  mutable std::mutex mu_;
  std::vector<std::string> pings_;
  int resumed_ = 0, relisted_ = 0;
  std::map<std::string, Clock::time_point> accepted_, gone_;
  std::vector<std::jthread> threads_;
};

// ---- the tool as a child process -------------------------------------------------------------

struct ChildResult {
  int exit_code = -1;  // -1: killed at the timeout (or by a signal)
  bool timed_out = false;
  double wall_s = 0;
  double cpu_s = 0;  // user + sys, the child and its waited-for children
  long maxrss_kib = 0;
};

// Runs argv (with `env` added to this process's environment) in its own process group with
// stdout and stderr to `log`; kills the group after `timeout_s`. The group id is written to
// WORK/tool.pgid while it runs, so the bench script's clean-up can end it if this process dies.
ChildResult RunTool(const Options& o, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, const std::string& log,
                    Clock::time_point t0) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& add : env) overridden |= add.substr(0, add.find('=')) == key;
    if (!overridden) envs.push_back(kv);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> argv, envp;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("cannot open " + log);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
  ::setpgid(pid, pid);  // also here, so the group exists before anything signals it
  const std::string pgid_file = o.work + "/tool.pgid";
  std::ofstream(pgid_file) << pid << "\n";
  ChildResult res;
  const auto deadline = t0 + std::chrono::seconds(o.tool_timeout_s);
  int status = 0;
  rusage ru{};
  while (true) {
    const pid_t r = ::wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0) Die("wait4 failed");
    if (Clock::now() > deadline && !res.timed_out) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  res.wall_s = Since(t0);
  ::kill(-pid, SIGKILL);  // anything the tool left in its group
  std::remove(pgid_file.c_str());
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  res.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
              static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  res.maxrss_kib = ru.ru_maxrss;
  return res;
}

// ---- the audit log ---------------------------------------------------------------------------

struct AuditCount {
  std::map<std::string, long> by_verb;  // "delete pods", "create events", "get /readyz"
  long errors = 0;                      // answers >= 400
  long total = 0;
};

long FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : 0;
}

// Counts the tool user's completed requests in the audit log from byte `from` on.
AuditCount CountAudit(const Options& o, long from) {
  AuditCount c;
  std::ifstream in(o.audit_log, std::ios::binary);
  in.seekg(from);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    if (JsonString(doc, "stage") != "ResponseComplete") continue;
    if (JsonPathString(doc, {"user", "username"}) != o.tool_user) continue;
    std::string what = JsonString(doc, "verb") + " ";
    const std::string resource = JsonPathString(doc, {"objectRef", "resource"});
    if (!resource.empty()) {
      what += resource;
    } else {
      std::string uri = JsonString(doc, "requestURI");
      what += uri.substr(0, uri.find('?'));
    }
    ++c.by_verb[what];
    ++c.total;
    const rapidjson::Value* code = JsonPath(doc, {"responseStatus", "code"});
    if (code && code->IsInt() && code->GetInt() >= 400) ++c.errors;
  }
  return c;
}

// ---- the tools -------------------------------------------------------------------------------

struct ToolRun {
  std::vector<std::string> args;
  std::vector<std::string> env;
};

std::string WritePlan(const Options& o, int grace) {
  const std::string path = o.work + "/gameday-plan-" + std::to_string(grace) + ".yaml";
  // A pod-kill of every chosen pod; one fast verifier because a plan needs one, no warm-up and
  // the shortest cool-down that still holds a decided sample (with 0 s the steady-state check
  // after the fault has nothing to judge and the run fails), so the run is the kill. The watch
  // times the kill itself.
  std::ofstream(path) << "name: pod-kill-bench-" << grace << "s\n"
                      << "target: {kind: kubernetes, kubeconfig: " << o.tool_kubeconfig << "}\n"
                      << "warmup: 0s\nstable_for: 100ms\ncooldown: 300ms\n"
                      << "verify:\n"
                      << "  - {name: api, kind: apiserver, interval: 100ms,"
                      << " spec: {endpoint: readyz, timeout: 1s}}\n"
                      << "method:\n"
                      << "  - inject: pod-kill\n"
                      << "    select: {mode: all}\n"
                      << "    spec: {namespace: " << o.ns << ", label_selector: \""
                      << kChosenSelector << "\", grace_period: " << grace << "s}\n";
  return path;
}

std::string WriteChaosExperiment(const Options& o, int grace) {
  const std::string path = o.work + "/chaos-experiment-" + std::to_string(grace) + ".json";
  std::ofstream(path)
      << R"({"version":"1.0.0","title":"pod-kill bench","description":"terminate the chosen pods",)"
      << R"("method":[{"type":"action","name":"terminate-chosen-pods","provider":{)"
      << R"("type":"python","module":"chaosk8s.pod.actions","func":"terminate_pods",)"
      << R"("arguments":{"label_selector":")" << kChosenSelector << R"(","all":true,)"
      << R"("grace_period":)" << grace << R"(,"ns":")" << o.ns << R"("}}}]})"
      << "\n";
  return path;
}

std::optional<ToolRun> ToolCommand(const Options& o, const std::string& tool, int grace,
                                   const std::string& names_file, const std::string& self,
                                   const std::vector<std::string>& names, int round) {
  const std::string g = std::to_string(grace);
  ToolRun t;
  t.env = {"KUBECONFIG=" + o.tool_kubeconfig};
  if (tool == "gameday") {
    if (o.gameday.empty()) return std::nullopt;
    t.env.push_back("GAMEDAY_STATE_DIR=" + o.work + "/gameday-state");
    t.args = {o.gameday, "run", WritePlan(o, grace), "--report-dir",
              o.work + "/gameday-report-" + std::to_string(round)};
  } else if (tool == "chaostoolkit") {
    if (o.chaos.empty()) return std::nullopt;
    t.args = {o.chaos,
              "--no-version-check",
              "--log-file",
              o.work + "/chaostoolkit-" + std::to_string(round) + ".log",
              "run",
              "--journal-path",
              o.work + "/chaostoolkit-journal-" + std::to_string(round) + ".json",
              WriteChaosExperiment(o, grace)};
  } else if (tool == "krkn-serial" || tool == "krkn-parallel") {
    if (o.python.empty() || o.krkn_script.empty()) return std::nullopt;
    t.args = {o.python,           o.krkn_script,
              "--kubeconfig",     o.tool_kubeconfig,
              "--namespace",      o.ns,
              "--label-selector", kChosenSelector,
              "--grace",          g,
              "--workers",        tool == "krkn-serial" ? "0" : std::to_string(o.krkn_workers)};
  } else if (tool == "kubectl") {
    if (o.kubectl.empty()) return std::nullopt;
    t.args = {o.kubectl, "--kubeconfig", o.tool_kubeconfig, "-n", o.ns, "delete", "pod"};
    t.args.insert(t.args.end(), names.begin(), names.end());
    t.args.push_back("--wait=false");
    t.args.push_back("--grace-period=" + g);
    // kubectl refuses --grace-period=0 without --force (it means "immediately" only then).
    if (grace == 0) t.args.push_back("--force");
  } else if (tool == "raw-conns" || tool == "raw-h2") {
    t.args = {self, "raw-delete", "--kubeconfig", o.tool_kubeconfig, "--namespace",
              o.ns, "--names",    names_file,     "--grace",         g};
    if (tool == "raw-conns") {
      t.args.insert(t.args.end(), {"--connections", std::to_string(o.connections)});
    } else {
      t.args.insert(t.args.end(), {"--h2-in-flight", std::to_string(o.connections)});
    }
  } else {
    Die("unknown tool " + tool);
  }
  return t;
}

// ---- one row ---------------------------------------------------------------------------------

struct Row {
  int grace = 0;
  std::string tool;
  ChildResult child;
  size_t accepted = 0, gone = 0, chosen = 0;
  double first_s = -1, last_accepted_s = -1, last_gone_s = -1;
  AuditCount audit;
  int watch_resumed = 0, watch_relisted = 0;
};

std::string Seconds(double s) {
  if (s < 0) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), s < 10 ? "%.2f" : "%.1f", s);
  return buf;
}

std::string VerbText(const AuditCount& a) {
  std::vector<std::pair<long, std::string>> items;
  for (const auto& [what, n] : a.by_verb) items.push_back({n, what});
  std::sort(items.begin(), items.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  });
  std::string s;
  for (const auto& [n, what] : items) s += (s.empty() ? "" : ", ") + what + " " + std::to_string(n);
  if (a.errors) s += " (" + std::to_string(a.errors) + " answered >= 400)";
  return s.empty() ? "none" : s;
}

std::string ToolLabel(const Options& o, const std::string& tool) {
  if (tool == "gameday") return "gameday run (journal on)";
  if (tool == "chaostoolkit") return "chaos run (terminate_pods)";
  if (tool == "krkn-serial") return "krkn-lib delete_pod, serial";
  if (tool == "krkn-parallel")
    return "krkn-lib delete_pod, " + std::to_string(o.krkn_workers) + " threads";
  if (tool == "kubectl") return "kubectl delete --wait=false";
  if (tool == "raw-conns") return "raw DELETEs, " + std::to_string(o.connections) + " connections";
  if (tool == "raw-h2")
    return "raw DELETEs, 1 HTTP/2 conn, " + std::to_string(o.connections) + " streams";
  return tool;
}

void PrintTable(const Options& o, const std::vector<Row>& rows, const std::string& load_start,
                const std::string& load_end) {
  std::printf(
      "\n| grace | tool | start → last delete accepted (s) | first → last accepted (s) | start "
      "→ last object gone (s) | tool exit (s) | API requests (tool's user) | CPU (s) | peak RSS "
      "(MiB) | watch |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::string last = Seconds(r.last_accepted_s);
    if (r.accepted < r.chosen)
      last = "only " + std::to_string(r.accepted) + "/" + std::to_string(r.chosen);
    std::string gone = Seconds(r.last_gone_s);
    if (r.gone < r.chosen) gone = std::to_string(r.gone) + "/" + std::to_string(r.chosen) + " gone";
    std::string exit = Seconds(r.child.wall_s);
    if (r.child.timed_out)
      exit = "killed at " + std::to_string(o.tool_timeout_s) + " s";
    else if (r.child.exit_code != 0)
      exit += " (exit " + std::to_string(r.child.exit_code) + ")";
    std::string watch = "live throughout";
    if (r.watch_resumed || r.watch_relisted)
      watch = "resumed " + std::to_string(r.watch_resumed) + "x, re-listed " +
              std::to_string(r.watch_relisted) + "x: times are late bounds";
    std::printf(
        "| %d s | %s | %s | %s | %s | %s | %s | %.2f | %.1f | %s |\n", r.grace,
        ToolLabel(o, r.tool).c_str(), last.c_str(),
        Seconds(r.first_s >= 0 && r.accepted == r.chosen ? r.last_accepted_s - r.first_s : -1)
            .c_str(),
        gone.c_str(), exit.c_str(), VerbText(r.audit).c_str(), r.child.cpu_s,
        r.child.maxrss_kib / 1024.0, watch.c_str());
  }
  std::printf("\nload average (1/5/15 min): %s at the start, %s at the end; %d pods, %d chosen\n",
              load_start.c_str(), load_end.c_str(), o.pods, o.kill);
  // The issue's targets, per grace period, on start → last accepted.
  for (int grace : o.graces) {
    const Row *gd = nullptr, *ctk = nullptr, *ceiling = nullptr;
    for (const Row& r : rows) {
      if (r.grace != grace || r.accepted < r.chosen) continue;
      if (r.tool == "gameday") gd = &r;
      if (r.tool == "chaostoolkit") ctk = &r;
      if ((r.tool == "raw-conns" || r.tool == "raw-h2") &&
          (!ceiling || r.last_accepted_s < ceiling->last_accepted_s))
        ceiling = &r;
    }
    if (!gd) {
      std::printf("grace %d s: no complete gameday row\n", grace);
      continue;
    }
    if (ctk) {
      const double x = ctk->last_accepted_s / gd->last_accepted_s;
      std::printf("grace %d s: gameday %.1fx faster than Chaos Toolkit (target >= 5x: %s)\n", grace,
                  x, x >= 5 ? "met" : "MISSED");
    }
    if (ceiling) {
      const double x = gd->last_accepted_s / ceiling->last_accepted_s;
      std::printf("grace %d s: gameday at %.2fx the raw ceiling (%s) (target <= 1.5x: %s)\n", grace,
                  x, ToolLabel(o, ceiling->tool).c_str(), x <= 1.5 ? "met" : "MISSED");
    }
  }
}

// ---- raw-delete: the ceiling, as a child process ----------------------------------------------

int RawDelete(int argc, char** argv) {
  std::string kubeconfig, ns, names_file;
  int grace = 0, connections = 0, h2_in_flight = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--kubeconfig")
      kubeconfig = next();
    else if (a == "--namespace")
      ns = next();
    else if (a == "--names")
      names_file = next();
    else if (a == "--grace")
      grace = std::atoi(next().c_str());
    else if (a == "--connections")
      connections = std::atoi(next().c_str());
    else if (a == "--h2-in-flight")
      h2_in_flight = std::atoi(next().c_str());
    else
      Die("raw-delete: unknown argument " + a);
  }
  if (kubeconfig.empty() || ns.empty() || names_file.empty())
    Die("raw-delete: --kubeconfig, --namespace and --names are required");
  if ((connections > 0) == (h2_in_flight > 0))
    Die("raw-delete: exactly one of --connections and --h2-in-flight");
  const std::vector<std::string> names = Split(ReadFile(names_file, 64 << 20), '\n');
  auto client_or = KubeClient::FromKubeconfig(kubeconfig, "");
  if (!client_or.ok()) Die(client_or.status().ToString());
  KubeClient& client = **client_or;
  auto request = [&](const std::string& name) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ResourceRef::Core("pods", ns, name);
    req.body = R"({"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":)" +
               std::to_string(grace) + "}";
    return req;
  };
  std::atomic<size_t> failed{0};
  if (h2_in_flight > 0) {
    std::vector<KubeRequest> reqs;
    for (const auto& n : names) reqs.push_back(request(n));
    for (const auto& r : client.CallMany(reqs, static_cast<size_t>(h2_in_flight)))
      failed += !r.ok();
  } else {
    // Every thread takes its own easy handle from the client's pool, so its own connection.
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < connections; ++t) {
      threads.emplace_back([&] {
        for (size_t i; (i = next++) < names.size();) failed += !client.Call(request(names[i])).ok();
      });
    }
    for (auto& t : threads) t.join();
  }
  std::fprintf(stderr, "raw-delete: %zu deletes, %zu failed\n", names.size(), failed.load());
  return failed ? 1 : 0;
}

// ---- main ------------------------------------------------------------------------------------

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--kubeconfig")
      o.kubeconfig = next();
    else if (a == "--tool-kubeconfig")
      o.tool_kubeconfig = next();
    else if (a == "--tool-user")
      o.tool_user = next();
    else if (a == "--audit-log")
      o.audit_log = next();
    else if (a == "--work")
      o.work = next();
    else if (a == "--kubectl")
      o.kubectl = next();
    else if (a == "--gameday")
      o.gameday = next();
    else if (a == "--chaos")
      o.chaos = next();
    else if (a == "--python")
      o.python = next();
    else if (a == "--krkn-script")
      o.krkn_script = next();
    else if (a == "--tools")
      o.tools = Split(next(), ',');
    else if (a == "--graces") {
      o.graces.clear();
      for (const auto& g : Split(next(), ',')) o.graces.push_back(std::atoi(g.c_str()));
    } else if (a == "--namespace")
      o.ns = next();
    else if (a == "--pods")
      o.pods = std::atoi(next().c_str());
    else if (a == "--kill")
      o.kill = std::atoi(next().c_str());
    else if (a == "--connections")
      o.connections = std::atoi(next().c_str());
    else if (a == "--krkn-workers")
      o.krkn_workers = std::atoi(next().c_str());
    else if (a == "--tool-timeout")
      o.tool_timeout_s = std::atoi(next().c_str());
    else
      Die("unknown argument " + a);
  }
  if (o.kubeconfig.empty() || o.tool_kubeconfig.empty() || o.tool_user.empty() ||
      o.audit_log.empty() || o.work.empty())
    Die("--kubeconfig, --tool-kubeconfig, --tool-user, --audit-log and --work are required");
  if (o.kill >= o.pods || o.kill <= 0) Die("--kill must be in 1..--pods - 1");
  if (o.connections <= 0 || o.connections > 1024) Die("--connections must be in 1..1024");
  if (o.tool_timeout_s <= 0) Die("--tool-timeout must be positive");
  for (int g : o.graces)
    if (g < 0 || g > 3600) Die("--graces: each in 0..3600");
  return o;
}

std::string SelfPath(const char* argv0) {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv0;
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up in logs as it happens
  if (argc > 1 && std::string(argv[1]) == "raw-delete") return RawDelete(argc, argv);
  const Options o = ParseOptions(argc, argv);
  const std::string load_start = LoadAverage();
  const std::string self = SelfPath(argv[0]);

  auto client_or = KubeClient::FromKubeconfig(o.kubeconfig, "");
  if (!client_or.ok()) Die(client_or.status().ToString());
  KubeClient& client = **client_or;

  const std::vector<std::string> nodes = bench::KwokNodes(client);
  if (nodes.empty()) Die("no KWOK nodes found");
  bench::CreateNamespace(client, o.ns);
  std::printf("plane: %s, %zu KWOK nodes, namespace %s; load %s\n", client.server().c_str(),
              nodes.size(), o.ns.c_str(), load_start.c_str());

  std::vector<std::string> names;
  for (int i = 0; i < o.pods; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "bench-%05d", i);
    names.push_back(buf);
  }
  // The same random choice for every tool; the first pod of each shard that is not chosen is
  // that shard's watch sentinel.
  std::vector<std::string> shuffled = names;
  std::mt19937_64 rng(12345);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const std::set<std::string> chosen(shuffled.begin(), shuffled.begin() + o.kill);
  const std::vector<std::string> chosen_names(chosen.begin(), chosen.end());
  std::vector<std::string> sentinels(kWatchShards);
  for (const auto& n : names)
    if (!chosen.count(n) && sentinels[static_cast<size_t>(ShardOf(n))].empty())
      sentinels[static_cast<size_t>(ShardOf(n))] = n;
  for (const auto& s : sentinels)
    if (s.empty()) Die("--pods is too small: a watch shard has no pod that is not chosen");
  const std::string names_file = o.work + "/chosen-names.txt";
  {
    std::ofstream out(names_file);
    for (const auto& n : chosen_names) out << n << "\n";
  }

  CreateAndWait(client, o, names, chosen, nodes, o.graces.front(), "setup");
  std::vector<Row> rows;
  int round = 0;
  for (int grace : o.graces) {
    for (const std::string& tool : o.tools) {
      ++round;
      CreateAndWait(client, o, chosen_names, chosen, nodes, grace, ("before " + tool).c_str());
      auto cmd = ToolCommand(o, tool, grace, names_file, self, chosen_names, round);
      if (!cmd) {
        std::printf("%s: skipped (not given)\n", tool.c_str());
        continue;
      }
      DeletionWatch watch(client, o, chosen, sentinels);
      watch.Start();
      const long audit_from = FileSize(o.audit_log);
      const std::string log = o.work + "/" + tool + "-" + std::to_string(grace) + "s.log";
      const auto t0 = Clock::now();
      Row row;
      row.grace = grace;
      row.tool = tool;
      row.chosen = chosen.size();
      row.child = RunTool(o, cmd->args, cmd->env, log, t0);
      // Deletes the tool sent are still being finalised: wait for them (a 30 s grace may keep
      // the objects that long), but no pod a tool never deleted is waited for.
      watch.WaitAllGone(Clock::now() + std::chrono::seconds(grace + 30));
      watch.Stop();
      row.watch_resumed = watch.resumed();
      row.watch_relisted = watch.relisted();
      row.audit = CountAudit(o, audit_from);
      const auto accepted = watch.accepted();
      const auto gone = watch.gone();
      row.accepted = accepted.size();
      row.gone = gone.size();
      double first = -1, last = -1, last_gone = -1;
      for (const auto& [n, t] : accepted) {
        const double s = std::chrono::duration<double>(t - t0).count();
        first = first < 0 ? s : std::min(first, s);
        last = std::max(last, s);
      }
      for (const auto& [n, t] : gone)
        last_gone = std::max(last_gone, std::chrono::duration<double>(t - t0).count());
      row.first_s = first;
      row.last_accepted_s = last;
      row.last_gone_s = last_gone;
      std::printf(
          "%s, grace %d s: exit %d%s after %.2f s; %zu accepted (first %.2f s, last %.2f s), %zu "
          "gone (last %.2f s); watch resumed %dx, re-listed %dx; %ld requests; CPU %.2f s, "
          "peak RSS %.1f MiB; log %s\n",
          tool.c_str(), grace, row.child.exit_code, row.child.timed_out ? " (timeout)" : "",
          row.child.wall_s, row.accepted, first, last, row.gone, last_gone, row.watch_resumed,
          row.watch_relisted, row.audit.total, row.child.cpu_s, row.child.maxrss_kib / 1024.0,
          log.c_str());
      if (row.child.exit_code != 0) {
        const std::string tail = ReadFile(log, 1 << 20);
        std::printf("  last lines of the log:\n%s\n",
                    tail.substr(tail.size() > 1500 ? tail.size() - 1500 : 0).c_str());
      }
      rows.push_back(row);
      ClearAndWaitGone(client, o, chosen);
    }
  }
  PrintTable(o, rows, load_start, LoadAverage());
  return 0;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) { return gameday::Main(argc, argv); }

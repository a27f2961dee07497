// Benchmark (not a test): the Kubernetes client's adaptive concurrency limit against a fixed one,
// and Events posted in the background against one synchronous POST per delete, on a real control
// plane with thousands of KWOK pods.
//
//   bench/k8s_limit_bench.sh         starts a plane, runs this, stops the plane
//   k8s_limit_bench --kubeconfig FILE [--pods 5000] [--kill 1000] [--threads 64]
//                   [--namespace limitbench]
//
// Every round deletes its own random --kill of the pods (UID preconditions, 0 s grace, as
// pod-kill sends them; 5 rounds, so --pods >= 5 x --kill) with a fresh client, times it from the
// first request to the last answer, and waits until the pods are gone. Rounds: --threads threads
// each calling Call (as the engine's inject workers do), or one CallMany; the limit fixed at 32
// or adaptive (starting at 32); and, for the thread rounds, an Event per delete posted
// synchronously (the old pod-kill) or through the background recorder. Prints one markdown table.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_k8s.h"
#include "bench_util.h"
#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"

namespace gameday {
namespace {

using bench::Die;
using bench::Since;

using Steady = std::chrono::steady_clock;

struct Options {
  std::string kubeconfig;
  std::string ns = "limitbench";
  int pods = 5000;
  int kill = 1000;
  int threads = 64;
};

struct Pod {
  std::string name, uid;
  bool running = false;
};

std::vector<Pod> ListPods(KubeClient& client, const std::string& ns) {
  std::vector<Pod> out;
  auto rv = client.List(ResourceRef::Core("pods", ns), ListOptions{"app=limitbench", "", 500, {}},
                        [&](const rapidjson::Value& pod) {
                          if (JsonPath(pod, {"metadata", "deletionTimestamp"})) return Status::Ok();
                          out.push_back({JsonPathString(pod, {"metadata", "name"}),
                                         JsonPathString(pod, {"metadata", "uid"}),
                                         JsonPathString(pod, {"status", "phase"}) == "Running"});
                          return Status::Ok();
                        });
  if (!rv.ok()) Die("list: " + rv.status().ToString());
  return out;
}

void CreateAndWait(KubeClient& client, const Options& o, const std::vector<std::string>& names,
                   const std::vector<std::string>& nodes) {
  std::vector<KubeRequest> creates;
  for (size_t i = 0; i < names.size(); ++i) {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("pods", o.ns);
    req.body = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + names[i] +
               R"(","labels":{"app":"limitbench"}},"spec":{"nodeName":")" +
               nodes[i % nodes.size()] +
               R"(","tolerations":[{"operator":"Exists"}],"terminationGracePeriodSeconds":0,)"
               R"("automountServiceAccountToken":false,"containers":[{"name":"a","image":"x"}]}})";
    creates.push_back(std::move(req));
  }
  for (const auto& r : client.CallMany(creates, 64)) {
    if (!r.ok() && r.status().code() != Status::Code::kFailedPrecondition) {
      Die("create: " + r.status().ToString());
    }
  }
  const std::set<std::string> wanted(names.begin(), names.end());
  const auto deadline = Steady::now() + std::chrono::minutes(10);
  while (true) {
    size_t running = 0;
    for (const Pod& p : ListPods(client, o.ns)) running += wanted.count(p.name) && p.running;
    if (running == wanted.size()) return;
    if (Steady::now() > deadline) Die("pods did not all run within 10 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void WaitGone(KubeClient& client, const Options& o, const std::set<std::string>& names) {
  const auto deadline = Steady::now() + std::chrono::minutes(5);
  while (Steady::now() < deadline) {
    size_t left = 0;
    auto rv =
        client.List(ResourceRef::Core("pods", o.ns), ListOptions{"app=limitbench", "", 500, {}},
                    [&](const rapidjson::Value& pod) {
                      left += names.count(JsonPathString(pod, {"metadata", "name"}));
                      return Status::Ok();
                    });
    if (rv.ok() && left == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  Die("deleted pods were not finalised within 5 minutes");
}

enum class Events { kNone, kSync, kBackground };

struct Round {
  std::string name;
  bool adaptive;
  bool call_many;
  Events events;
};

struct Figures {
  double seconds = 0;
  double events_done_s = 0;  // until the last Event was posted (flush), for the event rounds
  KubeClientStats stats;
  size_t failed = 0;
};

KubeRequest DeleteOf(const Options& o, const Pod& p) {
  KubeRequest req;
  req.verb = "delete";
  req.ref = ResourceRef::Core("pods", o.ns, p.name);
  req.body = R"({"apiVersion":"v1","kind":"DeleteOptions","preconditions":{"uid":")" + p.uid +
             R"("},"gracePeriodSeconds":0})";
  return req;
}

Figures RunRound(const Options& o, const Round& round, const std::vector<Pod>& victims) {
  KubeClientOptions options;
  options.concurrency.adaptive = round.adaptive;
  options.concurrency.initial = 32;
  auto client_or = KubeClient::FromKubeconfig(o.kubeconfig, "", options);
  if (!client_or.ok()) Die(client_or.status().ToString());
  std::shared_ptr<KubeClient> client = *client_or;
  std::unique_ptr<EventRecorder> recorder;
  if (round.events == Events::kBackground) {
    recorder = std::make_unique<EventRecorder>(MakeKubeEventSink(client), EventRecorder::Options{});
  }
  Figures f;
  std::atomic<size_t> failed{0};
  const auto t0 = Steady::now();
  if (round.call_many) {
    std::vector<KubeRequest> deletes;
    for (const Pod& p : victims) deletes.push_back(DeleteOf(o, p));
    for (const auto& r : client->CallMany(deletes, 256)) failed += !r.ok();
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; ++t) {
      workers.emplace_back([&] {
        for (size_t i; (i = next++) < victims.size();) {
          const Pod& p = victims[i];
          if (!client->Call(DeleteOf(o, p)).ok()) {
            ++failed;
            continue;
          }
          EventNote note;
          note.object = EventObject{"v1", "Pod", o.ns, p.name, p.uid};
          note.reason = "ChaosInjected";
          note.message = "gameday bench: delete pod " + o.ns + "/" + p.name;
          note.time = Clock::Real().WallNow();
          note.group = round.name;
          note.group_text = "gameday bench";
          note.action = "deleted";
          if (round.events == Events::kSync) {
            (void)PostEvent(*client, note.object, note.reason, note.message, note.time);
          } else if (round.events == Events::kBackground) {
            recorder->Record(std::move(note));
          }
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  f.seconds = Since(t0);
  if (recorder) {
    recorder->Flush(std::chrono::seconds(5));
    f.events_done_s = Since(t0);
    recorder.reset();
  }
  f.stats = client->Stats();
  f.failed = failed;
  return f;
}

std::string Verbs(const KubeClientStats& s) {
  std::string out;
  for (const auto& [verb, n] : s.requests_by_verb) {
    out += (out.empty() ? "" : ", ") + verb + " " + std::to_string(n);
  }
  return out;
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
    } else if (a == "--namespace") {
      o.ns = next();
    } else if (a == "--pods") {
      o.pods = std::atoi(next().c_str());
    } else if (a == "--kill") {
      o.kill = std::atoi(next().c_str());
    } else if (a == "--threads") {
      o.threads = std::max(1, std::atoi(next().c_str()));
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.kubeconfig.empty()) Die("--kubeconfig is required");
  if (o.kill <= 0 || o.kill > o.pods) Die("--kill must be in 1..--pods");
  auto admin_or = KubeClient::FromKubeconfig(o.kubeconfig, "");
  if (!admin_or.ok()) Die(admin_or.status().ToString());
  KubeClient& admin = **admin_or;
  const std::vector<std::string> nodes = bench::KwokNodes(admin);
  if (nodes.empty()) Die("no KWOK nodes found");
  bench::CreateNamespace(admin, o.ns);
  std::vector<std::string> names;
  for (int i = 0; i < o.pods; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "lb-%05d", i);
    names.push_back(buf);
  }
  const auto t0 = Steady::now();
  CreateAndWait(admin, o, names, nodes);
  std::printf("setup: %d pods running after %.1f s on %zu KWOK nodes\n", o.pods, Since(t0),
              nodes.size());

  std::vector<Pod> all = ListPods(admin, o.ns);
  std::mt19937_64 rng(4242);
  std::shuffle(all.begin(), all.end(), rng);

  const std::string threads = std::to_string(o.threads) + " threads";
  const std::vector<Round> rounds = {
      {threads + ", limit fixed 32", false, false, Events::kNone},
      {threads + ", limit adaptive", true, false, Events::kNone},
      {"CallMany, limit adaptive", true, true, Events::kNone},
      {threads + ", adaptive, Event POST per delete", true, false, Events::kSync},
      {threads + ", adaptive, Events in background", true, false, Events::kBackground},
  };
  std::vector<std::pair<Round, Figures>> results;
  for (size_t r = 0; r < rounds.size(); ++r) {
    // Each round its own random --kill of the pods (recreating killed pods on a loaded machine
    // can take minutes), so --pods must be at least rounds x --kill.
    if ((r + 1) * static_cast<size_t>(o.kill) > all.size()) {
      Die("--pods must be at least " + std::to_string(rounds.size()) + " x --kill");
    }
    std::vector<Pod> victims(all.begin() + static_cast<long>(r * o.kill),
                             all.begin() + static_cast<long>((r + 1) * o.kill));
    std::sort(victims.begin(), victims.end(),
              [](const Pod& a, const Pod& b) { return a.name < b.name; });
    std::set<std::string> chosen;
    for (const Pod& p : victims) chosen.insert(p.name);
    Figures f = RunRound(o, rounds[r], victims);
    std::printf("%s: %zu deletes in %.3f s (%zu failed), final limit %.1f\n",
                rounds[r].name.c_str(), victims.size(), f.seconds, f.failed, f.stats.limit.limit);
    results.emplace_back(rounds[r], f);
    WaitGone(admin, o, chosen);
  }

  std::printf(
      "\n| round | %d deletes (s) | deletes/s | events posted by (s) | final limit | "
      "requests | 429s | retries |\n|---|---|---|---|---|---|---|---|\n",
      o.kill);
  for (const auto& [round, f] : results) {
    char events[32] = "-";
    if (round.events == Events::kBackground) {
      std::snprintf(events, sizeof events, "%.3f", f.events_done_s);
    }
    std::printf("| %s | %.3f | %.0f | %s | %.1f | %s | %llu | %llu |\n", round.name.c_str(),
                f.seconds, o.kill / f.seconds, events, f.stats.limit.limit, Verbs(f.stats).c_str(),
                static_cast<unsigned long long>(f.stats.throttled),
                static_cast<unsigned long long>(f.stats.retries));
  }
  return 0;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) { return gameday::Main(argc, argv); }

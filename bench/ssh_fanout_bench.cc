// Benchmark (not a test): gameday's service-stop injector stopping and starting a runit service
// on many SSH test hosts at once, the gameday side of bench/ssh_fanout_bench.sh (which brings up
// the hosts, runs this and the peers, and prints the table).
//
//   ssh_fanout_bench --inventory FILE [--hosts SELECTOR] [--workers 64] [--max-handshakes N]
//
// Prints one line: "gameday HOSTS STOP_S START_S HANDSHAKES PEAK_HANDSHAKES RETRIES CONNECT_S".
// stop  = Discover (select the hosts, open their SSH sessions: cold, in this fresh process) plus
//         the revert records plus Inject on every target at once from --workers threads, as the
//         engine's inject workers do; each Inject returns once `sv status` shows the service down.
// start = the kind's Revert of every record at once from --workers threads, on the same sessions;
//         each returns once the service runs again.
// connect = the Discover part of stop. Both are checked from outside (`sv status` in each host's
// network namespace) before the figures count; any failure exits non-zero with the errors. The
// process-wide handshake limiter is used as it is (16 slots) unless --max-handshakes gives this run
// its own.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "clients/inventory/inventory.h"
#include "experiments/shell_quote.h"
#include "experiments/spec_reader.h"
#include "injectors/service_stop/service_stop_injector.h"

namespace gameday {
namespace {

using bench::Die;
using bench::Since;

using Steady = std::chrono::steady_clock;

struct Options {
  std::string inventory;
  std::string hosts = "all";
  size_t workers = 64;
  size_t max_handshakes = 0;  // 0 = the process-wide limiter
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](size_t lo, size_t hi) -> size_t {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi) {
        Die(a + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
      }
      return static_cast<size_t>(n);
    };
    if (a == "--inventory") {
      o.inventory = value();
    } else if (a == "--hosts") {
      o.hosts = value();
    } else if (a == "--workers") {
      o.workers = number(1, 1024);
    } else if (a == "--max-handshakes") {
      o.max_handshakes = number(1, 1024);
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.inventory.empty()) Die("--inventory FILE is required");
  return o;
}

// Runs act(i) for i in [0, n) on at most `workers` threads; returns the errors, one per line.
std::string AllAtOnce(size_t n, size_t workers, const std::function<Status(size_t)>& act) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(n, workers); ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) results[i] = act(i);
    });
  }
  for (std::thread& t : threads) t.join();
  std::string errors;
  for (const Status& s : results) {
    if (!s.ok()) errors += s.ToString() + "\n";
  }
  return errors;
}

// `sv status` of the dummy service of every target host, read in its namespace, not over SSH.
std::string CheckState(const Inventory& inv, const std::vector<FaultTarget>& targets,
                       const std::string& state) {
  std::string wrong;
  for (const FaultTarget& t : targets) {
    const InventoryHost* h = inv.Find(t.id);
    if (h == nullptr) return "no host " + t.id;
    const std::string cmd = "ip netns exec " + ShellQuote(h->Var("netns", "")) + " sv status " +
                            ShellQuote(h->Var("dummy_service_dir", "")) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return "popen failed";
    char buf[512];
    std::string out;
    for (size_t got; (got = std::fread(buf, 1, sizeof(buf), p)) > 0 && out.size() < 4096;) {
      out.append(buf, got);
    }
    ::pclose(p);
    if (out.rfind(state + ":", 0) != 0) wrong += t.id + ": " + out.substr(0, out.find('\n')) + "\n";
  }
  return wrong;
}

int Main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  Result<Inventory> inv = LoadInventory(o.inventory);
  if (!inv.ok()) Die(inv.status().ToString());

  SshClientOptions ssh_options;
  if (o.max_handshakes > 0) {
    ssh_options.handshake_limiter = std::make_shared<HandshakeLimiter>(o.max_handshakes);
  }
  auto ssh = std::make_shared<SshClient>(&Clock::Real(), ssh_options);
  auto kind = MakeServiceStopInjectorKind(ssh);
  TargetSpec target;
  target.kind = "ssh";
  target.inventory = o.inventory;
  Diagnostics diags;
  SpecNode spec(YAML::Load("hosts: '" + o.hosts + "'\nservice: {runit: '{{dummy_service_dir}}'}\n"),
                "spec", std::make_shared<const std::string>("ssh_fanout_bench"), &diags);
  std::unique_ptr<Injector> injector = kind->Parse(spec, target);
  if (!injector || !diags.empty())
    Die("the service-stop spec does not parse:\n" + diags.ToString());
  InjectorEnv env;
  env.run_id = "ssh-fanout-bench";
  env.duration = std::chrono::seconds(60);

  const Steady::time_point t0 = Steady::now();
  Result<std::vector<FaultTarget>> targets = injector->Discover(env);
  if (!targets.ok()) Die("discover: " + targets.status().ToString());
  const double connect_s = Since(t0);
  const std::vector<FaultTarget>& ts = *targets;
  std::vector<std::string> records;
  for (const FaultTarget& t : ts) {
    Result<std::string> r = injector->RevertRecord(t, env);
    if (!r.ok()) Die("revert record: " + r.status().ToString());
    records.push_back(*r);
  }
  std::string errors =
      AllAtOnce(ts.size(), o.workers, [&](size_t i) { return injector->Inject(ts[i], env); });
  const double stop_s = Since(t0);
  if (!errors.empty()) Die("inject:\n" + errors);
  if (std::string wrong = CheckState(*inv, ts, "down"); !wrong.empty()) {
    Die("not down after the stop:\n" + wrong);
  }

  const Steady::time_point t1 = Steady::now();
  errors = AllAtOnce(ts.size(), o.workers, [&](size_t i) { return kind->Revert(records[i], env); });
  const double start_s = Since(t1);
  if (!errors.empty()) Die("revert:\n" + errors);
  if (std::string wrong = CheckState(*inv, ts, "run"); !wrong.empty()) {
    Die("not running after the start:\n" + wrong);
  }
  const HandshakeLimiter::Stats st = ssh->handshake_limiter().stats();
  std::printf("gameday %zu %.3f %.3f %llu %zu %llu %.3f\n", ts.size(), stop_s, start_s,
              static_cast<unsigned long long>(st.acquired), st.peak_in_flight,
              static_cast<unsigned long long>(st.throttled_retries), connect_s);
  return 0;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) { return gameday::Main(argc, argv); }

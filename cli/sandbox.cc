// `gameday sandbox up|down|status`: the HA sandbox (three masters with etcd and Kubernetes, two
// workers with demo replicas, HAProxy, Prometheus; root) or, with --local, demo replicas behind
// HAProxy on 127.0.0.1 (no root needed).

#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "experiments/clock.h"
#include "sandbox/cluster_sandbox.h"
#include "sandbox/local_sandbox.h"

namespace gameday {
namespace {

struct SandboxArgs {
  bool local = false;
  std::string state_dir;  // empty = the mode's default
  // HA sandbox.
  std::string kubernetes_bin;
  bool no_kubernetes = false;
  // Local sandbox.
  int port = 18080;
  int replicas = 3;
  int warmup_ms = 500;
  double timeout_s = 0;  // 0 = the mode's default

  std::string LocalDir() const { return state_dir.empty() ? DefaultLocalSandboxDir() : state_dir; }
};

void AddCommonOptions(CLI::App* cmd, SandboxArgs* args) {
  cmd->add_flag("--local", args->local,
                "the single-host sandbox instead: demo replicas behind HAProxy on 127.0.0.1, "
                "no root needed (for plans with target {kind: local})");
  cmd->add_option("--state-dir", args->state_dir,
                  "where the sandbox keeps its files (default: <state dir>/sandbox, or "
                  "<state dir>/local-sandbox with --local)");
}

void PrintStatus(const SandboxStatus& st, std::ostream& out) {
  if (!st.up) {
    out << "sandbox in " << st.state_dir << ": not up";
    if (st.runsvdir_pid > 0) out << " (runsvdir pid " << st.runsvdir_pid << " is gone)";
    out << "\n";
    return;
  }
  out << "sandbox in " << st.state_dir << ": up, " << (st.healthy ? "healthy" : "NOT healthy")
      << " (runsvdir pid " << st.runsvdir_pid << ")\n";
  out << "  frontend   " << st.frontend_url << "  " << (st.frontend_ok ? "answers 200" : "FAILING")
      << "\n";
  out << "  haproxy    ";
  if (st.haproxy_pid > 0) {
    out << "pid " << st.haproxy_pid;
  } else {
    out << "NOT running";
  }
  out << " (" << (st.haproxy_runit_state.empty() ? "?" : st.haproxy_runit_state) << ")  stats "
      << st.stats_url << "\n";
  for (const auto& r : st.replicas) {
    out << "  " << std::left << std::setw(10) << r.name << " port " << r.port << "  ";
    if (r.pid > 0) {
      out << "pid " << r.pid;
    } else {
      out << "NOT running";
    }
    out << " (" << (r.runit_state.empty() ? "?" : r.runit_state) << ")  "
        << (r.healthy ? "healthy" : "UNHEALTHY") << "  HAProxy "
        << (r.haproxy_state.empty() ? "?" : r.haproxy_state) << "\n";
  }
}

Result<int> RunCluster(const std::string& command, const SandboxArgs& args) {
  ClusterSandboxOptions options;
  options.dir = args.state_dir;
  if (!args.no_kubernetes) {
    options.kubernetes_bin = args.kubernetes_bin;
    if (options.kubernetes_bin.empty()) {
      if (const char* env = std::getenv("GAMEDAY_K8S_BIN"); env && *env) {
        options.kubernetes_bin = env;
      }
    }
  }
  if (args.timeout_s > 0) options.timeout = FromSeconds(args.timeout_s);
  if (command == "up" && options.kubernetes_bin.empty() && ::geteuid() == 0) {
    std::cerr << "sandbox: no Kubernetes binaries (--kubernetes-bin or $GAMEDAY_K8S_BIN; "
                 "tests/harness/build-k8s.sh builds them): the masters run etcd only\n";
  }
  return RunClusterSandbox(command, options);
}

}  // namespace

void AddSandboxCommand(CLI::App& app, int* exit_code) {
  auto* sandbox = app.add_subcommand(
      "sandbox",
      "Run a sandbox to break: three masters (etcd, and kube-apiserver, controller-manager and "
      "scheduler given Kubernetes binaries) and two workers with demo replicas in network "
      "namespaces, HAProxy, Prometheus and KWOK nodes (root); or --local: demo replicas behind "
      "HAProxy on 127.0.0.1");
  sandbox->require_subcommand(1);
  auto args = std::make_shared<SandboxArgs>();

  // Runs the HA sandbox's script for `command`; its output is the command's output.
  auto cluster = [args, exit_code](const std::string& command) {
    Result<int> rc = RunCluster(command, *args);
    if (!rc.ok()) {
      std::cerr << "sandbox " << command << ": " << rc.status().message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    *exit_code = *rc == 0 ? kExitPassed : kExitAborted;
  };

  auto* up = sandbox->add_subcommand(
      "up", "Start the sandbox (a healthy one already up is left as it is) and wait until ready");
  AddCommonOptions(up, args.get());
  up->add_option("--kubernetes-bin", args->kubernetes_bin,
                 "folder with kube-apiserver, kube-controller-manager, kube-scheduler, kwok and "
                 "etcd (default $GAMEDAY_K8S_BIN; none: the masters run etcd only)");
  up->add_flag("--no-kubernetes", args->no_kubernetes,
               "leave Kubernetes out even if $GAMEDAY_K8S_BIN is set (starts in seconds)");
  up->add_option("--timeout", args->timeout_s,
                 "seconds to wait until everything is ready (default 180; --local: 15)")
      ->check(CLI::Range(1.0, 1800.0));
  up->add_option("--port", args->port,
                 "--local: HAProxy frontend port; replicas take the next ports, stats the port + "
                 "100")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535 - 100));
  up->add_option("--replicas", args->replicas, "--local: how many demo replicas")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  up->add_option("--warmup-ms", args->warmup_ms,
                 "--local: how long a (re)started replica answers 503 before serving")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  up->callback([args, exit_code, cluster] {
    if (!args->local) return cluster("up");
    SandboxOptions options;
    options.state_dir = args->LocalDir();
    options.frontend_port = args->port;
    options.replicas = args->replicas;
    options.ready_timeout = FromSeconds(args->timeout_s > 0 ? args->timeout_s : 15);
    options.replica_warmup = std::chrono::milliseconds(args->warmup_ms);
    Clock& clock = Clock::Real();
    const MonoTime start = clock.Now();
    LocalSandbox sandbox(&clock);
    Status s = sandbox.Up(options);
    if (!s.ok()) {
      std::cerr << "sandbox up: " << s.message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    std::ostringstream took;
    took << std::fixed << std::setprecision(2) << ToSeconds(clock.Now() - start);
    std::cout << "sandbox up in " << took.str() << " s\n";
    auto st = sandbox.GetStatus(options.state_dir);
    if (st.ok()) PrintStatus(*st, std::cout);
    std::cout << "stop it with: gameday sandbox down --local --state-dir " << options.state_dir
              << "\n";
    *exit_code = kExitPassed;
  });

  auto* down = sandbox->add_subcommand(
      "down", "Stop every process of the sandbox and remove what it made (fine if not up)");
  AddCommonOptions(down, args.get());
  down->callback([args, exit_code, cluster] {
    if (!args->local) return cluster("down");
    LocalSandbox sandbox;
    Status s = sandbox.Down(args->LocalDir());
    if (!s.ok()) {
      std::cerr << "sandbox down: " << s.message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    std::cout << "sandbox in " << args->LocalDir() << " is down\n";
    *exit_code = kExitPassed;
  });

  auto* status = sandbox->add_subcommand(
      "status", "Show each component of the sandbox; exit 0 only when all are up and healthy");
  AddCommonOptions(status, args.get());
  status->callback([args, exit_code, cluster] {
    if (!args->local) return cluster("status");
    LocalSandbox sandbox;
    auto st = sandbox.GetStatus(args->LocalDir());
    if (!st.ok()) {
      std::cerr << "sandbox status: " << st.status().message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    PrintStatus(*st, std::cout);
    *exit_code = st->healthy ? kExitPassed : kExitAborted;
  });
}

}  // namespace gameday

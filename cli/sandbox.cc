// `gameday sandbox up|down|status`: the local target — demo replicas behind HAProxy, under runit.

#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "experiments/clock.h"
#include "sandbox/local_sandbox.h"

namespace gameday {
namespace {

struct SandboxArgs {
  std::string state_dir = DefaultSandboxDir();
  int port = 18080;
  int replicas = 3;
  double timeout_s = 15;
  int warmup_ms = 500;
};

void AddStateDirOption(CLI::App* cmd, SandboxArgs* args) {
  cmd->add_option("--state-dir", args->state_dir,
                  "where the sandbox keeps its runit services, HAProxy config and logs")
      ->capture_default_str();
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

}  // namespace

void AddSandboxCommand(CLI::App& app, int* exit_code) {
  auto* sandbox = app.add_subcommand(
      "sandbox",
      "Run a local target for plans with `target: {kind: local}`: gameday-demo replicas behind "
      "HAProxy, supervised by runit");
  sandbox->require_subcommand(1);
  auto args = std::make_shared<SandboxArgs>();

  auto* up = sandbox->add_subcommand(
      "up", "Start the sandbox (or check the running one) and wait until every replica serves");
  AddStateDirOption(up, args.get());
  up->add_option("--port", args->port,
                 "HAProxy frontend port; replicas take the next ports, stats the port + 100")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535 - 100));
  up->add_option("--replicas", args->replicas, "how many demo replicas")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  up->add_option("--warmup-ms", args->warmup_ms,
                 "how long a (re)started replica answers 503 before serving")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  up->add_option("--timeout", args->timeout_s, "seconds to wait for every replica to be UP")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  up->callback([args, exit_code] {
    SandboxOptions options;
    options.state_dir = args->state_dir;
    options.frontend_port = args->port;
    options.replicas = args->replicas;
    options.ready_timeout = FromSeconds(args->timeout_s);
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
    auto st = sandbox.GetStatus(args->state_dir);
    if (st.ok()) PrintStatus(*st, std::cout);
    std::cout << "stop it with: gameday sandbox down --state-dir " << args->state_dir << "\n";
    *exit_code = kExitPassed;
  });

  auto* down = sandbox->add_subcommand(
      "down", "Stop every process of the sandbox and remove its state dir (fine if not up)");
  AddStateDirOption(down, args.get());
  down->callback([args, exit_code] {
    LocalSandbox sandbox;
    Status s = sandbox.Down(args->state_dir);
    if (!s.ok()) {
      std::cerr << "sandbox down: " << s.message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    std::cout << "sandbox in " << args->state_dir << " is down\n";
    *exit_code = kExitPassed;
  });

  auto* status = sandbox->add_subcommand(
      "status", "Show each component of the sandbox; exit 0 only when all are up and healthy");
  AddStateDirOption(status, args.get());
  status->callback([args, exit_code] {
    LocalSandbox sandbox;
    auto st = sandbox.GetStatus(args->state_dir);
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

#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// How to lay out the local sandbox. Zero or empty fields take the defaults in the comments.
struct SandboxOptions {
  // Where the sandbox keeps its runit service directories, HAProxy config, logs and state file.
  // Empty = DefaultLocalSandboxDir().
  std::string state_dir;
  int frontend_port = 18080;       // HAProxy frontend on 127.0.0.1
  int stats_port = 0;              // HAProxy stats + /metrics; 0 = frontend_port + 100
  int replicas = 3;                // 1..16
  std::vector<int> replica_ports;  // empty = frontend_port + 1 .. frontend_port + replicas
  // The demo service binary. Empty = $GAMEDAY_DEMO_BIN, else the `gameday-demo` next to the
  // running executable (every executable builds into the same bin/ folder).
  std::string demo_binary;
  // How long a (re)started replica answers / and /healthz with 503 before serving (the demo's
  // --warmup-ms): the readiness gap of a real service. Without it runit brings a killed replica
  // back in ~50 ms, inside HAProxy's retry window, and even killing every replica at once is
  // invisible to clients.
  Duration replica_warmup = std::chrono::milliseconds(500);
  Duration ready_timeout = std::chrono::seconds(15);  // Up's bound on waiting for all healthy
};

struct ReplicaStatus {
  std::string name;  // replica-1 ..
  int port = 0;
  pid_t pid = 0;              // as runit reports it; 0 when not running
  std::string runit_state;    // runit's supervise/stat: "run", "down", "finish", ...
  bool healthy = false;       // GET /healthz on the replica itself answered 200
  std::string haproxy_state;  // HAProxy's view: "UP", "DOWN", "UP 1/2", ...; empty if unknown
};

struct SandboxStatus {
  bool up = false;  // a state file exists and its runsvdir is alive
  std::string state_dir;
  std::string frontend_url;  // http://127.0.0.1:<frontend_port>/
  std::string stats_url;     // http://127.0.0.1:<stats_port>/stats (Prometheus: /metrics)
  pid_t runsvdir_pid = 0;
  pid_t haproxy_pid = 0;  // HAProxy's master process
  std::string haproxy_runit_state;
  bool frontend_ok = false;  // GET / through the frontend answered 200
  std::vector<ReplicaStatus> replicas;
  // Everything running, every replica healthy and UP in HAProxy, and the frontend answering.
  bool healthy = false;
};

// A small replicated service on this machine: `replicas` gameday-demo processes and one HAProxy
// in front of them, each supervised by runit (one runsv per service under a runsvdir), so a
// killed replica comes back the way a Kubernetes ReplicaSet brings a pod back.
//
// Restart timing (what experiments against it measure): runsv restarts a service as soon as it
// exits, except when it exited within one second of starting, in which case runsv waits one
// second first (crash-loop damping, as Kubernetes' CrashLoopBackOff does). A restarted replica
// listens within milliseconds and then warms up for `replica_warmup` (503s). HAProxy probes
// /healthz every 100 ms (50 ms while a server is failing), marks a server DOWN after 2 failed
// checks and UP again after 1 good one, and retries a refused connection, an empty answer or a
// 503 on another replica (2 retries). So killing one replica is absorbed by the others, while
// killing all of them fails the frontend for about the warm-up plus up to one check interval.
//
// Every process of the sandbox runs with its working directory inside the state directory and
// in the process group of the sandbox's runsvdir; Down and the stale-state cleanup use both to
// find and stop them. Methods are not safe to call concurrently on the same state directory.
class LocalSandbox {
 public:
  explicit LocalSandbox(Clock* clock = &Clock::Real()) : clock_(clock) {}

  // Starts the sandbox and returns once the frontend answers 200 with every replica UP in
  // HAProxy (bounded by ready_timeout). When it is already up with the same layout, only
  // verifies. A state directory left by a crash is cleaned first. On failure nothing is left
  // running. Errors: FailedPrecondition (tools or demo binary missing, a port in use, already up
  // with a different layout), InvalidArgument (bad options), DeadlineExceeded (not ready in time).
  Status Up(const SandboxOptions& options);

  // Stops every process of the sandbox in `state_dir` (empty = DefaultLocalSandboxDir()), checks
  // none is left and removes the directory. OK when nothing is up.
  Status Down(const std::string& state_dir = "");

  // What is running in `state_dir` (empty = DefaultLocalSandboxDir()) and how healthy it is. Not up
  // is a valid status, not an error.
  Result<SandboxStatus> GetStatus(const std::string& state_dir = "");

 private:
  Clock* clock_;
};

// DefaultStateDir() + "/local-sandbox".
std::string DefaultLocalSandboxDir();

// Processes whose working directory lies in `dir` (after resolving symlinks), excluding the
// caller: what Down must leave none of. Exposed for tests.
std::vector<pid_t> ProcessesUnder(const std::string& dir);

}  // namespace gameday

#include "sandbox/local_sandbox.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <stop_token>

#include "experiments/files.h"
#include "experiments/journal.h"
#include "sandbox/cluster_sandbox.h"
#include "sandbox/file_text.h"
#include "sandbox/haproxy_stats.h"
#include "sandbox/host_tools.h"
#include "sandbox/local_layout.h"
#include "sandbox/local_processes.h"
#include "sandbox/loopback_http.h"
#include "sandbox/port_check.h"
#include "sandbox/proc_table.h"
#include "sandbox/readiness.h"
#include "sandbox/sandbox_files.h"
#include "sandbox/spawn.h"

namespace gameday {

using namespace local_sandbox;  // NOLINT(google-build-using-namespace): this file's own parts
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

// Removes a state directory, but only one that holds a sandbox state file or nothing at all:
// a mistyped --state-dir must never cost someone their files.
Status RemoveStateDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::Ok();
  if (!fs::exists(dir + "/" + kStateFile, ec) && !fs::is_empty(dir, ec)) {
    return Status::FailedPrecondition(dir + " is not a gameday sandbox directory (no " +
                                      kStateFile + "); not removing it");
  }
  fs::remove_all(dir, ec);
  if (ec) return Status::Internal("cannot remove " + dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::string DefaultLocalSandboxDir() { return DefaultStateDir() + "/local-sandbox"; }

std::vector<pid_t> ProcessesUnder(const std::string& dir) {
  const std::string root = ResolveDir(dir);
  std::vector<pid_t> out;
  const pid_t self = getpid();
  for (pid_t pid : AllPids()) {
    if (pid != self && IsRunning(pid) && IsUnderDir(pid, root)) out.push_back(pid);
  }
  return out;
}

Status LocalSandbox::Up(const SandboxOptions& options) {
  auto want_or = MakeLayout(options);
  if (!want_or.ok()) return want_or.status();
  Layout want = std::move(want_or).value();
  auto tools = FindTools();
  if (!tools.ok()) return tools.status();
  if (access(want.demo_binary.c_str(), X_OK) != 0) {
    return Status::FailedPrecondition(
        "the demo service binary " + want.demo_binary +
        " is missing or not executable; build the gameday-demo target, or point "
        "$GAMEDAY_DEMO_BIN at it");
  }

  std::error_code ec;
  if (fs::exists(want.state_dir, ec)) {
    if (!fs::is_directory(want.state_dir, ec)) {
      return Status::FailedPrecondition(want.state_dir + " exists and is not a directory");
    }
    if (fs::exists(want.StatePath(), ec)) {
      auto have = ReadLayout(want.state_dir);
      if (have.ok() && IsOurRunsvdir(*have)) {
        if (!have->SameShape(want)) {
          return Status::FailedPrecondition(
              "a sandbox is already up in " + want.state_dir + " with " + have->Describe() +
              "; run `gameday sandbox down --local` first to start one with " + want.Describe());
        }
        // Already up: only check that it is healthy.
        return WaitReady(*have, options.ready_timeout, clock_);
      }
      // Left by a crash (of runsvdir, or of the machine): stop whatever survived, start afresh.
      Layout stale = have.ok() ? *have : want;
      if (!have.ok()) stale.runsvdir_pid = 0;
      Status s = StopLeftovers(stale, clock_, std::chrono::seconds(2));
      if (!s.ok()) return s;
      s = RemoveStateDir(want.state_dir);
      if (!s.ok()) return s;
    } else if (!fs::is_empty(want.state_dir, ec)) {
      return Status::FailedPrecondition(want.state_dir +
                                        " exists, is not empty and is not a gameday sandbox "
                                        "directory; choose another --state-dir");
    }
  }

  Status s = CheckPortFree(want.frontend_port, "HAProxy frontend");
  if (s.ok()) s = CheckPortFree(want.stats_port, "HAProxy stats");
  for (size_t i = 0; s.ok() && i < want.replica_ports.size(); ++i) {
    s = CheckPortFree(want.replica_ports[i], Layout::ReplicaName(i));
  }
  if (!s.ok()) return s;

  // From here on a failure tears down whatever was started.
  auto fail = [&](Status error) {
    Status down = Down(want.state_dir);
    if (!down.ok()) {
      return Status(error.code(),
                    error.message() + " (and cleaning up failed: " + down.message() + ")");
    }
    return error;
  };
  fs::create_directories(want.state_dir, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot create the sandbox state dir " + want.state_dir +
                                      ": " + ec.message());
  }
  // The state file goes first, so a crash at any later point leaves a directory that the next
  // Up or Down recognises as a sandbox and cleans up.
  constexpr mode_t kFileMode = 0644;
  s = WriteFileAtomically(want.StatePath(), want.Serialize(), kFileMode);
  if (!s.ok()) return fail(s);
  s = WriteSandboxFiles(want, *tools);
  if (!s.ok()) return fail(s);

  const std::string check_log = want.LogDir() + "/haproxy-check.log";
  auto check = RunCommand({tools->haproxy, "-c", "-q", "-f", want.ConfigPath()}, check_log,
                          std::chrono::seconds(10), clock_);
  if (!check.ok()) return fail(check.status());
  if (*check != 0) {
    return fail(Status::Internal("HAProxy rejected the generated " + want.ConfigPath() + ":" +
                                 LogTail(check_log, 10)));
  }

  // Its own session: a Ctrl-C on the terminal that ran `gameday sandbox up` must not reach the
  // sandbox, and the whole tree shares one process group that Down can signal.
  auto pid =
      Spawn({tools->runsvdir, want.ServiceDir()},
            {.cwd = want.state_dir, .output = want.LogPath("runsvdir"), .new_session = true});
  if (!pid.ok()) return fail(pid.status());
  want.runsvdir_pid = *pid;
  s = WriteFileAtomically(want.StatePath(), want.Serialize(), kFileMode);
  if (!s.ok()) return fail(s);

  s = WaitReady(want, options.ready_timeout, clock_);
  if (!s.ok()) return fail(s);
  return Status::Ok();
}

Status LocalSandbox::Down(const std::string& state_dir) {
  const std::string dir = ResolveDir(state_dir);
  std::error_code ec;
  if (!fs::exists(dir + "/" + kStateFile, ec)) {
    if (!fs::exists(dir, ec)) return Status::Ok();  // nothing up
    return RemoveStateDir(dir);                     // removes an empty dir; refuses anything else
  }
  auto read = ReadLayout(dir);
  Layout l;
  if (read.ok()) {
    l = std::move(read).value();
  } else {
    l.state_dir = dir;  // damaged state file: find the processes by directory alone
  }

  if (IsOurRunsvdir(l)) {
    // The orderly way: runit stops each service (SIGTERM, SIGKILL after 3 s), then runsvdir
    // takes its runsv processes down with it on SIGHUP.
    std::vector<std::string> argv = {FindOnPath("sv"), "-w", "3", "force-stop"};
    for (const auto& name : l.ServiceNames()) argv.push_back(l.ServicePath(name));
    if (!argv[0].empty()) {
      (void)RunCommand(argv, l.LogDir() + "/sv.log", std::chrono::seconds(6), clock_);
    }
    kill(l.runsvdir_pid, SIGHUP);
    const MonoTime deadline = clock_->Now() + std::chrono::seconds(3);
    while (clock_->Now() < deadline) {
      Reap(l.runsvdir_pid);
      if (SandboxProcesses(l).empty()) break;
      clock_->SleepFor(milliseconds(20), std::stop_token());
    }
  }
  Status s = StopLeftovers(l, clock_, std::chrono::seconds(2));
  if (!s.ok()) return s;
  const auto left = SandboxProcesses(l);
  if (!left.empty()) {
    return Status::Internal("still running after stopping the sandbox: " + DescribeProcs(left));
  }
  return RemoveStateDir(dir);
}

Result<SandboxStatus> LocalSandbox::GetStatus(const std::string& state_dir) {
  SandboxStatus st;
  st.state_dir = ResolveDir(state_dir);
  std::error_code ec;
  if (!fs::exists(st.state_dir + "/" + kStateFile, ec)) return st;
  auto read = ReadLayout(st.state_dir);
  if (!read.ok()) return read.status();
  const Layout& l = *read;
  st.frontend_url = l.FrontendUrl();
  st.stats_url = l.StatsBase() + "/stats";
  st.runsvdir_pid = l.runsvdir_pid;
  st.up = IsOurRunsvdir(l);
  st.haproxy_pid = SupervisedPid(l, kHaproxyService);
  st.haproxy_runit_state = SupervisedState(l, kHaproxyService);

  std::map<std::string, ServerState> servers;
  if (st.up) {
    auto s = HaproxyServers(l);
    if (s.ok()) servers = std::move(s).value();
    auto front = HttpGet(l.FrontendUrl(), milliseconds(1000));
    st.frontend_ok = front.ok() && front->code == 200;
  }
  bool all = st.up && st.frontend_ok && st.haproxy_pid > 0;
  for (size_t i = 0; i < l.replica_ports.size(); ++i) {
    ReplicaStatus r;
    r.name = Layout::ReplicaName(i);
    r.port = l.replica_ports[i];
    r.pid = SupervisedPid(l, r.name);
    r.runit_state = SupervisedState(l, r.name);
    if (r.pid > 0) {
      auto h =
          HttpGet("http://" + std::string(kLoopback) + ":" + std::to_string(r.port) + "/healthz",
                  milliseconds(500));
      r.healthy = h.ok() && h->code == 200;
    }
    if (auto it = servers.find(r.name); it != servers.end()) r.haproxy_state = it->second.status;
    all = all && r.healthy && r.haproxy_state == "UP";
    st.replicas.push_back(std::move(r));
  }
  st.healthy = all;
  return st;
}

}  // namespace gameday

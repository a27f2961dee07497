#include "sandbox/sandbox_files.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "experiments/files.h"
#include "experiments/shell_quote.h"

namespace gameday::local_sandbox {

namespace fs = std::filesystem;

namespace {

// Written through the shared writer: never half-written, never through a symlink planted in the
// state folder (the run scripts are what runsv runs, as root when the sandbox runs as root).
constexpr mode_t kFileMode = 0644;
constexpr mode_t kExecMode = 0755;

std::string RunScript(const std::string& log, const std::string& exec_line) {
  return "#!/bin/sh\n"
         "# Written by `gameday sandbox up`. runsv runs this and runs it again when it exits.\n"
         "exec >>" +
         ShellQuote(log) + " 2>&1\nexec " + exec_line + "\n";
}

}  // namespace

std::string HaproxyConfig(const Layout& l) {
  std::ostringstream c;
  c << "# Written by `gameday sandbox up`; removed by `gameday sandbox down`.\n"
    << "global\n"
    << "  maxconn 2048\n"
    // A stop never hangs on lingering client connections.
    << "  hard-stop-after 3s\n"
    << "\n"
    << "defaults\n"
    << "  mode http\n"
    << "  timeout connect 200ms\n"
    << "  timeout client 5s\n"
    << "  timeout server 2s\n"
    << "  timeout http-request 5s\n"
    // Without it the whole check (connect + answer) must fit in `inter` (100 ms), which a busy
    // machine misses now and then, flapping a healthy replica DOWN.
    << "  timeout check 500ms\n"
    // A request that hits a just-killed replica (refused, or reset before any answer) or one
    // still warming up (503) goes to another one; GETs are idempotent so replaying them is safe.
    << "  retries 2\n"
    << "  option redispatch\n"
    << "  retry-on conn-failure empty-response 503\n"
    << "\n"
    << "frontend web\n"
    << "  bind " << kLoopback << ":" << l.frontend_port << "\n"
    << "  default_backend " << kBackend << "\n"
    << "\n"
    << "backend " << kBackend << "\n"
    << "  balance roundrobin\n"
    << "  option httpchk GET /healthz\n"
    << "  default-server inter 100ms fastinter 50ms downinter 100ms fall 2 rise 1\n";
  for (size_t i = 0; i < l.replica_ports.size(); ++i) {
    c << "  server " << Layout::ReplicaName(i) << " " << kLoopback << ":" << l.replica_ports[i]
      << " check\n";
  }
  c << "\n"
    << "frontend stats\n"
    << "  bind " << kLoopback << ":" << l.stats_port << "\n"
    << "  http-request use-service prometheus-exporter if { path /metrics }\n"
    << "  stats enable\n"
    << "  stats uri /stats\n"
    << "  stats refresh 2s\n";
  return c.str();
}

Status WriteSandboxFiles(const Layout& l, const Tools& tools) {
  std::error_code ec;
  for (const auto& name : l.ServiceNames()) {
    fs::create_directories(l.ServicePath(name), ec);
    if (ec) return Status::Internal("cannot create " + l.ServicePath(name) + ": " + ec.message());
  }
  fs::create_directories(l.LogDir(), ec);
  if (ec) return Status::Internal("cannot create " + l.LogDir() + ": " + ec.message());

  Status s = WriteFileAtomically(l.ConfigPath(), HaproxyConfig(l), kFileMode);
  if (!s.ok()) return s;
  for (size_t i = 0; i < l.replica_ports.size(); ++i) {
    const std::string name = Layout::ReplicaName(i);
    const std::string exec_line = ShellQuote(l.demo_binary) + " --port " +
                                  std::to_string(l.replica_ports[i]) + " --bind " + kLoopback +
                                  " --name " + name + " --warmup-ms " + std::to_string(l.warmup_ms);
    s = WriteFileAtomically(l.ServicePath(name) + "/run", RunScript(l.LogPath(name), exec_line),
                            kExecMode);
    if (!s.ok()) return s;
  }
  // -W: master-worker, so a stop signal ends the workers too; -db: stay in the foreground under
  // runsv.
  const std::string haproxy_line =
      ShellQuote(tools.haproxy) + " -W -db -f " + ShellQuote(l.ConfigPath());
  s = WriteFileAtomically(l.ServicePath(kHaproxyService) + "/run",
                          RunScript(l.LogPath(kHaproxyService), haproxy_line), kExecMode);
  if (!s.ok()) return s;
  // Debian's runsvdir does not scan a service directory modified within the last second (so it
  // never starts a half-written service); ours is complete, so date it back rather than lose a
  // second on every Up.
  const timespec times[2] = {{0, UTIME_OMIT}, {time(nullptr) - 2, 0}};
  if (utimensat(AT_FDCWD, l.ServiceDir().c_str(), times, 0) != 0) {
    return Status::Internal("cannot set the time of " + l.ServiceDir() + ": " +
                            std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace gameday::local_sandbox

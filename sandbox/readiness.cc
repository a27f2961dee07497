#include "sandbox/readiness.h"

#include <stop_token>
#include <string>
#include <vector>

#include "sandbox/file_text.h"
#include "sandbox/haproxy_stats.h"
#include "sandbox/local_processes.h"
#include "sandbox/loopback_http.h"

namespace gameday::local_sandbox {

using std::chrono::milliseconds;

namespace {

struct Readiness {
  bool ready = false;
  std::string problem;
  std::vector<std::string> log_names;  // logs worth quoting if it never gets ready
};

Readiness ProbeReady(const Layout& l) {
  Readiness r;
  auto servers = HaproxyServers(l);
  if (!servers.ok()) {
    r.problem =
        "HAProxy stats on " + l.StatsBase() + " not answering (" + servers.status().message() + ")";
    r.log_names = {kHaproxyService};
    return r;
  }
  std::vector<std::string> problems;
  for (size_t i = 0; i < l.replica_ports.size(); ++i) {
    const std::string name = Layout::ReplicaName(i);
    auto it = servers->find(name);
    if (it == servers->end()) {
      problems.push_back(name + " missing from HAProxy's backend");
    } else if (it->second.status != "UP" || it->second.check_status.rfind("L7OK", 0) != 0) {
      problems.push_back(name + " (port " + std::to_string(l.replica_ports[i]) + ") is " +
                         it->second.status + " in HAProxy (check " + it->second.check_status +
                         (it->second.check_desc.empty() ? "" : ": " + it->second.check_desc) + ")");
      r.log_names.push_back(name);
    }
  }
  if (problems.empty()) {
    auto front = HttpGet(l.FrontendUrl(), milliseconds(1000));
    if (!front.ok()) {
      problems.push_back("frontend " + l.FrontendUrl() + ": " + front.status().message());
    } else if (front->code != 200) {
      problems.push_back("frontend " + l.FrontendUrl() + " answered HTTP " +
                         std::to_string(front->code));
    }
    if (!problems.empty()) r.log_names.emplace_back(kHaproxyService);
  }
  for (const auto& p : problems) r.problem += (r.problem.empty() ? "" : "; ") + p;
  r.ready = problems.empty();
  return r;
}

}  // namespace

Status WaitReady(const Layout& l, Duration timeout, Clock* clock) {
  const MonoTime deadline = clock->Now() + timeout;
  for (;;) {
    if (!IsOurRunsvdir(l)) {
      return Status::Internal(
          "runsvdir (pid " + std::to_string(l.runsvdir_pid) +
          ") of the sandbox exited; its log:" + LogTail(l.LogPath("runsvdir"), 5));
    }
    Readiness r = ProbeReady(l);
    if (r.ready) return Status::Ok();
    if (clock->Now() >= deadline) {
      std::string msg = "the sandbox in " + l.state_dir + " was not ready within " +
                        std::to_string(static_cast<int>(ToSeconds(timeout))) + " s: " + r.problem;
      for (const auto& name : r.log_names) {
        const std::string tail = LogTail(l.LogPath(name), 3);
        if (!tail.empty()) msg += "\n  " + l.LogPath(name) + ":" + tail;
      }
      return Status::DeadlineExceeded(msg);
    }
    clock->SleepFor(milliseconds(25), std::stop_token());
  }
}

}  // namespace gameday::local_sandbox

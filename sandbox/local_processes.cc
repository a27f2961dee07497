#include "sandbox/local_processes.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <stop_token>

#include "sandbox/file_text.h"

namespace gameday::local_sandbox {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

// The sandbox's own process names: only these are ever signalled, so a person's shell that sits
// in the state directory (or a `less` on one of its logs) is left alone. "run" is a runit run
// script in the instant between runsv's fork and its exec of the service.
bool IsSandboxComm(const std::string& comm, const Layout& l) {
  static const std::set<std::string> kNames = {"runsvdir", "runsv",   "run",
                                               "sv",       "haproxy", "gameday-demo"};
  if (kNames.count(comm)) return true;
  // The kernel keeps the first 15 bytes of the executable's name.
  return !l.demo_binary.empty() &&
         comm == fs::path(l.demo_binary).filename().string().substr(0, 15);
}

}  // namespace

// Every live process that belongs to the sandbox in `l`: by working directory or argument inside
// the state directory, or by membership in the process group of its runsvdir.
std::vector<ProcInfo> SandboxProcesses(const Layout& l) {
  std::vector<ProcInfo> out;
  const pid_t self = getpid();
  for (pid_t pid : AllPids()) {
    if (pid == self) continue;
    auto info = ReadProc(pid);
    if (!IsRunning(info) || !IsSandboxComm(info->comm, l)) continue;
    const bool in_group = l.runsvdir_pid > 0 && info->pgid == l.runsvdir_pid;
    if (in_group || IsUnderDir(pid, l.state_dir)) out.push_back(*info);
  }
  return out;
}

std::string DescribeProcs(const std::vector<ProcInfo>& procs) {
  std::string out;
  for (const auto& p : procs) {
    out += (out.empty() ? "" : ", ") + p.comm + " (pid " + std::to_string(p.pid) + ")";
  }
  return out;
}

// Collects the exit status of `pid` if it is our child (the runsvdir Up started in this
// process), so it does not linger as a zombie; harmless otherwise.
void Reap(pid_t pid) {
  if (pid <= 0) return;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
}

bool IsOurRunsvdir(const Layout& l) {
  if (l.runsvdir_pid <= 0) return false;
  Reap(l.runsvdir_pid);
  auto info = ReadProc(l.runsvdir_pid);
  if (!IsRunning(info) || info->comm != "runsvdir") return false;
  // Up starts runsvdir with its working directory in the state dir. The command line alone is
  // not enough: it reads empty for a moment while the exec is being set up.
  if (PathUnder(ReadLink("/proc/" + std::to_string(l.runsvdir_pid) + "/cwd"), l.state_dir)) {
    return true;
  }
  const auto args = Cmdline(l.runsvdir_pid);
  return std::find(args.begin(), args.end(), l.ServiceDir()) != args.end();
}

pid_t SupervisedPid(const Layout& l, const std::string& service) {
  auto text = ReadFile(l.ServicePath(service) + "/supervise/pid");
  if (!text) return 0;
  const pid_t pid = static_cast<pid_t>(std::atoi(Trim(*text).c_str()));
  return IsRunning(pid) ? pid : 0;
}
std::string SupervisedState(const Layout& l, const std::string& service) {
  auto text = ReadFile(l.ServicePath(service) + "/supervise/stat");
  return text ? Trim(*text) : std::string();
}

Status StopLeftovers(const Layout& l, Clock* clock, Duration grace) {
  const MonoTime start = clock->Now();
  const MonoTime give_up = start + grace + std::chrono::seconds(5);
  std::set<pid_t> termed;
  for (;;) {
    Reap(l.runsvdir_pid);
    const auto procs = SandboxProcesses(l);
    if (procs.empty()) return Status::Ok();
    const MonoTime now = clock->Now();
    if (now >= give_up) {
      return Status::Internal("could not stop " + DescribeProcs(procs) + " of the sandbox in " +
                              l.state_dir);
    }
    for (const auto& p : procs) {
      if (p.comm == "runsvdir" || p.comm == "runsv" || now - start >= grace) {
        kill(p.pid, SIGKILL);
      } else if (termed.insert(p.pid).second) {
        kill(p.pid, SIGTERM);
        kill(p.pid, SIGCONT);  // a stopped process would never see the SIGTERM
      }
    }
    clock->SleepFor(milliseconds(20), std::stop_token());
  }
}

}  // namespace gameday::local_sandbox

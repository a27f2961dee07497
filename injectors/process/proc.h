#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// What /proc/PID/stat says about one process.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;  // at most 15 characters
  char state = '?';  // R S D Z T t X I ...
  pid_t ppid = 0;
  unsigned long flags = 0;
  uint64_t starttime = 0;  // clock ticks after boot: with the pid, a process's identity
  bool zombie() const { return state == 'Z' || state == 'X' || state == 'x'; }
  bool kernel_thread() const;
};

// Parses the text of a /proc/PID/stat file (the command name may hold spaces and parentheses).
std::optional<ProcStat> ParseProcStat(const std::string& text);
std::optional<ProcStat> ReadProcStat(pid_t pid);
// The arguments from /proc/PID/cmdline; empty for kernel threads, zombies and the unreadable.
// With `max_bytes`, only that much of the file is read (the last argument may be cut short).
std::vector<std::string> ReadProcArgv(pid_t pid, size_t max_bytes = std::string::npos);
// The real uid from /proc/PID/status.
std::optional<uid_t> ReadProcUid(pid_t pid);
// Target of the /proc/PID/<link> symlink (exe, cwd).
Result<std::string> ReadProcLink(pid_t pid, const std::string& link);
// NAME=VALUE entries of /proc/PID/environ, in order.
Result<std::vector<std::string>> ReadProcEnviron(pid_t pid);
// Every pid under /proc (thread-group leaders only).
std::vector<pid_t> ListPids();
// This process and every ancestor up to pid 1.
std::vector<pid_t> SelfAndAncestors();
std::string JoinArgs(const std::vector<std::string>& argv);

// The process `pid` if it is the one that started at `starttime` and is not a zombie.
std::optional<ProcStat> FindLive(pid_t pid, uint64_t starttime);

// Sends `sig` to `pid` only if it is still the process that started at `starttime`. Uses a pidfd
// where the kernel has them, so the check and the signal cannot straddle a pid reuse.
// NotFound: gone (or a zombie, or a different process now); PermissionDenied: not ours.
Status SignalProcess(pid_t pid, uint64_t starttime, int sig);

// Polls `done` on `clock` until it holds or `timeout` passes; returns whether it held. Starts at
// 1 ms and backs off to 10 ms: a signal usually takes effect within a millisecond, and the time
// it is confirmed is the fault's t_inject.
template <typename Predicate>
bool PollUntil(Clock& clock, Duration timeout, Predicate done) {
  const MonoTime deadline = clock.Now() + timeout;
  Duration step = std::chrono::milliseconds(1);
  for (;;) {
    if (done()) return true;
    const MonoTime now = clock.Now();
    if (now >= deadline) return false;
    clock.SleepFor(std::min<Duration>(step, deadline - now), {});
    step = std::min<Duration>(step * 2, std::chrono::milliseconds(10));
  }
}

// Signal names and numbers: "SIGTERM", "TERM", "term" and "15" all give 15.
std::optional<int> ParseSignal(const std::string& text);
std::string SignalName(int sig);  // "SIGTERM", or "signal 40" when it has no name

}  // namespace gameday

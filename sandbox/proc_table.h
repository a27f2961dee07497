#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace gameday::local_sandbox {

// Processes, found through /proc.

struct ProcInfo {
  pid_t pid = 0;
  char state = '?';
  pid_t pgid = 0;
  std::string comm;
};

// One process's /proc/<pid>/stat; nullopt when it is gone or unreadable.
std::optional<ProcInfo> ReadProc(pid_t pid);

// Zombies count as gone: their resources are released and nothing can be signalled any more.
bool IsRunning(const std::optional<ProcInfo>& info);
bool IsRunning(pid_t pid);

// Every pid in /proc.
std::vector<pid_t> AllPids();

// The target of a symlink such as /proc/<pid>/cwd; "" when unreadable.
std::string ReadLink(const std::string& path);

// The arguments of a process; empty when it is gone (or while an exec is being set up).
std::vector<std::string> Cmdline(pid_t pid);

// True when `path` is `root` or below it; a "(deleted)" mark of the kernel is ignored.
bool PathUnder(std::string path, const std::string& root);

// True when the working directory or an argument of `pid` is under `root`.
bool IsUnderDir(pid_t pid, const std::string& root);

}  // namespace gameday::local_sandbox

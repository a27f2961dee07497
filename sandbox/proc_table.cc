#include "sandbox/proc_table.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "sandbox/file_text.h"

namespace gameday::local_sandbox {

std::optional<ProcInfo> ReadProc(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // "pid (comm) S ppid pgrp ..."; comm may hold spaces and parentheses, so split at the last ')'.
  const size_t open = stat->find('(');
  const size_t close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcInfo info;
  info.pid = pid;
  info.comm = stat->substr(open + 1, close - open - 1);
  int ppid = 0;
  int pgrp = 0;
  if (std::sscanf(stat->c_str() + close + 1, " %c %d %d", &info.state, &ppid, &pgrp) != 3) {
    return std::nullopt;
  }
  info.pgid = pgrp;
  return info;
}

bool IsRunning(const std::optional<ProcInfo>& info) {
  return info && info->state != 'Z' && info->state != 'X';
}
bool IsRunning(pid_t pid) { return pid > 0 && IsRunning(ReadProc(pid)); }

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (*end == '\0' && v > 0) pids.push_back(static_cast<pid_t>(v));
  }
  closedir(d);
  return pids;
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::vector<std::string> Cmdline(pid_t pid) {
  std::vector<std::string> args;
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text) return args;
  size_t start = 0;
  for (size_t i = 0; i < text->size(); ++i) {
    if ((*text)[i] == '\0') {
      args.push_back(text->substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < text->size()) args.push_back(text->substr(start));
  return args;
}

bool PathUnder(std::string path, const std::string& root) {
  // The kernel marks a working directory that was removed meanwhile.
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() &&
      path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
    path.resize(path.size() - deleted.size());
  }
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

bool IsUnderDir(pid_t pid, const std::string& root) {
  if (PathUnder(ReadLink("/proc/" + std::to_string(pid) + "/cwd"), root)) return true;
  for (const std::string& arg : Cmdline(pid)) {
    if (PathUnder(arg, root)) return true;
  }
  return false;
}

}  // namespace gameday::local_sandbox

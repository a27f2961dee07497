#include "injectors/process/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gameday {
namespace {

constexpr unsigned long kPfKthread = 0x00200000;  // PF_KTHREAD from linux/sched.h

// /proc files report a size of 0, so read until EOF.
std::optional<std::string> ReadWhole(const std::string& path, int* err = nullptr,
                                     size_t max_bytes = std::string::npos) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = errno;
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  while (out.size() < max_bytes) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err) *err = errno;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string ProcPath(pid_t pid, const std::string& leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

std::vector<std::string> SplitNul(const std::string& data) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    out.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status ErrnoStatus(int err, const std::string& what) {
  const std::string m = what + ": " + std::strerror(err);
  if (err == ESRCH || err == ENOENT) return Status::NotFound(m);
  if (err == EPERM || err == EACCES) return Status::PermissionDenied(m);
  return Status::Internal(m);
}

struct SignalEntry {
  const char* name;
  int number;
};

constexpr SignalEntry kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"IOT", SIGIOT},
    {"POLL", SIGPOLL}, {"CLD", SIGCHLD},
};

}  // namespace

// Not "ppid == 2": inside a pid namespace pid 2 is an ordinary process.
bool ProcStat::kernel_thread() const { return (flags & kPfKthread) != 0; }

std::optional<ProcStat> ParseProcStat(const std::string& text) {
  // "pid (comm) state ppid pgrp session tty_nr tpgid flags ... starttime(22) ..."
  const size_t open = text.find(" (");
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  try {
    size_t used = 0;
    st.pid = std::stoi(text.substr(0, open), &used);
    if (used != open || st.pid <= 0) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  st.comm = text.substr(open + 2, close - open - 2);
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  std::string f;
  while (rest >> f) fields.push_back(f);
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  st.state = fields[0][0];
  try {
    st.ppid = std::stoi(fields[1]);
    st.flags = std::stoul(fields[6]);
    st.starttime = std::stoull(fields[19]);
  } catch (...) {
    return std::nullopt;
  }
  return st;
}

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  auto text = ReadWhole(ProcPath(pid, "stat"));
  if (!text) return std::nullopt;
  auto st = ParseProcStat(*text);
  if (st && st->pid != pid) return std::nullopt;
  return st;
}

std::vector<std::string> ReadProcArgv(pid_t pid, size_t max_bytes) {
  auto data = ReadWhole(ProcPath(pid, "cmdline"), nullptr, max_bytes);
  if (!data) return {};
  return SplitNul(*data);
}

std::optional<uid_t> ReadProcUid(pid_t pid) {
  auto text = ReadWhole(ProcPath(pid, "status"));
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      unsigned long uid = 0;
      if (fields >> uid) return static_cast<uid_t>(uid);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

Result<std::string> ReadProcLink(pid_t pid, const std::string& link) {
  const std::string path = ProcPath(pid, link);
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return ErrnoStatus(errno, "cannot read " + path);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Result<std::vector<std::string>> ReadProcEnviron(pid_t pid) {
  int err = 0;
  const std::string path = ProcPath(pid, "environ");
  auto data = ReadWhole(path, &err);
  if (!data) return ErrnoStatus(err, "cannot read " + path);
  return SplitNul(*data);
}

std::vector<pid_t> ListPids() {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (const dirent* ent = ::readdir(d)) {
    const char* name = ent->d_name;
    if (!*name || !std::all_of(name, name + std::strlen(name), ::isdigit)) continue;
    pids.push_back(static_cast<pid_t>(std::atol(name)));
  }
  ::closedir(d);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<pid_t> SelfAndAncestors() {
  std::vector<pid_t> out{::getpid()};
  pid_t p = ::getppid();
  // Bounded: a pid namespace's chain is short, and /proc could change under us.
  for (int i = 0; i < 4096 && p > 0; ++i) {
    out.push_back(p);
    if (p == 1) break;
    auto st = ReadProcStat(p);
    if (!st) break;
    p = st->ppid;
  }
  return out;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    out += argv[i];
  }
  return out;
}

std::optional<ProcStat> FindLive(pid_t pid, uint64_t starttime) {
  auto st = ReadProcStat(pid);
  if (!st || st->starttime != starttime || st->zombie()) return std::nullopt;
  return st;
}

Status SignalProcess(pid_t pid, uint64_t starttime, int sig) {
  const std::string who = "pid " + std::to_string(pid);
  int pidfd = -1;
#ifdef SYS_pidfd_open
  pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0 && errno == ESRCH) return Status::NotFound(who + " is gone");
#endif
  // With a pidfd held, the pid cannot be recycled under us: if the process we checked is the one
  // the pidfd names, the signal reaches exactly it.
  if (!FindLive(pid, starttime)) {
    if (pidfd >= 0) ::close(pidfd);
    return Status::NotFound(who + " with start time " + std::to_string(starttime) + " is gone");
  }
  int rc = -1;
  int err = ENOSYS;
#ifdef SYS_pidfd_send_signal
  if (pidfd >= 0) {
    rc = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
    err = errno;
  }
#endif
  if (pidfd >= 0) ::close(pidfd);
  if (rc != 0 && err == ENOSYS) {  // kernels before 5.1: a plain kill after the check
    rc = ::kill(pid, sig);
    err = errno;
  }
  if (rc == 0) return Status::Ok();
  if (err == EPERM) {
    return Status::PermissionDenied("cannot send " + SignalName(sig) + " to " + who +
                                    ": not permitted (needs the same user or CAP_KILL)");
  }
  return ErrnoStatus(err, "cannot send " + SignalName(sig) + " to " + who);
}

std::optional<int> ParseSignal(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), ::isdigit)) {
    if (text.size() > 3) return std::nullopt;
    const int n = std::stoi(text);
    if (n < 1 || n > SIGRTMAX) return std::nullopt;
    return n;
  }
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("SIG", 0) == 0) upper = upper.substr(3);
  for (const auto& s : kSignals) {
    if (upper == s.name) return s.number;
  }
  return std::nullopt;
}

std::string SignalName(int sig) {
  for (const auto& s : kSignals) {
    if (s.number == sig) return std::string("SIG") + s.name;
  }
  return "signal " + std::to_string(sig);
}

}  // namespace gameday

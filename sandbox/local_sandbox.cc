#include "sandbox/local_sandbox.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stop_token>

#include "experiments/files.h"
#include "experiments/journal.h"
#include "sandbox/cluster_sandbox.h"

extern char** environ;

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr char kStateFile[] = "sandbox.state";
constexpr char kLoopback[] = "127.0.0.1";
constexpr char kHaproxyService[] = "haproxy";
constexpr char kBackend[] = "replicas";
constexpr int kMaxReplicas = 16;

// ---------------------------------------------------------------------------------------------
// Small file and string helpers.

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

// The last `n` non-empty lines of a log file, indented, for error messages.
std::string LogTail(const std::string& path, size_t n) {
  auto text = ReadFile(path);
  if (!text || text->empty()) return "";
  std::vector<std::string> lines;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (!Trim(line).empty()) lines.push_back(line);
  }
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += "\n    " + lines[i];
  }
  return out;
}

// Through the shared writer: never half-written, never through a symlink planted in the state
// folder (these are scripts runsv runs as root).
Status WriteFileAtomic(const std::string& path, const std::string& content, fs::perms perms) {
  return WriteFileAtomically(path, content, static_cast<mode_t>(perms));
}

// For /bin/sh: one single-quoted word.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string JoinPorts(const std::vector<int>& ports) {
  std::string out;
  for (int p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

std::string ResolveDir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir.empty() ? DefaultLocalSandboxDir() : dir, ec);
  fs::path canonical = fs::weakly_canonical(p, ec);
  if (!ec) p = canonical;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------
// The layout of one sandbox, as chosen by Up and recorded in its state file.

struct Layout {
  std::string state_dir;  // absolute, symlinks resolved
  int frontend_port = 0;
  int stats_port = 0;
  std::vector<int> replica_ports;
  std::string demo_binary;
  int warmup_ms = 0;
  pid_t runsvdir_pid = 0;

  std::string ServiceDir() const { return state_dir + "/service"; }
  std::string LogDir() const { return state_dir + "/logs"; }
  std::string ConfigPath() const { return state_dir + "/haproxy.cfg"; }
  std::string StatePath() const { return state_dir + "/" + kStateFile; }
  std::string ServicePath(const std::string& name) const { return ServiceDir() + "/" + name; }
  std::string LogPath(const std::string& name) const { return LogDir() + "/" + name + ".log"; }
  static std::string ReplicaName(size_t i) { return "replica-" + std::to_string(i + 1); }
  std::vector<std::string> ServiceNames() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < replica_ports.size(); ++i) names.push_back(ReplicaName(i));
    names.emplace_back(kHaproxyService);
    return names;
  }
  std::string FrontendUrl() const {
    return "http://" + std::string(kLoopback) + ":" + std::to_string(frontend_port) + "/";
  }
  std::string StatsBase() const {
    return "http://" + std::string(kLoopback) + ":" + std::to_string(stats_port);
  }
  bool SameShape(const Layout& o) const {
    return frontend_port == o.frontend_port && stats_port == o.stats_port &&
           replica_ports == o.replica_ports && demo_binary == o.demo_binary &&
           warmup_ms == o.warmup_ms;
  }
  std::string Describe() const {
    return "frontend port " + std::to_string(frontend_port) + ", stats port " +
           std::to_string(stats_port) + ", replica ports " + JoinPorts(replica_ports) +
           ", warm-up " + std::to_string(warmup_ms) + " ms, demo binary " + demo_binary;
  }
  std::string Serialize() const {
    std::ostringstream out;
    out << "# gameday local sandbox: written by `gameday sandbox up`, removed by `down`.\n"
        << "frontend_port=" << frontend_port << "\n"
        << "stats_port=" << stats_port << "\n"
        << "replica_ports=" << JoinPorts(replica_ports) << "\n"
        << "demo_binary=" << demo_binary << "\n"
        << "warmup_ms=" << warmup_ms << "\n"
        << "runsvdir_pid=" << runsvdir_pid << "\n";
    return out.str();
  }
};

bool ParsePort(const std::string& s, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 65535) return false;
  *out = static_cast<int>(v);
  return true;
}

Result<Layout> ReadLayout(const std::string& state_dir) {
  Layout l;
  l.state_dir = state_dir;
  auto text = ReadFile(l.StatePath());
  if (!text) return Status::NotFound("no state file " + l.StatePath());
  std::map<std::string, std::string> kv;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  int pid = 0;
  bool ok = ParsePort(kv["frontend_port"], &l.frontend_port) &&
            ParsePort(kv["stats_port"], &l.stats_port) && !kv["demo_binary"].empty() &&
            std::sscanf(kv["runsvdir_pid"].c_str(), "%d", &pid) == 1 &&
            std::sscanf(kv["warmup_ms"].c_str(), "%d", &l.warmup_ms) == 1;
  l.demo_binary = kv["demo_binary"];
  l.runsvdir_pid = pid;
  std::istringstream ports(kv["replica_ports"]);
  for (std::string p; std::getline(ports, p, ',');) {
    int port = 0;
    ok = ok && ParsePort(p, &port);
    l.replica_ports.push_back(port);
  }
  if (!ok || l.replica_ports.empty()) {
    return Status::Internal("state file " + l.StatePath() + " is damaged");
  }
  return l;
}

// ---------------------------------------------------------------------------------------------
// Processes, found through /proc.

struct ProcInfo {
  pid_t pid = 0;
  char state = '?';
  pid_t pgid = 0;
  std::string comm;
};

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

// Zombies count as gone: their resources are released and nothing can be signalled any more.
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

// runit's view of a service: its pid (0 when none) and the text of supervise/stat.
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

// ---------------------------------------------------------------------------------------------
// Starting programs: posix_spawn, safe from a multithreaded caller, with a clean signal state
// (the caller may block SIGTERM for a signal thread; runit and HAProxy must not inherit that)
// and no inherited descriptors (a test's listening socket must not leak into runsvdir).

struct SpawnOptions {
  std::string cwd;
  std::string output;  // stdout and stderr appended here; empty = /dev/null
  bool new_session = false;
};

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = opts.output.empty() ? "/dev/null" : opts.output;
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);

  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (opts.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Internal("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// Runs a command to completion, killing it after `timeout`. Returns its exit code (or 128 +
// signal), and its output when `output` is set.
Result<int> RunCommand(const std::vector<std::string>& argv, const std::string& output,
                       Duration timeout, Clock* clock) {
  auto pid = Spawn(argv, {.cwd = "", .output = output, .new_session = false});
  if (!pid.ok()) return pid.status();
  const MonoTime deadline = clock->Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(*pid, &status, WNOHANG);
    if (r == *pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (r < 0 && errno != EINTR)
      return Status::Internal("waitpid: " + std::string(strerror(errno)));
    if (clock->Now() >= deadline) {
      kill(*pid, SIGKILL);
      waitpid(*pid, &status, 0);
      return Status::DeadlineExceeded(argv[0] + " did not finish in " +
                                      std::to_string(ToSeconds(timeout)) + " s");
    }
    clock->SleepFor(milliseconds(10), std::stop_token());
  }
}

// ---------------------------------------------------------------------------------------------
// Tools and binaries.

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir;
    candidate += "/";
    candidate += name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

struct Tools {
  std::string runsvdir;
  std::string sv;
  std::string haproxy;
};

Result<Tools> FindTools() {
  Tools t;
  t.runsvdir = FindOnPath("runsvdir");
  t.sv = FindOnPath("sv");
  t.haproxy = FindOnPath("haproxy");
  std::vector<std::string> missing;
  if (t.runsvdir.empty()) missing.emplace_back("runsvdir");
  if (FindOnPath("runsv").empty()) missing.emplace_back("runsv");  // runsvdir starts it by name
  if (t.sv.empty()) missing.emplace_back("sv");
  if (t.haproxy.empty()) missing.emplace_back("haproxy");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Status::FailedPrecondition(
        "the local sandbox needs runsvdir, runsv and sv (Debian package runit) and haproxy "
        "(Debian package haproxy) on PATH; missing: " +
        list + ". Install them with scripts/setup.sh or `apt-get install runit haproxy`");
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Ports.

// Who listens on `port` (any address), as "pid 123 (nginx)"; empty when it cannot tell (another
// user's process without privileges, or a socket in a different network namespace).
std::string PortOwner(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = ReadFile(table);
    if (!text) continue;
    std::istringstream in(*text);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos || st != "0A") continue;  // 0A = LISTEN
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port) inodes.insert(inode);
    }
  }
  if (inodes.empty()) return "";
  for (pid_t pid : AllPids()) {
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(fd_dir.c_str());
    if (!d) continue;
    std::string found;
    while (dirent* e = readdir(d)) {
      const std::string link = ReadLink(fd_dir + "/" + e->d_name);
      if (link.rfind("socket:[", 0) == 0 && inodes.count(link.substr(8, link.size() - 9))) {
        auto info = ReadProc(pid);
        found = "pid " + std::to_string(pid) + " (" + (info ? info->comm : "?") + ")";
        break;
      }
    }
    closedir(d);
    if (!found.empty()) return found;
  }
  return "";
}

Status CheckPortFree(int port, const std::string& what) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal("socket: " + std::string(std::strerror(errno)));
  // The same option HAProxy and the demo bind with: a port held only by connections in
  // TIME_WAIT is free for them.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(fd);
  if (rc == 0) return Status::Ok();
  std::string msg = "port " + std::to_string(port) + " (" + what + ") on 127.0.0.1 is not free";
  if (err == EADDRINUSE) {
    const std::string owner = PortOwner(port);
    msg += owner.empty() ? ": it is in use by another process" : ": it is in use by " + owner;
    msg += "; stop that process or pick other ports (gameday sandbox up --local --port N)";
    return Status::FailedPrecondition(msg);
  }
  return Status::FailedPrecondition(msg + ": " + std::strerror(err));
}

// ---------------------------------------------------------------------------------------------
// HTTP, through libcurl as everywhere else in gameday.

struct HttpReply {
  long code = 0;
  std::string body;
  std::string replica;  // X-Replica header
};

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<HttpReply*>(user)->body.append(data, size * n);
  return size * n;
}

size_t TakeHeader(char* data, size_t size, size_t n, void* user) {
  const std::string line(data, size * n);
  const std::string key = "x-replica:";
  if (line.size() > key.size() &&
      std::equal(key.begin(), key.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    static_cast<HttpReply*>(user)->replica = Trim(line.substr(key.size()));
  }
  return size * n;
}

Result<HttpReply> HttpGet(const std::string& url, milliseconds timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Internal("curl_easy_init failed");
  HttpReply reply;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // loopback only: never through a configured proxy
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, TakeHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Status::Unavailable(curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.code);
  return reply;
}

struct ServerState {
  std::string status;        // UP, DOWN, "UP 1/2", MAINT, ...
  std::string check_status;  // L7OK, L4CON, ...
  std::string check_desc;
};

// Per-server states of the replicas backend, from HAProxy's CSV stats.
Result<std::map<std::string, ServerState>> HaproxyServers(const Layout& l) {
  auto reply = HttpGet(l.StatsBase() + "/stats;csv", milliseconds(500));
  if (!reply.ok()) return reply.status();
  if (reply->code != 200) {
    return Status::Unavailable("stats answered HTTP " + std::to_string(reply->code));
  }
  std::istringstream in(reply->body);
  std::string header;
  std::getline(in, header);
  if (header.rfind("# ", 0) == 0) header = header.substr(2);
  std::map<std::string, size_t> col;
  {
    std::istringstream h(header);
    size_t i = 0;
    for (std::string name; std::getline(h, name, ',');) col[name] = i++;
  }
  if (!col.count("pxname") || !col.count("svname") || !col.count("status")) {
    return Status::Internal("unexpected HAProxy stats CSV header");
  }
  std::map<std::string, ServerState> out;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream row(line);
    for (std::string v; std::getline(row, v, ',');) f.push_back(v);
    auto at = [&](const std::string& name) {
      auto it = col.find(name);
      return it != col.end() && it->second < f.size() ? f[it->second] : std::string();
    };
    if (at("pxname") != kBackend) continue;
    const std::string sv = at("svname");
    if (sv == "BACKEND" || sv == "FRONTEND") continue;
    out[sv] = {at("status"), at("check_status"), at("check_desc")};
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing the sandbox.

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

std::string RunScript(const std::string& log, const std::string& exec_line) {
  return "#!/bin/sh\n"
         "# Written by `gameday sandbox up`. runsv runs this and runs it again when it exits.\n"
         "exec >>" +
         ShellQuote(log) + " 2>&1\nexec " + exec_line + "\n";
}

Status WriteSandboxFiles(const Layout& l, const Tools& tools) {
  std::error_code ec;
  for (const auto& name : l.ServiceNames()) {
    fs::create_directories(l.ServicePath(name), ec);
    if (ec) return Status::Internal("cannot create " + l.ServicePath(name) + ": " + ec.message());
  }
  fs::create_directories(l.LogDir(), ec);
  if (ec) return Status::Internal("cannot create " + l.LogDir() + ": " + ec.message());

  const auto exec_perms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec;
  const auto file_perms = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                          fs::perms::others_read;
  Status s = WriteFileAtomic(l.ConfigPath(), HaproxyConfig(l), file_perms);
  if (!s.ok()) return s;
  for (size_t i = 0; i < l.replica_ports.size(); ++i) {
    const std::string name = Layout::ReplicaName(i);
    const std::string exec_line = ShellQuote(l.demo_binary) + " --port " +
                                  std::to_string(l.replica_ports[i]) + " --bind " + kLoopback +
                                  " --name " + name + " --warmup-ms " + std::to_string(l.warmup_ms);
    s = WriteFileAtomic(l.ServicePath(name) + "/run", RunScript(l.LogPath(name), exec_line),
                        exec_perms);
    if (!s.ok()) return s;
  }
  // -W: master-worker, so a stop signal ends the workers too; -db: stay in the foreground under
  // runsv.
  const std::string haproxy_line =
      ShellQuote(tools.haproxy) + " -W -db -f " + ShellQuote(l.ConfigPath());
  s = WriteFileAtomic(l.ServicePath(kHaproxyService) + "/run",
                      RunScript(l.LogPath(kHaproxyService), haproxy_line), exec_perms);
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

namespace {

// Stops whatever of the sandbox in `l` is still running: supervisors first and at once (so
// nothing restarts), then services with SIGTERM, then SIGKILL after `grace`. Bounded.
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

Result<Layout> MakeLayout(const SandboxOptions& o) {
  Layout l;
  l.state_dir = ResolveDir(o.state_dir);
  if (l.state_dir == "/") return Status::InvalidArgument("the sandbox state dir cannot be /");
  auto bad_port = [](int p) { return p < 1 || p > 65535; };
  if (bad_port(o.frontend_port)) {
    return Status::InvalidArgument("frontend port must be 1..65535, got " +
                                   std::to_string(o.frontend_port));
  }
  l.frontend_port = o.frontend_port;
  l.stats_port = o.stats_port != 0 ? o.stats_port : o.frontend_port + 100;
  if (bad_port(l.stats_port)) {
    return Status::InvalidArgument("stats port must be 1..65535, got " +
                                   std::to_string(l.stats_port));
  }
  if (o.replicas < 1 || o.replicas > kMaxReplicas) {
    return Status::InvalidArgument("replicas must be 1.." + std::to_string(kMaxReplicas) +
                                   ", got " + std::to_string(o.replicas));
  }
  if (!o.replica_ports.empty() && static_cast<int>(o.replica_ports.size()) != o.replicas) {
    return Status::InvalidArgument("replica ports name " + std::to_string(o.replica_ports.size()) +
                                   " ports for " + std::to_string(o.replicas) + " replicas");
  }
  for (int i = 0; i < o.replicas; ++i) {
    const int p = o.replica_ports.empty() ? o.frontend_port + 1 + i : o.replica_ports[i];
    if (bad_port(p)) {
      return Status::InvalidArgument("replica port must be 1..65535, got " + std::to_string(p));
    }
    l.replica_ports.push_back(p);
  }
  std::set<int> all(l.replica_ports.begin(), l.replica_ports.end());
  all.insert(l.frontend_port);
  all.insert(l.stats_port);
  if (all.size() != l.replica_ports.size() + 2) {
    return Status::InvalidArgument("sandbox ports must all differ: " + l.Describe());
  }
  const auto warmup = std::chrono::duration_cast<milliseconds>(o.replica_warmup);
  if (warmup.count() < 0 || warmup > std::chrono::minutes(10)) {
    return Status::InvalidArgument("replica warm-up must be 0..10 min");
  }
  l.warmup_ms = static_cast<int>(warmup.count());
  l.demo_binary = ResolveDemoBinary(o.demo_binary);
  return l;
}

}  // namespace

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
  const auto file_perms = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                          fs::perms::others_read;
  s = WriteFileAtomic(want.StatePath(), want.Serialize(), file_perms);
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
  s = WriteFileAtomic(want.StatePath(), want.Serialize(), file_perms);
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

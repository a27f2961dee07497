#include "injectors/process/process_injector.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <re2/re2.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "experiments/json.h"
#include "experiments/redact.h"
#include "injectors/process/proc.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kKindName[] = "process";
constexpr Duration kConfirmTimeout = seconds(1);
constexpr Duration kRestartGrace = milliseconds(100);
constexpr Duration kMaxStopTimeout = std::chrono::minutes(10);
constexpr size_t kMaxDisplayArgs = 160;
// A `pattern` sees at most this much of each command line: the kernel's default ARG_MAX is
// 2 MiB, and the scan of every process must stay cheap and bounded whatever runs on the host.
constexpr size_t kMaxMatchedCmdline = size_t{1} << 20;
// Environment kept for a restart: enough to run the program, small enough for a journal line.
constexpr size_t kMaxEnvValue = 4096;
constexpr size_t kMaxEnvTotal = 32768;
const char* const kSecretMarkers[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"};

enum class Action { kKill, kFreeze, kStop };

const char* ActionName(Action a) {
  switch (a) {
    case Action::kKill:
      return "kill";
    case Action::kFreeze:
      return "freeze";
    case Action::kStop:
      return "stop";
  }
  return "?";
}

struct ProcessSpec {
  enum class MatchBy { kPidFile, kName, kPattern };
  MatchBy match_by = MatchBy::kName;
  std::string match_value;             // the pid file path (absolute), the name or the pattern text
  std::shared_ptr<const RE2> pattern;  // set with kPattern
  Action action = Action::kKill;
  int signal = SIGKILL;
  Duration stop_timeout = seconds(5);
};

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool IsSecretName(const std::string& name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::any_of(std::begin(kSecretMarkers), std::end(kSecretMarkers),
                     [&](const char* m) { return upper.find(m) != std::string::npos; });
}

// "pid:<pid>:<starttime>" back into its parts.
bool ParseTargetId(const std::string& id, pid_t* pid, uint64_t* starttime) {
  if (id.rfind("pid:", 0) != 0) return false;
  const size_t colon = id.find(':', 4);
  if (colon == std::string::npos) return false;
  const std::string p = id.substr(4, colon - 4);
  const std::string s = id.substr(colon + 1);
  auto digits = [](const std::string& t) {
    return !t.empty() && t.size() < 20 && std::all_of(t.begin(), t.end(), ::isdigit);
  };
  if (!digits(p) || !digits(s) || p.size() > 9) return false;
  *pid = static_cast<pid_t>(std::stol(p));
  *starttime = std::stoull(s);
  return *pid > 0;
}

bool Gone(pid_t pid, uint64_t starttime) { return !FindLive(pid, starttime); }

// 'T' is a job-control stop; a process under a debugger (or strace) shows the same stop as 't'.
bool Stopped(const ProcStat& st) { return st.state == 'T' || st.state == 't'; }

std::string Truncate(const std::string& s, size_t max) {
  return s.size() <= max ? s : s.substr(0, max) + "...";
}

// ---- restart (the revert of `stop`) ----

struct StopRecord {
  std::vector<std::string> argv;
  std::string exe;
  std::string cwd;
  std::vector<std::string> env;  // NAME=VALUE
  // What the restart will lack, for the note on the revert: "NAME (why)" per variable left out,
  // and whether the process's own environment could not be read at all.
  std::vector<std::string> dropped_env;
  bool env_unreadable = false;
  // How long Revert waits for a stop that a killed run left half done (the plan's stop_timeout).
  Duration stop_wait = std::chrono::seconds(5);
};

// The sentence a restart from `r` owes the result; empty when it restores the whole environment.
std::string RestartNote(const StopRecord& r) {
  if (r.env_unreadable) {
    return "restarted with gameday's PATH and HOME only: the process's own environment could not "
           "be read";
  }
  if (r.dropped_env.empty()) return "";
  std::string list;
  for (const std::string& d : r.dropped_env) list += (list.empty() ? "" : ", ") + d;
  return "restarted without some of its environment variables: " + list;
}

// The command line as a person may see it: no secrets, bounded.
// `s` with every control character written as an escape (\n, \t, \xNN): what a process says
// of itself (argv, comm) can never forge a line of gameday's output.
std::string Escaped(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// A command line as the console, the journal and the reports show it: secrets redacted, escaped.
std::string DisplayArgs(const std::vector<std::string>& argv) {
  return Escaped(JoinArgs(RedactArgv(argv)));
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Where argv[0] leads, resolved the way a shell would have: against the cwd when it has a slash,
// else along the recorded PATH.
std::string ResolveArgv0(const StopRecord& r) {
  const std::string& a0 = r.argv[0];
  if (a0.find('/') != std::string::npos) {
    const std::string path = a0[0] == '/' ? a0 : r.cwd + "/" + a0;
    return IsExecutableFile(path) ? path : "";
  }
  std::string path_var;
  for (const std::string& kv : r.env) {
    if (kv.rfind("PATH=", 0) == 0) path_var = kv.substr(5);
  }
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? r.cwd : dir) + "/" + a0;
    if (IsExecutableFile(candidate)) return candidate;
  }
  return "";
}

// Prefers argv[0] when it names the same binary as /proc/PID/exe did, so the new process gets
// the same comm (which a `name` match may rely on); else the recorded binary itself.
Result<std::string> ChooseExecutable(const StopRecord& r) {
  const std::string via_argv0 = ResolveArgv0(r);
  const bool exe_usable =
      !r.exe.empty() && r.exe.find(" (deleted)") == std::string::npos && IsExecutableFile(r.exe);
  if (exe_usable) return !via_argv0.empty() && SameFile(via_argv0, r.exe) ? via_argv0 : r.exe;
  if (!via_argv0.empty()) return via_argv0;
  return Status::NotFound("cannot find the program to restart: '" + r.argv[0] + "' (was " +
                          (r.exe.empty() ? std::string("unknown") : r.exe) + ")");
}

bool RunningWithArgv(const std::vector<std::string>& argv) {
  const std::vector<pid_t> excluded = SelfAndAncestors();
  for (pid_t pid : ListPids()) {
    if (std::find(excluded.begin(), excluded.end(), pid) != excluded.end()) continue;
    if (ReadProcArgv(pid) != argv) continue;
    auto st = ReadProcStat(pid);
    if (st && !st->zombie()) return true;
  }
  return false;
}

// RAII for the posix_spawn attribute objects.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

Status Restart(const StopRecord& r, Clock& clock) {
  auto exe = ChooseExecutable(r);
  if (!exe.ok()) return exe.status();

  SpawnSetup s;
  // Its own session, default signal dispositions and an empty mask: nothing of gameday's
  // terminal, SIGINT handling or ignored SIGPIPE leaks into the restarted service.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&s.attr, &all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setflags(&s.attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&s.actions, r.cwd.c_str());
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);  // no inherited sockets or journals
#endif

  std::vector<char*> argv, envp;
  for (const auto& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : r.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe->c_str(), &s.actions, &s.attr, argv.data(), envp.data());
  if (rc != 0) {
    return Status::Internal("cannot restart '" + DisplayArgs(r.argv) + "' from " + *exe + " in " +
                            r.cwd + ": " + std::strerror(rc));
  }
  clock.SleepFor(kRestartGrace, {});
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
    std::string how = WIFEXITED(wstatus)
                          ? "exited with status " + std::to_string(WEXITSTATUS(wstatus))
                          : "died of " + SignalName(WTERMSIG(wstatus));
    return Status::Internal("restarted '" + DisplayArgs(r.argv) + "' (pid " + std::to_string(pid) +
                            ") " + how + " within " + FormatDuration(kRestartGrace));
  }
  return Status::Ok();
}

// ---- JSON helpers ----

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void PutString(JsonWriter& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

bool GetStringArray(const rapidjson::Value& obj, const char* key, std::vector<std::string>* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return false;
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString()) return false;
    out->emplace_back(v.GetString(), v.GetStringLength());
  }
  return true;
}

bool GetString(const rapidjson::Value& obj, const char* key, std::string* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return false;
  out->assign(it->value.GetString(), it->value.GetStringLength());
  return true;
}

// ---- reading a revert record back ----

// Limits of what RevertRecord writes: a command line (the kernel caps it at a few MiB) and the
// environment kept for a restart.
constexpr size_t kMaxRecordBytes = size_t{8} << 20;
constexpr size_t kMaxArgs = 1 << 16;
constexpr size_t kMaxEnvEntries = 4096;
constexpr long kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit Linux

struct RevertFields {
  Action action = Action::kKill;
  pid_t pid = 0;
  uint64_t starttime = 0;
  StopRecord stop;  // action stop only
};

Status BadRecord(const std::string& what) {
  return Status::InvalidArgument("invalid process revert record: " + what);
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

bool AbsolutePath(const std::string& s) { return !s.empty() && s[0] == '/' && !HasNul(s); }

// NAME=VALUE with a name a shell could export: what CaptureForRestart keeps.
bool EnvEntry(const std::string& kv) {
  const size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0 || HasNul(kv)) return false;
  return std::all_of(kv.begin(), kv.begin() + static_cast<std::ptrdiff_t>(eq),
                     [](char c) { return c > ' ' && c < 0x7f; });
}

Result<RevertFields> ReadRevert(const std::string& record) {
  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_bytes = kMaxRecordBytes;
  limits.max_depth = 4;
  if (Status s = ParseJson(record, &doc, limits); !s.ok()) return BadRecord(s.message());
  if (!doc.IsObject()) return BadRecord("not a JSON object");
  RevertFields r;
  std::string action;
  if (!GetString(doc, "action", &action)) return BadRecord("no action");
  if (action == "kill") {
    r.action = Action::kKill;
  } else if (action == "freeze") {
    r.action = Action::kFreeze;
  } else if (action == "stop") {
    r.action = Action::kStop;
  } else {
    return BadRecord("unknown action '" + Truncate(action, 40) + "'");
  }
  auto pid_it = doc.FindMember("pid");
  if (pid_it == doc.MemberEnd() || !pid_it->value.IsInt64()) return BadRecord("pid is no integer");
  const int64_t pid = pid_it->value.GetInt64();
  // pid 1 (init), gameday itself and its ancestors are never targets: Discover leaves them out.
  if (pid <= 1 || pid > kMaxPid) return BadRecord("pid " + std::to_string(pid) + " out of range");
  const std::vector<pid_t> excluded = SelfAndAncestors();
  if (std::find(excluded.begin(), excluded.end(), static_cast<pid_t>(pid)) != excluded.end()) {
    return BadRecord("pid " + std::to_string(pid) + " is gameday itself or one of its parents");
  }
  r.pid = static_cast<pid_t>(pid);
  auto start_it = doc.FindMember("starttime");
  if (start_it == doc.MemberEnd() || !start_it->value.IsUint64()) {
    return BadRecord("starttime is no unsigned integer");
  }
  r.starttime = start_it->value.GetUint64();
  if (r.action == Action::kKill) {
    auto sig = doc.FindMember("signal");
    if (sig == doc.MemberEnd() || !sig->value.IsInt() || sig->value.GetInt() < 1 ||
        sig->value.GetInt() > SIGRTMAX) {
      return BadRecord("signal missing or out of range");
    }
  }
  if (r.action != Action::kStop) return r;

  StopRecord& stop = r.stop;
  if (!GetStringArray(doc, "argv", &stop.argv) || stop.argv.empty() ||
      stop.argv.size() > kMaxArgs || stop.argv[0].empty()) {
    return BadRecord("stop record without a command line (argv)");
  }
  if (std::any_of(stop.argv.begin(), stop.argv.end(), HasNul)) {
    return BadRecord("argv holds a NUL byte");
  }
  if (!GetString(doc, "cwd", &stop.cwd) || !AbsolutePath(stop.cwd)) {
    return BadRecord("stop record without an absolute cwd");
  }
  if (doc.HasMember("exe") &&
      (!GetString(doc, "exe", &stop.exe) || (!stop.exe.empty() && !AbsolutePath(stop.exe)))) {
    return BadRecord("exe is not an absolute path");
  }
  if (!GetStringArray(doc, "env", &stop.env) || stop.env.size() > kMaxEnvEntries) {
    return BadRecord("stop record without an environment (env)");
  }
  for (const std::string& kv : stop.env) {
    if (!EnvEntry(kv)) return BadRecord("env entry " + Truncate(kv, 40) + " is not NAME=VALUE");
  }
  // Absent in records of older versions: nothing known to be missing.
  if (doc.HasMember("dropped_env") && (!GetStringArray(doc, "dropped_env", &stop.dropped_env) ||
                                       stop.dropped_env.size() > kMaxEnvEntries)) {
    return BadRecord("dropped_env is not a list of names");
  }
  if (auto it = doc.FindMember("env_unreadable"); it != doc.MemberEnd()) {
    if (!it->value.IsBool()) return BadRecord("env_unreadable is not a boolean");
    stop.env_unreadable = it->value.GetBool();
  }
  if (auto it = doc.FindMember("stop_timeout_ms"); it != doc.MemberEnd()) {
    if (!it->value.IsInt64() || it->value.GetInt64() < 0 ||
        std::chrono::milliseconds(it->value.GetInt64()) > kMaxStopTimeout) {
      return BadRecord("stop_timeout_ms out of range");
    }
    stop.stop_wait = std::chrono::milliseconds(it->value.GetInt64());
  }
  return r;
}

// ---- the injector ----

class ProcessInjector : public Injector {
 public:
  explicit ProcessInjector(ProcessSpec spec) : spec_(std::move(spec)) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    const std::vector<pid_t> excluded = SelfAndAncestors();
    std::vector<pid_t> candidates;
    if (spec_.match_by == ProcessSpec::MatchBy::kPidFile) {
      auto pid = ReadPidFile();
      if (!pid.ok()) return pid.status();
      candidates.push_back(*pid);
    } else {
      candidates = ListPids();
    }
    std::vector<FaultTarget> targets;
    for (pid_t pid : candidates) {
      if (pid == 1 || std::find(excluded.begin(), excluded.end(), pid) != excluded.end()) continue;
      auto st = ReadProcStat(pid);
      if (!st || st->zombie() || st->kernel_thread()) continue;
      const std::vector<std::string> argv = ReadProcArgv(pid, kMaxMatchedCmdline);
      if (argv.empty()) continue;  // kernel thread, exiting, or hidden from us
      const std::string cmdline = JoinArgs(argv);
      if (!Matches(*st, argv, cmdline)) continue;
      FaultTarget t;
      t.id = "pid:" + std::to_string(pid) + ":" + std::to_string(st->starttime);
      // The display goes to the console, the journal and every report: secrets redacted here,
      // where the command line enters the result.
      const std::string shown = DisplayArgs(argv);
      t.display = "pid " + std::to_string(pid) + " " + Truncate(shown, kMaxDisplayArgs);
      t.attributes["pid"] = std::to_string(pid);
      t.attributes["name"] = Escaped(st->comm);
      t.attributes["cmdline"] = shown;
      targets.push_back(std::move(t));
    }
    return targets;
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    pid_t pid = 0;
    uint64_t starttime = 0;
    if (!ParseTargetId(target.id, &pid, &starttime)) {
      return Status::InvalidArgument("not a process target id: '" + target.id + "'");
    }
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("action");
    w.String(ActionName(spec_.action));
    w.Key("pid");
    w.Int(pid);
    w.Key("starttime");
    w.Uint64(starttime);
    if (spec_.action == Action::kKill) {
      w.Key("signal");
      w.Int(spec_.signal);
    }
    if (spec_.action == Action::kStop) {
      // Captured now, before the process is gone, and refused when the restart could not be
      // faithful: then nothing is injected at all.
      auto rec = CaptureForRestart(pid, starttime);
      if (!rec.ok()) return rec.status();
      w.Key("argv");
      w.StartArray();
      for (const auto& a : rec->argv) PutString(w, a);
      w.EndArray();
      w.Key("exe");
      PutString(w, rec->exe);
      w.Key("cwd");
      PutString(w, rec->cwd);
      w.Key("env");
      w.StartArray();
      for (const auto& e : rec->env) PutString(w, e);
      w.EndArray();
      if (!rec->dropped_env.empty()) {
        w.Key("dropped_env");
        w.StartArray();
        for (const auto& d : rec->dropped_env) PutString(w, d);
        w.EndArray();
      }
      if (rec->env_unreadable) {
        w.Key("env_unreadable");
        w.Bool(true);
      }
      // How long the revert waits for a stop that a killed run left half done.
      w.Key("stop_timeout_ms");
      w.Int64(std::chrono::duration_cast<std::chrono::milliseconds>(spec_.stop_timeout).count());
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    pid_t pid = 0;
    uint64_t start = 0;
    if (!ParseTargetId(target.id, &pid, &start)) {
      return Status::InvalidArgument("not a process target id: '" + target.id + "'");
    }
    Clock& clock = *env.clock;
    const std::string who = "pid " + std::to_string(pid);
    switch (spec_.action) {
      case Action::kKill: {
        Status s = SignalProcess(pid, start, spec_.signal);
        if (!s.ok()) return s;
        if (spec_.signal != SIGKILL) return Status::Ok();  // delivered is all we can confirm
        if (!PollUntil(clock, kConfirmTimeout, [&] { return Gone(pid, start); })) {
          return Status::DeadlineExceeded(who + " still alive " + FormatDuration(kConfirmTimeout) +
                                          " after SIGKILL");
        }
        return Status::Ok();
      }
      case Action::kFreeze: {
        Status s = SignalProcess(pid, start, SIGSTOP);
        if (!s.ok()) return s;
        bool gone = false;
        const bool stopped = PollUntil(clock, kConfirmTimeout, [&] {
          auto st = FindLive(pid, start);
          gone = !st;
          return gone || Stopped(*st);
        });
        if (gone) return Status::NotFound(who + " exited while being frozen");
        if (!stopped) {
          return Status::DeadlineExceeded(who + " not in state T " +
                                          FormatDuration(kConfirmTimeout) + " after SIGSTOP");
        }
        return Status::Ok();
      }
      case Action::kStop: {
        Status s = SignalProcess(pid, start, SIGTERM);
        if (!s.ok()) return s;
        if (PollUntil(clock, spec_.stop_timeout, [&] { return Gone(pid, start); })) {
          return Status::Ok();
        }
        s = SignalProcess(pid, start, SIGKILL);
        if (!s.ok() && s.code() != Status::Code::kNotFound) return s;  // NotFound: it just went
        if (!PollUntil(clock, kConfirmTimeout, [&] { return Gone(pid, start); })) {
          return Status::DeadlineExceeded(who + " still alive after SIGTERM and SIGKILL");
        }
        return Status::Ok();
      }
    }
    return Status::Internal("unknown action");
  }

  bool Reversible() const override { return spec_.action != Action::kKill; }

  std::string DescribeAction(const FaultTarget& target) const override {
    auto it = target.attributes.find("pid");
    const std::string pid = it != target.attributes.end() ? it->second : target.id;
    it = target.attributes.find("cmdline");
    std::string what =
        "pid " + pid +
        (it != target.attributes.end() ? " (" + Truncate(it->second, kMaxDisplayArgs) + ")" : "");
    switch (spec_.action) {
      case Action::kKill:
        return SignalName(spec_.signal) + " " + what;
      case Action::kFreeze:
        return "freeze (SIGSTOP) " + what;
      case Action::kStop:
        return "stop (SIGTERM, SIGKILL after " + FormatDuration(spec_.stop_timeout) +
               ") then restart " + what;
    }
    return what;
  }

 private:
  Result<pid_t> ReadPidFile() const {
    std::ifstream in(spec_.match_value);
    if (!in) {
      return Status::NotFound("cannot read pid file " + spec_.match_value + ": " +
                              std::strerror(errno));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t b = text.find_first_not_of(" \t\r\n");
    const size_t e = text.find_last_not_of(" \t\r\n");
    const std::string digits = b == std::string::npos ? "" : text.substr(b, e - b + 1);
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), ::isdigit) || std::stol(digits) <= 0) {
      return Status::InvalidArgument("pid file " + spec_.match_value + " does not hold a pid: '" +
                                     Truncate(digits, 40) + "'");
    }
    return static_cast<pid_t>(std::stol(digits));
  }

  bool Matches(const ProcStat& st, const std::vector<std::string>& argv,
               const std::string& cmdline) const {
    switch (spec_.match_by) {
      case ProcessSpec::MatchBy::kPidFile:
        return true;
      case ProcessSpec::MatchBy::kName:
        return st.comm == spec_.match_value || Basename(argv[0]) == spec_.match_value;
      case ProcessSpec::MatchBy::kPattern:
        return RE2::PartialMatch(cmdline, *spec_.pattern);
    }
    return false;
  }

  static Result<StopRecord> CaptureForRestart(pid_t pid, uint64_t starttime) {
    const std::string who = "pid " + std::to_string(pid);
    if (!FindLive(pid, starttime)) return Status::NotFound(who + " is gone");
    StopRecord r;
    r.argv = ReadProcArgv(pid);
    if (r.argv.empty()) return Status::NotFound("cannot read the command line of " + who);
    // Revert refuses a record it could not have come from (ReadRevert): refuse it here, before
    // anything is stopped.
    if (r.argv[0].empty()) {
      return Status::FailedPrecondition(who + " has an empty argv[0]: it could not be restarted");
    }
    auto uid = ReadProcUid(pid);
    if (!uid) return Status::NotFound("cannot read the owner of " + who);
    if (*uid != ::geteuid()) {
      return Status::FailedPrecondition(who + " runs as uid " + std::to_string(*uid) +
                                        " but gameday as uid " + std::to_string(::geteuid()) +
                                        ": a restart would run it as the wrong user");
    }
    auto cwd = ReadProcLink(pid, "cwd");
    if (!cwd.ok()) return cwd.status();
    r.cwd = *cwd;
    if (auto exe = ReadProcLink(pid, "exe"); exe.ok()) r.exe = *exe;

    auto environ = ReadProcEnviron(pid);
    std::vector<std::string> vars;
    if (environ.ok()) {
      vars = *environ;
    } else {
      r.env_unreadable = true;
      for (const char* name : {"PATH", "HOME"}) {
        if (const char* v = std::getenv(name)) vars.push_back(std::string(name) + "=" + v);
      }
    }
    size_t total = 0;
    std::set<std::string> seen;
    for (const std::string& kv : vars) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) continue;
      const std::string name = kv.substr(0, eq);
      // A later duplicate is shadowed by the first anyway (getenv returns the first).
      if (!seen.insert(name).second) continue;
      if (!EnvEntry(kv)) {
        r.dropped_env.push_back(name.substr(0, 40) + " (not a NAME=VALUE a record can carry)");
        continue;
      }
      if (IsSecretName(name)) {
        r.dropped_env.push_back(name + " (secret-looking, never written to the journal)");
        continue;
      }
      if (kv.size() - eq - 1 > kMaxEnvValue) {
        r.dropped_env.push_back(name + " (value over " + std::to_string(kMaxEnvValue) + " bytes)");
        continue;
      }
      if (total + kv.size() > kMaxEnvTotal) {
        r.dropped_env.push_back(name + " (environment over " + std::to_string(kMaxEnvTotal) +
                                " bytes)");
        continue;
      }
      total += kv.size();
      r.env.push_back(kv);
    }
    constexpr size_t kMaxDroppedNames = 32;  // keeps the journal line and the note short
    if (r.dropped_env.size() > kMaxDroppedNames) {
      const size_t more = r.dropped_env.size() - kMaxDroppedNames;
      r.dropped_env.resize(kMaxDroppedNames);
      r.dropped_env.push_back("and " + std::to_string(more) + " more");
    }
    // After the read: the process could have been replaced while we looked.
    if (!FindLive(pid, starttime)) return Status::NotFound(who + " is gone");
    return r;
  }

  const ProcessSpec spec_;
};

// ---- the kind ----

class ProcessInjectorKind : public InjectorKind {
 public:
  std::string Name() const override { return kKindName; }

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const size_t errors_before = spec.diagnostics()->size();
    if (!spec.ExpectMap()) return nullptr;
    if (target.kind != "local") {
      spec.Error(
          "the process injector acts on processes of this machine; it needs target kind "
          "'local', not '" +
          target.kind + "'");
    }
    ProcessSpec out;
    ParseMatch(spec, &out);

    const std::string action = spec.Enum("action", {"kill", "freeze", "stop"}, "kill");
    out.action = action == "freeze" ? Action::kFreeze
                 : action == "stop" ? Action::kStop
                                    : Action::kKill;

    SpecNode signal = spec.Child("signal");
    if (signal.defined()) {
      if (out.action != Action::kKill) {
        signal.Error(std::string("signal applies only to action: kill (") +
                     (out.action == Action::kFreeze ? "freeze always sends SIGSTOP"
                                                    : "stop sends SIGTERM, then SIGKILL") +
                     ")");
      } else if (auto text = signal.AsString()) {
        if (auto sig = ParseSignal(*text)) {
          out.signal = *sig;
        } else {
          signal.Error("unknown signal '" + *text +
                       "'; expected a name such as SIGTERM or TERM, or a number from 1 to " +
                       std::to_string(SIGRTMAX));
        }
      }
    }

    SpecNode timeout = spec.Child("stop_timeout");
    if (timeout.defined()) {
      if (out.action != Action::kStop) {
        timeout.Error("stop_timeout applies only to action: stop");
      } else if (auto d = spec.OptDuration("stop_timeout", Duration(0), kMaxStopTimeout)) {
        out.stop_timeout = *d;
      }
    }
    spec.Finish();
    if (spec.diagnostics()->size() > errors_before) return nullptr;
    return std::make_unique<ProcessInjector>(std::move(out));
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    // Every field is checked before anything acts on it: a record that is not what
    // RevertRecord writes is refused (InvalidArgument) and nothing is signalled or started.
    Result<RevertFields> r = ReadRevert(record);
    if (!r.ok()) return r.status();
    const pid_t pid = r->pid;
    const uint64_t start = r->starttime;
    Clock& clock = *env.clock;

    if (r->action == Action::kKill) return Status::Ok();  // nothing to undo
    if (r->action == Action::kFreeze) {
      // A different process now holding the pid is never touched: SignalProcess checks the
      // start time, and a gone or zombie process has nothing left to thaw.
      Status s = SignalProcess(pid, start, SIGCONT);
      if (s.code() == Status::Code::kNotFound) return Status::Ok();
      if (!s.ok()) return s;
      if (!PollUntil(clock, kConfirmTimeout, [&] {
            auto st = FindLive(pid, start);
            return !st || !Stopped(*st);
          })) {
        return Status::DeadlineExceeded("pid " + std::to_string(pid) + " still in state T " +
                                        FormatDuration(kConfirmTimeout) + " after SIGCONT");
      }
      return Status::Ok();
    }
    // A run killed between its SIGTERM and the process's exit leaves the process on its way
    // out: wait for it as the stop would have (records without the field: the default), else
    // it would pass for one already back and the service would stay down once it exits. If
    // it outlives that wait, the stop never took hold and there is nothing to restart.
    if (!PollUntil(clock, r->stop.stop_wait, [&] { return Gone(pid, start); })) {
      return Status::Ok();
    }
    // Already back (a supervisor restarted it, a previous revert did, or it never stopped).
    if (RunningWithArgv(r->stop.argv)) return Status::Ok();
    Status restarted = Restart(r->stop, clock);
    // Only our own restart lacks what the record lacks; a plain "reverted" would hide it.
    if (restarted.ok() && env.revert_note) *env.revert_note = RestartNote(r->stop);
    return restarted;
  }

 private:
  static void ParseMatch(SpecNode& spec, ProcessSpec* out) {
    SpecNode match = spec.Child("match");
    if (!match.defined()) {
      match.Error(
          "required field is missing (expected a map with one of pid_file, name, "
          "pattern)");
      return;
    }
    if (!match.ExpectMap()) return;
    const auto pid_file = match.OptString("pid_file");
    const auto name = match.OptString("name");
    const auto pattern = match.OptString("pattern");
    std::vector<std::string> given;
    if (match.Has("pid_file")) given.emplace_back("pid_file");
    if (match.Has("name")) given.emplace_back("name");
    if (match.Has("pattern")) given.emplace_back("pattern");
    if (given.empty()) {
      match.Error("expected exactly one of pid_file, name, pattern; got none");
    } else if (given.size() > 1) {
      std::string list;
      for (size_t i = 0; i < given.size(); ++i) list += (i ? " and " : "") + given[i];
      match.Error("expected exactly one of pid_file, name, pattern; got " + list);
    } else if (pid_file) {
      if (pid_file->empty()) match.ErrorAt("pid_file", "expected a non-empty path");
      out->match_by = ProcessSpec::MatchBy::kPidFile;
      // Relative to the plan, like every other path in it.
      out->match_value = (*pid_file)[0] == '/' || pid_file->empty()
                             ? *pid_file
                             : DirName(spec.file()) + "/" + *pid_file;
    } else if (name) {
      if (name->empty()) match.ErrorAt("name", "expected a non-empty process name");
      if (name->find('/') != std::string::npos) {
        match.ErrorAt("name", "a process name has no '/'; use pattern to match a path");
      }
      out->match_by = ProcessSpec::MatchBy::kName;
      out->match_value = *name;
    } else if (pattern) {
      out->match_by = ProcessSpec::MatchBy::kPattern;
      out->match_value = *pattern;
      if (pattern->empty()) {
        match.ErrorAt("pattern", "expected a non-empty regular expression");
      } else {
        RE2::Options options;
        options.set_log_errors(false);  // the error goes into the diagnostic instead
        auto re = std::make_shared<const RE2>(*pattern, options);
        if (re->ok()) {
          out->pattern = std::move(re);
        } else {
          match.ErrorAt("pattern", "invalid regular expression (RE2 syntax) '" + *pattern +
                                       "': " + re->error());
        }
      }
    }
    match.Finish();
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakeProcessInjectorKind() {
  return std::make_unique<ProcessInjectorKind>();
}

}  // namespace gameday

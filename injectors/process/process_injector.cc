#include "injectors/process/process_injector.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
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
#include <regex>
#include <set>
#include <sstream>

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
  std::string match_value;  // the pid file path (absolute), the name or the pattern text
  std::regex pattern;
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
};

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
    return Status::Internal("cannot restart '" + JoinArgs(r.argv) + "' from " + *exe + " in " +
                            r.cwd + ": " + std::strerror(rc));
  }
  clock.SleepFor(kRestartGrace, {});
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
    std::string how = WIFEXITED(wstatus)
                          ? "exited with status " + std::to_string(WEXITSTATUS(wstatus))
                          : "died of " + SignalName(WTERMSIG(wstatus));
    return Status::Internal("restarted '" + JoinArgs(r.argv) + "' (pid " + std::to_string(pid) +
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
      const std::vector<std::string> argv = ReadProcArgv(pid);
      if (argv.empty()) continue;  // kernel thread, exiting, or hidden from us
      const std::string cmdline = JoinArgs(argv);
      if (!Matches(*st, argv, cmdline)) continue;
      FaultTarget t;
      t.id = "pid:" + std::to_string(pid) + ":" + std::to_string(st->starttime);
      t.display = "pid " + std::to_string(pid) + " " + Truncate(cmdline, kMaxDisplayArgs);
      t.attributes["pid"] = std::to_string(pid);
      t.attributes["name"] = st->comm;
      t.attributes["cmdline"] = cmdline;
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
        return std::regex_search(cmdline, spec_.pattern);
    }
    return false;
  }

  static Result<StopRecord> CaptureForRestart(pid_t pid, uint64_t starttime) {
    const std::string who = "pid " + std::to_string(pid);
    if (!FindLive(pid, starttime)) return Status::NotFound(who + " is gone");
    StopRecord r;
    r.argv = ReadProcArgv(pid);
    if (r.argv.empty()) return Status::NotFound("cannot read the command line of " + who);
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
      if (IsSecretName(name) || !seen.insert(name).second) continue;
      if (kv.size() - eq - 1 > kMaxEnvValue || total + kv.size() > kMaxEnvTotal) continue;
      total += kv.size();
      r.env.push_back(kv);
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
    rapidjson::Document doc;
    doc.Parse(record.data(), record.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return Status::InvalidArgument("process revert record is not a JSON object: " +
                                     Truncate(record, 200));
    }
    std::string action;
    auto pid_it = doc.FindMember("pid");
    auto start_it = doc.FindMember("starttime");
    if (!GetString(doc, "action", &action) || pid_it == doc.MemberEnd() || !pid_it->value.IsInt() ||
        start_it == doc.MemberEnd() || !start_it->value.IsUint64()) {
      return Status::InvalidArgument("process revert record lacks action, pid or starttime: " +
                                     Truncate(record, 200));
    }
    const pid_t pid = pid_it->value.GetInt();
    const uint64_t start = start_it->value.GetUint64();
    Clock& clock = *env.clock;

    if (action == "kill") return Status::Ok();  // nothing to undo
    if (action == "freeze") {
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
    if (action == "stop") {
      StopRecord r;
      if (!GetStringArray(doc, "argv", &r.argv) || r.argv.empty() ||
          !GetString(doc, "cwd", &r.cwd) || !GetStringArray(doc, "env", &r.env)) {
        return Status::InvalidArgument("process stop record lacks argv, cwd or env: " +
                                       Truncate(record, 200));
      }
      GetString(doc, "exe", &r.exe);
      // A run killed between its SIGTERM and the process's exit leaves the process on its way
      // out: wait for it as the stop would have (records without the field: the default), else
      // it would pass for one already back and the service would stay down once it exits. If
      // it outlives that wait, the stop never took hold and there is nothing to restart.
      Duration wait = ProcessSpec{}.stop_timeout;
      if (auto it = doc.FindMember("stop_timeout_ms");
          it != doc.MemberEnd() && it->value.IsInt64() && it->value.GetInt64() >= 0) {
        wait = std::min<Duration>(std::chrono::milliseconds(it->value.GetInt64()), kMaxStopTimeout);
      }
      if (!PollUntil(clock, wait, [&] { return Gone(pid, start); })) return Status::Ok();
      // Already back (a supervisor restarted it, or a previous revert did).
      if (RunningWithArgv(r.argv)) return Status::Ok();
      return Restart(r, clock);
    }
    return Status::InvalidArgument("unknown process action '" + action + "' in revert record");
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
        try {
          out->pattern = std::regex(*pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          match.ErrorAt("pattern", "invalid regular expression '" + *pattern + "': " + e.what());
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

#include "injectors/host_service/host_service.h"

#include <algorithm>

#include "clients/ssh/remote_shell.h"

namespace gameday {
namespace {

const char* ManagerName(ServiceManager m) {
  switch (m) {
    case ServiceManager::kSystemd:
      return "systemd";
    case ServiceManager::kRunit:
      return "runit";
    case ServiceManager::kProcess:
      return "process";
    case ServiceManager::kStaticPod:
      return "static_pod";
  }
  return "?";
}

std::string Q(const std::string& s) { return ShellQuote(s); }

long long Secs(Duration d) { return std::max<long long>(1, static_cast<long long>(ToSeconds(d))); }

std::string StashDir(const HostService& s) {
  if (!s.stash_dir.empty()) return s.stash_dir;
  std::string dir = s.manifest_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return (slash == std::string::npos || slash == 0 ? std::string() : dir.substr(0, slash)) +
         "/gameday-stash";
}

std::string Describe(const HostService& s) {
  switch (s.manager) {
    case ServiceManager::kSystemd:
      return "systemd unit " + s.unit_or_dir;
    case ServiceManager::kRunit:
      return "runit service " + s.unit_or_dir;
    case ServiceManager::kProcess:
      return "process " +
             (s.pid_file.empty() ? "named " + s.process_name : "of pid file " + s.pid_file);
    case ServiceManager::kStaticPod:
      return "static pod " + s.manifest + " (in " + s.manifest_dir + ")";
  }
  return "?";
}

// Where the stop of a process records the pids it signals and their start times (read by the
// revert and the on-host expiry): in the host's gameday state dir, next to the expiry timer's pid
// file and named after the same fault marker, whether or not the timer is used.
constexpr char kStoppedSuffix[] = ".stopped";

std::string StoppedFile(const OnHostExpiry& e) {
  // MakeExpiry's pid_file is <state_dir>/<marker>.pid.
  return e.pid_file.substr(0, e.pid_file.size() - 4) + kStoppedSuffix;
}

// Only what StoppedFile makes: a path ending in /<valid marker>.stopped (the state dir is a host
// var, taken as the expiry's pid file takes it; the path is quoted wherever it is used).
bool ValidStoppedFile(const std::string& f) {
  const size_t slash = f.rfind('/');
  const size_t suffix = sizeof(kStoppedSuffix) - 1;
  if (slash == std::string::npos || f.size() > 4096 || HasControlChar(f) ||
      f.size() < slash + 1 + suffix || f.compare(f.size() - suffix, suffix, kStoppedSuffix) != 0) {
    return false;
  }
  return ValidExpiryMarker(f.substr(slash + 1, f.size() - suffix - slash - 1));
}

bool RecordsSignalled(const HostService& s) {
  return s.manager == ServiceManager::kProcess && !s.freeze;
}

// ---- shell for the host ----

// Sets $gd_seen (the checked pids of the pid file or name), $gd_pids (those we may signal: never
// pid 1, this session and its parents, sshd, a kernel thread or a gameday timer), $gd_skipped and
// $gd_bad (remote_shell.h).
std::string PidsScript(const HostService& s) {
  return s.pid_file.empty() ? PidsFromNameScript(s.process_name) : PidsFromFileScript(s.pid_file);
}

// Fails the script with `code` when the pid file holds something else than a pid.
std::string FailIfBadPidFile(int code) {
  return "if [ -n \"$gd_bad\" ]; then printf '%s\\n' \"$gd_bad\" >&2; exit " +
         std::to_string(code) + "; fi\n";
}

std::string Fail(const std::string& message, int code) {
  return "{ echo " + Q(message) + " >&2; exit " + std::to_string(code) + "; }";
}

// Refuses to act when the service is not running: the revert would otherwise start something
// that was meant to be down.
std::string PreCheckScript(const HostService& s) {
  const std::string what = Describe(s);
  switch (s.manager) {
    case ServiceManager::kSystemd:
      return "systemctl is-active --quiet -- " + Q(s.unit_or_dir) + " || " +
             Fail(what + " is not active; nothing to stop", 3) + "\n";
    case ServiceManager::kRunit:
      return "gd_st=$(sv status " + Q(s.unit_or_dir) +
             " 2>&1) || { echo \"$gd_st\" >&2; exit 3; }\n"
             "case \"$gd_st\" in run:*) ;; *) printf '%s is not running (%s); nothing to "
             "stop\\n' " +
             Q(what) + " \"$gd_st\" >&2; exit 3;; esac\n";
    case ServiceManager::kProcess:
      return PidShellFunctions() + PidsScript(s) + FailIfBadPidFile(3) +
             "if [ -n \"$gd_skipped\" ] && [ -z \"$gd_pids\" ]; then printf '%s: refusing to "
             "signal pid %s: pid 1, this SSH session or its parents, sshd, a kernel thread or a "
             "gameday timer\\n' " +
             Q(what) + " \"$gd_skipped\" >&2; exit 3; fi\n" + "gd_alive $gd_pids || " +
             Fail("no live " + what + "; nothing to stop", 3) + "\n";
    case ServiceManager::kStaticPod:
      return "[ -f " + Q(s.manifest_dir + "/" + s.manifest) + " ] || " +
             Fail(what + ": manifest not found; nothing to stop", 3) + "\n";
  }
  return "";
}

// Polls `sv status` until the service is in `state` (run or down), at most `timeout`.
std::string RunitWait(const HostService& s, const std::string& state, Duration timeout) {
  const std::string d = Q(s.unit_or_dir);
  return "gd_i=0\nuntil gd_st=$(sv status " + d + " 2>&1) && case \"$gd_st\" in " + state +
         ":*) true;; *) false;; esac; do\n  gd_i=$((gd_i+1))\n  [ $gd_i -le " +
         std::to_string(Secs(timeout) * 50) + " ] || { printf '%s: not " + state +
         " after %ss: %s\\n' " + Q(Describe(s)) + " " + std::to_string(Secs(timeout)) +
         " \"$gd_st\" >&2; exit 4; }\n  sleep 0.02\ndone\n";
}

// `stopped_file`: where the process manager's stop records what it signals (StoppedFile).
std::string StopScript(const HostService& s, const std::string& signal, Duration timeout,
                       const std::string& stopped_file) {
  const std::string t = std::to_string(Secs(timeout));
  const std::string what = Describe(s);
  switch (s.manager) {
    case ServiceManager::kSystemd: {
      const std::string u = Q(s.unit_or_dir);
      std::string sh;
      if (signal == "KILL") sh += "systemctl kill --signal=KILL -- " + u + "\n";
      sh += "systemctl stop -- " + u + "\n";
      return sh + "if systemctl is-active --quiet -- " + u + "; then " +
             Fail(what + " is still active after the stop", 4) + "; fi\n";
    }
    case ServiceManager::kRunit: {
      const std::string d = Q(s.unit_or_dir);
      std::string sh;
      if (signal == "KILL") {
        // `once` keeps runsv from restarting the killed process; `down` then records the
        // wanted state, so the service stays down until the revert's `sv up`.
        sh += "sv once " + d + " >/dev/null\nsv kill " + d + " >/dev/null\n";
      }
      // Our own 20 ms poll instead of `sv -w`, which looks only every 420 ms: the moment the
      // stop is confirmed is t_inject, the origin of every recovery number.
      return sh + "sv down " + d + " >/dev/null\n" + RunitWait(s, "down", timeout);
    }
    case ServiceManager::kProcess: {
      const std::string sig = s.freeze ? "STOP" : signal;
      // Recorded before the signal: a run killed after it leaves the revert the processes
      // to wait for (a freeze is undone by SIGCONT, whatever state the process is in).
      std::string sh =
          (s.freeze ? "" : RecordSignalledScript(stopped_file, 4)) + "kill -" + sig + " $gd_pids\n";
      if (s.freeze) {
        return sh +
               "gd_frozen() { for gd_p in $gd_pids; do case \"$(sed 's/.*) //' /proc/$gd_p/stat "
               "2>/dev/null | cut -c1)\" in T|t|Z|'') ;; *) return 1;; esac; done; return 0; }\n"
               "gd_i=0; until gd_frozen; do gd_i=$((gd_i+1)); [ $gd_i -le 50 ] || " +
               Fail(what + " did not stop after SIGSTOP", 4) + "; sleep 0.1; done\n";
      }
      return sh + "gd_i=0; while gd_alive $gd_pids; do gd_i=$((gd_i+1)); [ $gd_i -le " + t +
             "0 ] || " + Fail(what + " still alive " + t + "s after SIG" + sig, 4) +
             "; sleep 0.1; done\n";
    }
    case ServiceManager::kStaticPod: {
      const std::string stash = StashDir(s);
      return "mkdir -p " + Q(stash) + "\nmv -f " + Q(s.manifest_dir + "/" + s.manifest) + " " +
             Q(stash + "/" + s.manifest) + "\n";
    }
  }
  return "";
}

// Starts the service again; idempotent (a running service, or a never-stopped one, is fine).
// `stopped_file` (process manager; "" for records written before it existed) lists the processes
// the stop signalled.
std::string StartScript(const HostService& s, Duration timeout, const std::string& stopped_file) {
  const std::string t = std::to_string(Secs(timeout));
  const std::string what = Describe(s);
  switch (s.manager) {
    case ServiceManager::kSystemd:
      return "systemctl start -- " + Q(s.unit_or_dir) + "\n";
    case ServiceManager::kRunit:
      return "sv up " + Q(s.unit_or_dir) + " >/dev/null\n" + RunitWait(s, "run", timeout);
    case ServiceManager::kProcess:
      // A pid file that holds no pid leaves nothing to continue (the stop refused it too).
      if (s.freeze) {
        return PidShellFunctions() + PidsScript(s) +
               "[ -z \"$gd_pids\" ] || kill -CONT $gd_pids 2>/dev/null || true\n";
      }
      // A run killed between its signal and the process's exit leaves the process on its way
      // out: wait for it as the stop would have, else it would pass for one already running and
      // the service would stay down once it exits. Whoever outlives the wait never stopped.
      // Running is judged on every pid seen, protected or not: only a stopped service starts.
      // A pid file holding something else than a pid starts nothing: a second copy might.
      return PidShellFunctions() +
             (stopped_file.empty() ? "" : WaitForSignalledScript(stopped_file, Secs(timeout))) +
             PidsScript(s) + FailIfBadPidFile(5) +
             "if ! gd_alive $gd_seen; then\n  setsid nohup sh -c " + Q(s.start) +
             " </dev/null >/dev/null 2>&1 &\n  gd_i=0\n  while :; do\n    " + PidsScript(s) +
             "    gd_alive $gd_seen && break\n    gd_i=$((gd_i+1)); [ $gd_i -le " + t + "0 ] || " +
             Fail("the start command did not bring back " + what + " within " + t + "s", 4) +
             "\n    sleep 0.1\n  done\nfi\n" +
             (stopped_file.empty() ? "" : "rm -f -- " + Q(stopped_file) + "\n");
    case ServiceManager::kStaticPod: {
      const std::string live = Q(s.manifest_dir + "/" + s.manifest);
      const std::string stashed = Q(StashDir(s) + "/" + s.manifest);
      return "if [ -f " + stashed + " ]; then\n  if [ -e " + live + " ]; then " +
             Fail("both " + s.manifest_dir + "/" + s.manifest + " and its stashed copy exist; " +
                      "left both for a person to decide",
                  5) +
             "; fi\n  mv -f " + stashed + " " + live + "\nelif [ ! -f " + live + " ]; then " +
             Fail("manifest " + s.manifest + " is neither in " + s.manifest_dir + " nor stashed",
                  5) +
             "; fi\n";
    }
  }
  return "";
}

// The service's string fields the scripts use, with their plan names.
std::vector<std::pair<std::string, std::string HostService::*>> UsedFields(const HostService& s) {
  switch (s.manager) {
    case ServiceManager::kSystemd:
      return {{"service.systemd", &HostService::unit_or_dir}};
    case ServiceManager::kRunit:
      return {{"service.runit", &HostService::unit_or_dir}};
    case ServiceManager::kProcess:
      return {{"service.process.name", &HostService::process_name},
              {"service.process.pid_file", &HostService::pid_file},
              {"service.process.start", &HostService::start}};
    case ServiceManager::kStaticPod:
      return {{"service.static_pod.manifest", &HostService::manifest},
              {"service.static_pod.dir", &HostService::manifest_dir},
              {"service.static_pod.stash_dir", &HostService::stash_dir}};
  }
  return {};
}

// What is wrong with `value` as the final value of `field` (a UsedFields name); "" = fine. These
// values go into root shell scripts: a unit or runit service must not read as an option, a
// process name must be one pgrep matches literally, a manifest must stay in its folder.
std::string ValueProblem(const std::string& field, const std::string& value) {
  if (field == "service.systemd" || field == "service.runit") return OperandProblem(value);
  if (field == "service.process.name") return value.empty() ? "" : ProcessNameProblem(value);
  if (field == "service.process.pid_file") return value.empty() ? "" : AbsolutePathProblem(value);
  if (field == "service.static_pod.manifest") return FileNameProblem(value);
  if (field == "service.static_pod.dir") return AbsolutePathProblem(value);
  if (field == "service.static_pod.stash_dir") {
    return value.empty() ? "" : AbsolutePathProblem(value);
  }
  return ShellValueProblem(value);
}

Result<HostService> Resolve(const HostService& t, const InventoryHost& host) {
  HostService r = t;
  for (const auto& [field, member] : UsedFields(r)) {
    Result<std::string> v = ExpandHostVars(r.*member, host, field);
    if (!v.ok()) return v.status();
    // Checked after the expansion: an inventory var must not take a value anywhere the plan
    // could not have written it.
    if (std::string problem = ValueProblem(field, *v); !problem.empty()) {
      return Status::InvalidArgument(field + " '" + t.*member + "' on host " + host.name + ": " +
                                     problem);
    }
    r.*member = *v;
  }
  return r;
}

void WriteService(JsonWriter& w, const HostService& s) {
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str());
  };
  str("manager", ManagerName(s.manager));
  str("unit_or_dir", s.unit_or_dir);
  str("process_name", s.process_name);
  str("pid_file", s.pid_file);
  str("start", s.start);
  w.Key("freeze");
  w.Bool(s.freeze);
  str("manifest", s.manifest);
  str("manifest_dir", s.manifest_dir);
  str("stash_dir", s.stash_dir);
}

// Reads the service back from a revert record, checking every field against what Resolve can
// produce, so a record gameday could not have written is refused (InvalidArgument) before any
// script is built from it.
Result<HostService> ReadService(const rapidjson::Value& o, const std::string& kind) {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument(kind + ": invalid revert record: " + what);
  };
  bool ok = true;
  auto str = [&](const char* k) -> std::string {
    auto it = o.FindMember(k);
    if (it == o.MemberEnd()) return "";
    if (!it->value.IsString()) {
      ok = false;
      return "";
    }
    std::string v(it->value.GetString(), it->value.GetStringLength());
    // Values are shell-quoted where they are used; a NUL would cut a script short.
    if (v.find('\0') != std::string::npos || v.size() > 65536) ok = false;
    return v;
  };
  HostService s;
  const std::string m = str("manager");
  if (m == "systemd") {
    s.manager = ServiceManager::kSystemd;
  } else if (m == "runit") {
    s.manager = ServiceManager::kRunit;
  } else if (m == "process") {
    s.manager = ServiceManager::kProcess;
  } else if (m == "static_pod") {
    s.manager = ServiceManager::kStaticPod;
  } else {
    return bad("unknown manager '" + m.substr(0, 40) + "'");
  }
  s.unit_or_dir = str("unit_or_dir");
  s.process_name = str("process_name");
  s.pid_file = str("pid_file");
  s.start = str("start");
  auto freeze = o.FindMember("freeze");
  if (freeze != o.MemberEnd() && !freeze->value.IsBool()) ok = false;
  s.freeze = freeze != o.MemberEnd() && freeze->value.IsBool() && freeze->value.GetBool();
  s.manifest = str("manifest");
  s.manifest_dir = str("manifest_dir");
  s.stash_dir = str("stash_dir");
  if (!ok) return bad("a field is not a string (or holds a NUL byte)");
  // A journal is input too: a record gets the checks a plan gets.
  for (const auto& [field, member] : UsedFields(s)) {
    if (std::string problem = ValueProblem(field, s.*member); !problem.empty()) {
      return bad(std::string(field) + ": " + problem);
    }
  }
  switch (s.manager) {
    case ServiceManager::kSystemd:
    case ServiceManager::kRunit:
      if (s.unit_or_dir.empty() || HasControlChar(s.unit_or_dir)) {
        return bad("no valid unit or service directory");
      }
      break;
    case ServiceManager::kProcess:
      if (s.process_name.empty() == s.pid_file.empty()) {
        return bad("expected exactly one of process_name and pid_file");
      }
      if (HasControlChar(s.process_name) || HasControlChar(s.pid_file)) {
        return bad("process_name or pid_file holds a control character");
      }
      if (!s.freeze && s.start.empty()) return bad("a stopped process without a start command");
      break;
    case ServiceManager::kStaticPod:
      if (s.manifest.empty() || s.manifest == "." || s.manifest == ".." ||
          s.manifest.find('/') != std::string::npos || HasControlChar(s.manifest)) {
        return bad("manifest is not a file name");
      }
      if (s.manifest_dir.empty() || HasControlChar(s.manifest_dir) || HasControlChar(s.stash_dir)) {
        return bad("no valid manifest dir");
      }
      break;
  }
  return s;
}

void ParseService(SpecNode& spec, HostService* out, const HostService* default_service) {
  SpecNode svc = spec.Child("service");
  if (!svc.defined() && default_service != nullptr) {
    *out = *default_service;
    return;
  }
  const char* kChoices =
      "systemd: UNIT, runit: SERVICE_DIR, process: {name | pid_file, ...} or "
      "static_pod: {manifest, dir}";
  if (!svc.defined()) {
    svc.Error(std::string("required field is missing (expected one of ") + kChoices + ")");
    return;
  }
  if (!svc.ExpectMap()) return;
  int count = 0;
  for (const std::string& k : svc.Keys()) {
    if (k == "systemd" || k == "runit" || k == "process" || k == "static_pod") ++count;
  }
  if (count != 1) {
    svc.Error(std::string("expected exactly one of ") + kChoices);
  }
  // A value without templates is checked now; one with templates once it is expanded for each
  // host (Resolve, at discovery, before anything is done).
  auto check = [](SpecNode& node, const std::string& key, const std::string& value,
                  const std::string& field) {
    if (std::string problem = CheckTemplate(value); !problem.empty()) {
      node.ErrorAt(key, problem);
    } else if (!value.empty() && value.find("{{") == std::string::npos) {
      if (std::string bad = ValueProblem(field, value); !bad.empty()) node.ErrorAt(key, bad);
    } else if (field == "service.static_pod.manifest" && value.find('/') != std::string::npos) {
      node.ErrorAt(key, "expected a file name inside the folder, not the path '" + value + "'");
    }
  };
  if (svc.Has("systemd")) {
    out->manager = ServiceManager::kSystemd;
    out->unit_or_dir = svc.RequiredString("systemd");
    check(svc, "systemd", out->unit_or_dir, "service.systemd");
  } else if (svc.Has("runit")) {
    out->manager = ServiceManager::kRunit;
    out->unit_or_dir = svc.RequiredString("runit");
    check(svc, "runit", out->unit_or_dir, "service.runit");
  } else if (svc.Has("process")) {
    out->manager = ServiceManager::kProcess;
    SpecNode p = svc.Child("process");
    if (p.ExpectMap()) {
      out->process_name = p.String("name", "");
      out->pid_file = p.String("pid_file", "");
      if (out->process_name.empty() == out->pid_file.empty()) {
        p.Error(
            "expected exactly one of name (the process name, as pgrep -x matches it) or "
            "pid_file");
      }
      out->freeze = p.Bool("freeze", false);
      out->start = p.String("start", "");
      if (!out->freeze && out->start.empty()) {
        p.ErrorAt("start",
                  "a stopped process needs `start` (the command that starts it again on "
                  "revert), or freeze: true to pause it with SIGSTOP instead");
      }
      if (out->freeze && !out->start.empty()) {
        p.ErrorAt("start", "not used with freeze: true (the revert sends SIGCONT)");
      }
      check(p, "name", out->process_name, "service.process.name");
      check(p, "pid_file", out->pid_file, "service.process.pid_file");
      check(p, "start", out->start, "service.process.start");
      p.Finish();
    }
  } else if (svc.Has("static_pod")) {
    out->manager = ServiceManager::kStaticPod;
    SpecNode sp = svc.Child("static_pod");
    if (sp.ExpectMap()) {
      out->manifest = sp.RequiredString("manifest");
      out->manifest_dir = sp.String("dir", out->manifest_dir);
      out->stash_dir = sp.String("stash_dir", "");
      check(sp, "manifest", out->manifest, "service.static_pod.manifest");
      check(sp, "dir", out->manifest_dir, "service.static_pod.dir");
      check(sp, "stash_dir", out->stash_dir, "service.static_pod.stash_dir");
      sp.Finish();
    }
  }
  svc.Finish();
}

constexpr Duration kSshSlack = std::chrono::seconds(15);

}  // namespace

void ParseServiceFault(SpecNode& spec, ServiceFault* out, const HostService* default_service) {
  ParseService(spec, &out->service, default_service);
  SpecNode signal_node = spec.Child("signal");
  out->signal = spec.Enum("signal", {"TERM", "KILL"}, "TERM");
  if (signal_node.defined() && out->service.freeze) {
    spec.ErrorAt("signal", "not used with process.freeze: true (a freeze is SIGSTOP)");
  }
  if (signal_node.defined() && out->service.manager == ServiceManager::kStaticPod) {
    spec.ErrorAt("signal", "not used with static_pod (the kubelet stops the pod its own way)");
  }
  out->on_host_expiry = spec.Bool("on_host_expiry", true);
  out->expiry_margin = spec.DurationField("expiry_margin", out->expiry_margin,
                                          std::chrono::seconds(1), std::chrono::hours(24));
  out->stop_timeout = spec.DurationField("stop_timeout", out->stop_timeout, std::chrono::seconds(1),
                                         std::chrono::minutes(10));
}

std::string DescribeService(const HostService& s) { return Describe(s); }

std::string DescribeServiceFault(const ServiceFault& f, const HostService& resolved,
                                 const std::string& where) {
  const std::string how = f.service.freeze     ? "freeze (SIGSTOP)"
                          : f.signal == "KILL" ? "kill (SIGKILL) and stop"
                                               : "stop";
  std::string d = how + " " + Describe(resolved) + " on " + where + " over SSH; revert starts it";
  if (f.on_host_expiry) {
    d += "; on-host expiry after the fault's duration + " + FormatDuration(f.expiry_margin);
  }
  return d;
}

Result<HostService> ResolveHostService(const HostService& t, const InventoryHost& host) {
  return Resolve(t, host);
}

void WriteServiceRevert(JsonWriter& w, const ServiceFault& f, const HostService& resolved,
                        const OnHostExpiry& expiry) {
  WriteService(w, resolved);
  if (RecordsSignalled(resolved)) {
    w.Key("stopped_file");
    w.String(StoppedFile(expiry).c_str());
  }
  w.Key("stop_timeout_ms");
  w.Int64(std::chrono::duration_cast<std::chrono::milliseconds>(f.stop_timeout).count());
  if (f.on_host_expiry) expiry.Write(w);
}

std::string StopServiceScript(const ServiceFault& f, const HostService& resolved,
                              const OnHostExpiry& expiry, Duration duration,
                              const std::string& before_stop, const std::string& before_start) {
  const std::string stopped = RecordsSignalled(resolved) ? StoppedFile(expiry) : "";
  std::string script = "set -e\n" + PreCheckScript(resolved);
  if (f.on_host_expiry) {
    // The timer goes in before the fault, so the fault never exists without its expiry.
    script += StartExpiryScript(expiry, duration + f.expiry_margin,
                                before_start + StartScript(resolved, f.stop_timeout, stopped));
  }
  return script + before_stop + StopScript(resolved, f.signal, f.stop_timeout, stopped);
}

Duration StopServiceTimeout(const ServiceFault& f) { return f.stop_timeout + kSshSlack; }

Result<ServiceRevert> ReadServiceRevert(const rapidjson::Value& doc, const std::string& kind) {
  if (!doc.IsObject()) {
    return Status::InvalidArgument(kind + ": invalid revert record: not a JSON object");
  }
  Result<HostService> s = ReadService(doc, kind);
  if (!s.ok()) return s.status();
  Duration stop_timeout = std::chrono::seconds(20);
  auto it = doc.FindMember("stop_timeout_ms");
  if (it != doc.MemberEnd()) {
    // Parse allows 1 s to 10 min.
    if (!it->value.IsInt64() || it->value.GetInt64() <= 0 ||
        it->value.GetInt64() > int64_t{10} * 60 * 1000) {
      return Status::InvalidArgument(kind +
                                     ": invalid revert record: stop_timeout_ms out of range");
    }
    stop_timeout = std::chrono::milliseconds(it->value.GetInt64());
  }
  // Records from before the field have none: their revert waits for nothing, as it used to.
  std::string stopped;
  if (auto f = doc.FindMember("stopped_file"); f != doc.MemberEnd()) {
    if (!f->value.IsString() ||
        !ValidStoppedFile(stopped.assign(f->value.GetString(), f->value.GetStringLength())) ||
        !RecordsSignalled(*s)) {
      return Status::InvalidArgument(kind +
                                     ": invalid revert record: stopped_file is not one gameday "
                                     "makes (<state dir>/gameday-expiry-<12 hex>.stopped, for "
                                     "a stopped process only)");
    }
  }
  ServiceRevert r;
  r.service = *s;
  r.script = StartScript(*s, stop_timeout, stopped);
  // The script may wait for a dying process, then for the started one: a stop timeout each.
  r.timeout = 2 * stop_timeout + kSshSlack;
  return r;
}

}  // namespace gameday

#include "injectors/service_stop/service_stop_injector.h"

#include <random>

#include "clients/ssh/inventory.h"
#include "clients/ssh/ssh_fault.h"

namespace gameday {
namespace {

using std::chrono::seconds;

constexpr char kKind[] = "service-stop";
constexpr Duration kSshSlack = seconds(15);

enum class Manager { kSystemd, kRunit, kProcess, kStaticPod };

const char* ManagerName(Manager m) {
  switch (m) {
    case Manager::kSystemd:
      return "systemd";
    case Manager::kRunit:
      return "runit";
    case Manager::kProcess:
      return "process";
    case Manager::kStaticPod:
      return "static_pod";
  }
  return "?";
}

// What to stop. String fields may hold {{var}} templates until resolved for one host.
struct Service {
  Manager manager = Manager::kRunit;
  std::string unit_or_dir;  // systemd unit or runit service directory
  std::string process_name;
  std::string pid_file;
  std::string start;  // process: the command that starts it again after a stop
  bool freeze = false;
  std::string manifest;
  std::string manifest_dir = "/etc/kubernetes/manifests";
  std::string stash_dir;  // empty = <manifest_dir>/../gameday-stash
};

struct Spec {
  std::string hosts;
  Service service;
  std::string signal = "TERM";
  bool on_host_expiry = true;
  Duration expiry_margin = seconds(30);
  Duration stop_timeout = seconds(20);
};

std::string Q(const std::string& s) { return ShellQuote(s); }

long long Secs(Duration d) { return std::max<long long>(1, static_cast<long long>(ToSeconds(d))); }

std::string StashDir(const Service& s) {
  if (!s.stash_dir.empty()) return s.stash_dir;
  std::string dir = s.manifest_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return (slash == std::string::npos || slash == 0 ? std::string() : dir.substr(0, slash)) +
         "/gameday-stash";
}

std::string Describe(const Service& s) {
  switch (s.manager) {
    case Manager::kSystemd:
      return "systemd unit " + s.unit_or_dir;
    case Manager::kRunit:
      return "runit service " + s.unit_or_dir;
    case Manager::kProcess:
      return "process " +
             (s.pid_file.empty() ? "named " + s.process_name : "of pid file " + s.pid_file);
    case Manager::kStaticPod:
      return "static pod " + s.manifest + " (in " + s.manifest_dir + ")";
  }
  return "?";
}

// ---- shell for the host ----

// Sets $gd_pids and defines gd_alive (true while any of them lives and is no zombie).
std::string PidsScript(const Service& s) {
  std::string sh =
      "gd_alive() { for gd_p in $gd_pids; do if [ -r /proc/$gd_p/stat ] && "
      "[ \"$(sed 's/.*) //' /proc/$gd_p/stat | cut -c1)\" != Z ]; then return 0; fi; done; "
      "return 1; }\n";
  if (!s.pid_file.empty()) {
    sh += "gd_pids=$(tr -cd '0-9 \\n' < " + Q(s.pid_file) + " 2>/dev/null || true)\n";
  } else {
    sh += "gd_pids=$(pgrep -x " + Q(s.process_name) + " || true)\n";
  }
  return sh;
}

std::string Fail(const std::string& message, int code) {
  return "{ echo " + Q(message) + " >&2; exit " + std::to_string(code) + "; }";
}

// Refuses to act when the service is not running: the revert would otherwise start something
// that was meant to be down.
std::string PreCheckScript(const Service& s) {
  const std::string what = Describe(s);
  switch (s.manager) {
    case Manager::kSystemd:
      return "systemctl is-active --quiet " + Q(s.unit_or_dir) + " || " +
             Fail(what + " is not active; nothing to stop", 3) + "\n";
    case Manager::kRunit:
      return "gd_st=$(sv status " + Q(s.unit_or_dir) +
             " 2>&1) || { echo \"$gd_st\" >&2; exit 3; }\n"
             "case \"$gd_st\" in run:*) ;; *) printf '%s is not running (%s); nothing to "
             "stop\\n' " +
             Q(what) + " \"$gd_st\" >&2; exit 3;; esac\n";
    case Manager::kProcess:
      return PidsScript(s) + "gd_alive || " + Fail("no live " + what + "; nothing to stop", 3) +
             "\n";
    case Manager::kStaticPod:
      return "[ -f " + Q(s.manifest_dir + "/" + s.manifest) + " ] || " +
             Fail(what + ": manifest not found; nothing to stop", 3) + "\n";
  }
  return "";
}

// Polls `sv status` until the service is in `state` (run or down), at most `timeout`.
std::string RunitWait(const Service& s, const std::string& state, Duration timeout) {
  const std::string d = Q(s.unit_or_dir);
  return "gd_i=0\nuntil gd_st=$(sv status " + d + " 2>&1) && case \"$gd_st\" in " + state +
         ":*) true;; *) false;; esac; do\n  gd_i=$((gd_i+1))\n  [ $gd_i -le " +
         std::to_string(Secs(timeout) * 50) + " ] || { printf '%s: not " + state +
         " after %ss: %s\\n' " + Q(Describe(s)) + " " + std::to_string(Secs(timeout)) +
         " \"$gd_st\" >&2; exit 4; }\n  sleep 0.02\ndone\n";
}

std::string StopScript(const Service& s, const std::string& signal, Duration timeout) {
  const std::string t = std::to_string(Secs(timeout));
  const std::string what = Describe(s);
  switch (s.manager) {
    case Manager::kSystemd: {
      const std::string u = Q(s.unit_or_dir);
      std::string sh;
      if (signal == "KILL") sh += "systemctl kill --signal=KILL " + u + "\n";
      sh += "systemctl stop " + u + "\n";
      return sh + "if systemctl is-active --quiet " + u + "; then " +
             Fail(what + " is still active after the stop", 4) + "; fi\n";
    }
    case Manager::kRunit: {
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
    case Manager::kProcess: {
      const std::string sig = s.freeze ? "STOP" : signal;
      std::string sh = "kill -" + sig + " $gd_pids\n";
      if (s.freeze) {
        return sh +
               "gd_frozen() { for gd_p in $gd_pids; do case \"$(sed 's/.*) //' /proc/$gd_p/stat "
               "2>/dev/null | cut -c1)\" in T|t|Z|'') ;; *) return 1;; esac; done; return 0; }\n"
               "gd_i=0; until gd_frozen; do gd_i=$((gd_i+1)); [ $gd_i -le 50 ] || " +
               Fail(what + " did not stop after SIGSTOP", 4) + "; sleep 0.1; done\n";
      }
      return sh + "gd_i=0; while gd_alive; do gd_i=$((gd_i+1)); [ $gd_i -le " + t + "0 ] || " +
             Fail(what + " still alive " + t + "s after SIG" + sig, 4) + "; sleep 0.1; done\n";
    }
    case Manager::kStaticPod: {
      const std::string stash = StashDir(s);
      return "mkdir -p " + Q(stash) + "\nmv -f " + Q(s.manifest_dir + "/" + s.manifest) + " " +
             Q(stash + "/" + s.manifest) + "\n";
    }
  }
  return "";
}

// Starts the service again; idempotent (a running service, or a never-stopped one, is fine).
std::string StartScript(const Service& s, Duration timeout) {
  const std::string t = std::to_string(Secs(timeout));
  const std::string what = Describe(s);
  switch (s.manager) {
    case Manager::kSystemd:
      return "systemctl start " + Q(s.unit_or_dir) + "\n";
    case Manager::kRunit:
      return "sv up " + Q(s.unit_or_dir) + " >/dev/null\n" + RunitWait(s, "run", timeout);
    case Manager::kProcess:
      if (s.freeze) {
        return PidsScript(s) + "[ -z \"$gd_pids\" ] || kill -CONT $gd_pids 2>/dev/null || true\n";
      }
      return PidsScript(s) + "if ! gd_alive; then\n  setsid nohup sh -c " + Q(s.start) +
             " </dev/null >/dev/null 2>&1 &\n  gd_i=0\n  while :; do\n    " + PidsScript(s) +
             "    gd_alive && break\n    gd_i=$((gd_i+1)); [ $gd_i -le " + t + "0 ] || " +
             Fail("the start command did not bring back " + what + " within " + t + "s", 4) +
             "\n    sleep 0.1\n  done\nfi\n";
    case Manager::kStaticPod: {
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

Result<Service> Resolve(const Service& t, const InventoryHost& host) {
  Service r = t;
  for (auto [field, value] : {std::pair<const char*, std::string*>{"service", &r.unit_or_dir},
                              {"service.process.name", &r.process_name},
                              {"service.process.pid_file", &r.pid_file},
                              {"service.process.start", &r.start},
                              {"service.static_pod.manifest", &r.manifest},
                              {"service.static_pod.dir", &r.manifest_dir},
                              {"service.static_pod.stash_dir", &r.stash_dir}}) {
    Result<std::string> v = ExpandHostVars(*value, host, field);
    if (!v.ok()) return v.status();
    *value = *v;
  }
  return r;
}

void WriteService(JsonWriter& w, const Service& s) {
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

Result<Service> ReadService(const rapidjson::Value& o) {
  auto str = [&](const char* k) -> std::string {
    auto it = o.FindMember(k);
    return it != o.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  };
  Service s;
  const std::string m = str("manager");
  if (m == "systemd") {
    s.manager = Manager::kSystemd;
  } else if (m == "runit") {
    s.manager = Manager::kRunit;
  } else if (m == "process") {
    s.manager = Manager::kProcess;
  } else if (m == "static_pod") {
    s.manager = Manager::kStaticPod;
  } else {
    return Status::InvalidArgument(std::string(kKind) + ": revert record has unknown manager '" +
                                   m + "'");
  }
  s.unit_or_dir = str("unit_or_dir");
  s.process_name = str("process_name");
  s.pid_file = str("pid_file");
  s.start = str("start");
  auto freeze = o.FindMember("freeze");
  s.freeze = freeze != o.MemberEnd() && freeze->value.IsBool() && freeze->value.GetBool();
  s.manifest = str("manifest");
  s.manifest_dir = str("manifest_dir");
  s.stash_dir = str("stash_dir");
  return s;
}

class ServiceStopInjector : public Injector {
 public:
  ServiceStopInjector(Spec spec, Inventory inventory, std::shared_ptr<SshClient> ssh)
      : spec_(std::move(spec)),
        inventory_(std::move(inventory)),
        ssh_(std::move(ssh)),
        token_(RandomFaultToken()) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    // Every chosen host's templates must resolve before anything is injected.
    return DiscoverHostTargets(*ssh_, inventory_, spec_.hosts, env.seed,
                               [&](const InventoryHost& h) {
                                 Result<Service> s = Resolve(spec_.service, h);
                                 return s.ok() ? Status::Ok() : s.status();
                               });
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    Result<Service> s = Resolve(spec_.service, *host);
    if (!s.ok()) return s.status();
    return HostRevertRecord(host->ssh, [&](JsonWriter& w) {
      WriteService(w, *s);
      w.Key("stop_timeout_ms");
      w.Int64(std::chrono::duration_cast<std::chrono::milliseconds>(spec_.stop_timeout).count());
      if (spec_.on_host_expiry) Expiry(*host, env).Write(w);
    });
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    Result<Service> s = Resolve(spec_.service, *host);
    if (!s.ok()) return s.status();
    std::string script = "set -e\n" + PreCheckScript(*s);
    if (spec_.on_host_expiry) {
      // The timer goes in before the fault, so the fault never exists without its expiry.
      script += StartExpiryScript(Expiry(*host, env), env.duration + spec_.expiry_margin,
                                  StartScript(*s, spec_.stop_timeout));
    }
    script += StopScript(*s, spec_.signal, spec_.stop_timeout);
    return RunFaultScript(
        *ssh_, host->ssh, script, spec_.stop_timeout + kSshSlack,
        std::string(kKind) + " on " + target.display + ": stopping " + Describe(*s));
  }

  bool Reversible() const override { return true; }

  std::string DescribeAction(const FaultTarget& target) const override {
    std::string what = "the service";
    if (const InventoryHost* h = inventory_.Find(target.id)) {
      Result<Service> s = Resolve(spec_.service, *h);
      if (s.ok()) what = Describe(*s);
    }
    std::string how = spec_.service.freeze     ? "freeze (SIGSTOP)"
                      : spec_.signal == "KILL" ? "kill (SIGKILL) and stop"
                                               : "stop";
    std::string d = how + " " + what + " on " + target.display + " over SSH; revert starts it";
    if (spec_.on_host_expiry) {
      d += "; on-host expiry after the fault's duration + " + FormatDuration(spec_.expiry_margin);
    }
    return d;
  }

 private:
  OnHostExpiry Expiry(const InventoryHost& host, const InjectorEnv& env) const {
    return MakeExpiry(host, ShortHash(env.run_id + "/" + token_ + "/" + host.name));
  }

  const Spec spec_;
  const Inventory inventory_;
  std::shared_ptr<SshClient> ssh_;
  std::string token_;
};

void ParseService(SpecNode& spec, Service* out) {
  SpecNode svc = spec.Child("service");
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
  auto check = [](SpecNode& node, const std::string& key, const std::string& value) {
    if (std::string problem = CheckTemplate(value); !problem.empty()) node.ErrorAt(key, problem);
  };
  if (svc.Has("systemd")) {
    out->manager = Manager::kSystemd;
    out->unit_or_dir = svc.RequiredString("systemd");
    check(svc, "systemd", out->unit_or_dir);
  } else if (svc.Has("runit")) {
    out->manager = Manager::kRunit;
    out->unit_or_dir = svc.RequiredString("runit");
    check(svc, "runit", out->unit_or_dir);
  } else if (svc.Has("process")) {
    out->manager = Manager::kProcess;
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
      check(p, "name", out->process_name);
      check(p, "pid_file", out->pid_file);
      check(p, "start", out->start);
      p.Finish();
    }
  } else if (svc.Has("static_pod")) {
    out->manager = Manager::kStaticPod;
    SpecNode sp = svc.Child("static_pod");
    if (sp.ExpectMap()) {
      out->manifest = sp.RequiredString("manifest");
      if (out->manifest.find('/') != std::string::npos) {
        sp.ErrorAt("manifest", "expected a file name inside `dir` (such as etcd.yaml), not a path");
      }
      out->manifest_dir = sp.String("dir", out->manifest_dir);
      out->stash_dir = sp.String("stash_dir", "");
      check(sp, "manifest", out->manifest);
      check(sp, "dir", out->manifest_dir);
      check(sp, "stash_dir", out->stash_dir);
      sp.Finish();
    }
  }
  svc.Finish();
}

class ServiceStopInjectorKind : public SshInjectorKind {
 public:
  explicit ServiceStopInjectorKind(std::shared_ptr<SshClient> ssh)
      : SshInjectorKind(kKind, std::move(ssh)) {}

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    return ParseHostsSpec<ServiceStopInjector, Spec>(spec, target, [&](Spec& s) {
      ParseService(spec, &s.service);
      SpecNode signal_node = spec.Child("signal");
      s.signal = spec.Enum("signal", {"TERM", "KILL"}, "TERM");
      if (signal_node.defined() && s.service.freeze) {
        spec.ErrorAt("signal", "not used with process.freeze: true (a freeze is SIGSTOP)");
      }
      if (signal_node.defined() && s.service.manager == Manager::kStaticPod) {
        spec.ErrorAt("signal", "not used with static_pod (the kubelet stops the pod its own way)");
      }
      s.on_host_expiry = spec.Bool("on_host_expiry", true);
      s.expiry_margin =
          spec.DurationField("expiry_margin", s.expiry_margin, seconds(1), std::chrono::hours(24));
      s.stop_timeout =
          spec.DurationField("stop_timeout", s.stop_timeout, seconds(1), std::chrono::minutes(10));
    });
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    Result<HostRevert> revert = ReadHostRevert(record, kKind);
    if (!revert.ok()) return revert.status();
    const rapidjson::Document& doc = revert->record;
    Result<Service> s = ReadService(doc);
    if (!s.ok()) return s.status();
    Duration stop_timeout = seconds(20);
    auto it = doc.FindMember("stop_timeout_ms");
    if (it != doc.MemberEnd() && it->value.IsInt64() && it->value.GetInt64() > 0) {
      stop_timeout = std::chrono::milliseconds(it->value.GetInt64());
    }
    // Start first; the timer is cancelled only once that worked.
    return RunRevertScript(*ssh_, *revert, StartScript(*s, stop_timeout), stop_timeout + kSshSlack,
                           kKind, "starting " + Describe(*s));
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind() {
  return MakeServiceStopInjectorKind(std::make_shared<SshClient>());
}

std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind(std::shared_ptr<SshClient> ssh) {
  return std::make_unique<ServiceStopInjectorKind>(std::move(ssh));
}

}  // namespace gameday

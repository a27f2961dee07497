#include "injectors/container_kill/container_process.h"

#include <algorithm>
#include <charconv>

#include "clients/kubernetes/cluster.h"
#include "experiments/shell_quote.h"

namespace gameday {
namespace {

constexpr size_t kHexDigits = 64;
constexpr size_t kMaxOutput = size_t{64} * 1024;
constexpr int64_t kMaxPid = int64_t{1} << 22;  // the kernel's PID_MAX_LIMIT

std::string Excerpt(std::string_view s) { return "'" + Printable(s) + "'"; }

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Sets gd_state, gd_ppid and gd_start from /proc/$1/stat; false when there is no such process.
// Fields are counted after the last ") ", so a command name holding spaces or ")" cannot shift
// them: $1 is field 3 (state), $2 field 4 (ppid), ${20} field 22 (start time).
constexpr char kStatFunction[] =
    "gd_stat() {\n"
    "  gd_s=$(cat \"/proc/$1/stat\" 2>/dev/null) || return 1\n"
    "  case \"$gd_s\" in *') '*) ;; *) return 1;; esac\n"
    "  set -- ${gd_s##*) }\n"
    "  [ $# -ge 20 ] || return 1\n"
    "  gd_state=$1; gd_ppid=$2; gd_start=${20}\n"
    "}\n";

// True when /proc/$1/cgroup names the container (the id is 64 checked hex digits).
std::string InCgroupFunction(const ContainerId& id) {
  return "gd_in() { grep -qE '" + CgroupLinePattern(id) + "' \"/proc/$1/cgroup\" 2>/dev/null; }\n";
}

std::string Fail(const std::string& message, int code) {
  return "{ echo " + ShellQuote(message) + " >&2; exit " + std::to_string(code) + "; }";
}

const rapidjson::Value* Member(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(key);
  return it == o.MemberEnd() ? nullptr : &it->value;
}

std::string Str(const rapidjson::Value* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

const rapidjson::Value* ContainerStatus(const rapidjson::Value& pod, const std::string& name) {
  const rapidjson::Value* status = Member(pod, "status");
  const rapidjson::Value* list = status ? Member(*status, "containerStatuses") : nullptr;
  if (list == nullptr || !list->IsArray()) return nullptr;
  for (const rapidjson::Value& c : list->GetArray()) {
    if (c.IsObject() && Str(Member(c, "name")) == name) return &c;
  }
  return nullptr;
}

// "waiting: CrashLoopBackOff" / "terminated: Error" / "running": the container's state, for
// messages (reasons are shown as excerpts: they come from the API).
std::string StateText(const rapidjson::Value& cs) {
  const rapidjson::Value* state = Member(cs, "state");
  if (state == nullptr || !state->IsObject()) return "no state";
  for (const char* s : {"running", "waiting", "terminated"}) {
    if (const rapidjson::Value* v = Member(*state, s); v != nullptr) {
      const std::string reason = Str(Member(*v, "reason"));
      return std::string(s) + (reason.empty() ? "" : ": " + Excerpt(reason));
    }
  }
  return "no state";
}

}  // namespace

Result<ContainerId> ParseContainerId(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("containerID " + Excerpt(text) + " " + why);
  };
  if (text.empty()) return Status::InvalidArgument("containerID is empty");
  if (text.size() > 128) return bad("is too long to be <runtime>://<64 hex digits>");
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return bad("is not <runtime>://<64 hex digits>");
  ContainerId id;
  id.runtime = std::string(text.substr(0, sep));
  if (id.runtime != "containerd" && id.runtime != "cri-o" && id.runtime != "docker") {
    return bad("names runtime " + Excerpt(id.runtime) + "; expected containerd, cri-o or docker");
  }
  id.hex = std::string(text.substr(sep + 3));
  if (id.hex.size() != kHexDigits || !std::all_of(id.hex.begin(), id.hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return bad("does not end in 64 lowercase hex digits");
  }
  return id;
}

std::string CgroupLinePattern(const ContainerId& id) { return "[/-]" + id.hex + "([.]scope)?$"; }

std::string FindMainProcessScript(const ContainerId& id) {
  // One grep over every process's cgroup file; then, per match only, the parent's.
  return std::string(kStatFunction) + InCgroupFunction(id) +
         "gd_n=0\n"
         "for gd_f in $(grep -lE '" +
         CgroupLinePattern(id) +
         "' /proc/[0-9]*/cgroup 2>/dev/null); do\n"
         "  gd_p=${gd_f#/proc/}; gd_p=${gd_p%/cgroup}\n"
         "  case \"$gd_p\" in ''|*[!0-9]*) continue;; esac\n"
         "  gd_stat \"$gd_p\" || continue\n"
         "  if [ \"$gd_ppid\" -gt 0 ] 2>/dev/null && gd_in \"$gd_ppid\"; then continue; fi\n"
         "  echo \"main $gd_p $gd_start\"\n"
         "  gd_n=$((gd_n+1)); [ $gd_n -lt " +
         std::to_string(kMaxCandidates) +
         " ] || break\n"
         "done\n"
         "echo end\n";
}

Result<HostProcess> ParseFindOutput(const std::string& out, const ContainerId& id) {
  const std::string what = "the search for the main process of container " + id.ToString();
  if (out.size() > kMaxOutput) {
    return Status::Internal(what + " printed " + std::to_string(out.size()) +
                            " bytes; expected at most " + std::to_string(kMaxOutput));
  }
  std::vector<HostProcess> found;
  bool ended = false;
  size_t pos = 0;
  int line_no = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string_view line(out.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto bad = [&](const std::string& why) {
      return Status::Internal(what + ": output line " + std::to_string(line_no) + " " +
                              Excerpt(line) + " " + why);
    };
    if (ended) return bad("follows 'end'");
    if (line == "end") {
      ended = true;
      continue;
    }
    if (line.substr(0, 5) != "main ") return bad("is not 'main PID START' or 'end'");
    const std::string_view rest = line.substr(5);
    const size_t space = rest.find(' ');
    if (space == std::string_view::npos) return bad("is not 'main PID START'");
    const std::string_view pid_text = rest.substr(0, space);
    const std::string_view start_text = rest.substr(space + 1);
    HostProcess p;
    if (!AllDigits(pid_text) || pid_text.size() > 7 || pid_text[0] == '0' ||
        std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), p.pid).ec !=
            std::errc() ||
        p.pid < 2 || p.pid > kMaxPid) {
      return bad("has no valid pid (2 to " + std::to_string(kMaxPid) + ")");
    }
    if (!AllDigits(start_text) || start_text.size() > 20 ||
        std::from_chars(start_text.data(), start_text.data() + start_text.size(), p.start_time)
                .ec != std::errc()) {
      return bad("has no valid start time (a decimal below 2^64)");
    }
    if (found.size() >= kMaxCandidates) return bad("is one candidate too many");
    found.push_back(p);
  }
  if (!ended) {
    return Status::Internal(what + " ended before its 'end' line (cut short or not run)");
  }
  if (found.empty()) {
    return Status::NotFound("no process on the node is in the cgroup of container " +
                            id.ToString() +
                            " (the container is not running there, or its node is another host)");
  }
  std::sort(found.begin(), found.end(),
            [](const HostProcess& a, const HostProcess& b) { return a.start_time < b.start_time; });
  if (found.size() > 1 && found[0].start_time == found[1].start_time) {
    return Status::Internal(what + ": pids " + std::to_string(found[0].pid) + " and " +
                            std::to_string(found[1].pid) +
                            " started at the same tick; cannot tell which is the container's init");
  }
  return found[0];
}

const std::vector<std::string>& KillSignals() {
  static const std::vector<std::string> kSignals = {"KILL", "TERM", "INT",  "QUIT",
                                                    "HUP",  "USR1", "USR2", "ABRT"};
  return kSignals;
}

std::string SignalScript(const HostProcess& p, const ContainerId& id, const std::string& signal,
                         Duration wait) {
  const std::string pid = std::to_string(p.pid);
  const std::string start = std::to_string(p.start_time);
  const std::string who = "pid " + pid + " of container " + id.hex.substr(0, 12);
  const long long polls =
      std::max<long long>(1, static_cast<long long>(ToSeconds(wait) * 20));  // every 50 ms
  std::string sh = std::string(kStatFunction) + InCgroupFunction(id);
  sh += "gd_stat " + pid + " || " + Fail(who + " is gone; nothing was signalled", 3) + "\n";
  sh += "[ \"$gd_start\" = " + start + " ] || " +
        Fail("pid " + pid +
                 " is now another process (its start time changed); nothing was "
                 "signalled",
             3) +
        "\n";
  sh += "gd_in " + pid + " || " +
        Fail(who + " left the container's cgroup; nothing was signalled", 3) + "\n";
  sh += "kill -" + signal + " " + pid + " || " +
        Fail("kill -" + signal + " " + pid + " failed", 4) + "\n";
  if (signal == "KILL") {
    sh += "gd_i=0\nwhile gd_stat " + pid + " && [ \"$gd_start\" = " + start +
          " ] && [ \"$gd_state\" != Z ]; do\n  gd_i=$((gd_i+1)); [ $gd_i -le " +
          std::to_string(polls) + " ] || " +
          Fail(who + " still alive " + FormatDuration(wait) + " after SIGKILL", 4) +
          "\n  sleep 0.05\ndone\n";
  } else if (signal == "STOP") {
    sh += "gd_i=0\nuntil ! gd_stat " + pid + " || [ \"$gd_start\" != " + start +
          " ] || [ \"$gd_state\" = T ] || [ \"$gd_state\" = t ]; do\n  gd_i=$((gd_i+1)); "
          "[ $gd_i -le " +
          std::to_string(polls) + " ] || " +
          Fail(who + " not stopped " + FormatDuration(wait) + " after SIGSTOP", 4) +
          "\n  sleep 0.05\ndone\n";
  }
  return sh;
}

std::string ResumeScript(const HostProcess& p) {
  const std::string pid = std::to_string(p.pid);
  const std::string start = std::to_string(p.start_time);
  return std::string(kStatFunction) + "if gd_stat " + pid + " && [ \"$gd_start\" = " + start +
         " ]; then\n  kill -CONT " + pid + " 2>/dev/null || { gd_stat " + pid +
         " && [ \"$gd_start\" = " + start + " ] && " + Fail("kill -CONT " + pid + " failed", 4) +
         "; }\nfi\ntrue\n";
}

Result<int64_t> ReadRestartCount(const rapidjson::Value& pod, const std::string& container) {
  const rapidjson::Value* cs = ContainerStatus(pod, container);
  if (cs == nullptr) {
    return Status::FailedPrecondition("container " + container + " has no status in the pod");
  }
  const rapidjson::Value* rc = Member(*cs, "restartCount");
  if (rc == nullptr) return int64_t{0};  // omitted when zero
  if (!rc->IsInt64() || rc->GetInt64() < 0 || rc->GetInt64() > INT32_MAX) {
    return Status::FailedPrecondition("container " + container +
                                      ": restartCount is not a count (0 to 2^31-1)");
  }
  return rc->GetInt64();
}

Result<PodContainer> ReadPodContainer(const rapidjson::Value& pod, const std::string& uid,
                                      const std::string& container) {
  const rapidjson::Value* meta = Member(pod, "metadata");
  const std::string ns = meta ? Str(Member(*meta, "namespace")) : "";
  const std::string name = meta ? Str(Member(*meta, "name")) : "";
  const std::string where = "pod " + Printable(ns + "/" + name, 300);
  auto fail = [&](const std::string& why) {
    return Status::FailedPrecondition(where + ": " + why);
  };
  if (meta == nullptr || !meta->IsObject()) return fail("the answer is not a pod");
  if (Str(Member(*meta, "uid")) != uid) {
    return fail("was replaced (uid " + Excerpt(Str(Member(*meta, "uid"))) + ", chosen " + uid +
                ")");
  }
  if (Member(*meta, "deletionTimestamp") != nullptr) return fail("is terminating");
  const rapidjson::Value* status = Member(pod, "status");
  const std::string phase = status ? Str(Member(*status, "phase")) : "";
  if (phase != "Running") {
    return fail("is " + (phase.empty() ? std::string("in no phase") : Excerpt(phase)) +
                ", not Running");
  }
  const rapidjson::Value* spec = Member(pod, "spec");
  PodContainer out;
  out.node = spec ? Str(Member(*spec, "nodeName")) : "";
  if (out.node.empty()) return fail("is bound to no node (spec.nodeName is empty)");
  if (!IsDns1123Subdomain(out.node)) {
    return fail("spec.nodeName " + Excerpt(out.node) + " is not a node name");
  }
  const rapidjson::Value* containers = spec ? Member(*spec, "containers") : nullptr;
  std::vector<std::string> names;
  if (containers != nullptr && containers->IsArray()) {
    for (const rapidjson::Value& c : containers->GetArray())
      names.push_back(Str(Member(c, "name")));
  }
  if (names.empty()) return fail("lists no containers");
  out.name = container.empty() ? names[0] : container;
  if (std::find(names.begin(), names.end(), out.name) == names.end()) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + Excerpt(n);
    return fail("has no container named " + Printable(out.name) + " (its containers: " + list +
                ")");
  }
  const rapidjson::Value* cs = ContainerStatus(pod, out.name);
  if (cs == nullptr) return fail("container " + out.name + " has no status yet");
  const std::string id_text = Str(Member(*cs, "containerID"));
  if (id_text.empty()) {
    return fail("container " + out.name + " has no containerID yet (" + StateText(*cs) + ")");
  }
  Result<ContainerId> id = ParseContainerId(id_text);
  if (!id.ok()) return fail("container " + out.name + ": " + id.status().message());
  out.id = *id;
  const rapidjson::Value* state = Member(*cs, "state");
  if (state == nullptr || Member(*state, "running") == nullptr) {
    return fail("container " + out.name + " is not running (" + StateText(*cs) + ")");
  }
  Result<int64_t> restarts = ReadRestartCount(pod, out.name);
  if (!restarts.ok()) return fail(restarts.status().message());
  out.restart_count = *restarts;
  return out;
}

std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += c >= 0x20 && c < 0x7f ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace gameday

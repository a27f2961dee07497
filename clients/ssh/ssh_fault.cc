#include "clients/ssh/ssh_fault.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

namespace gameday {
namespace {

std::string Str(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

}  // namespace

bool ExpectSshTarget(SpecNode& spec, const TargetSpec& target, const std::string& kind) {
  if (target.kind == "ssh") return true;
  spec.Error(kind + " acts on hosts over SSH: the experiment's target must be {kind: ssh}, " +
             "not kind '" + target.kind + "'");
  return false;
}

std::optional<Inventory> LoadTargetInventory(SpecNode& spec, const TargetSpec& target,
                                             const std::string& kind) {
  if (!ExpectSshTarget(spec, target, kind)) return std::nullopt;
  const std::string file = EffectiveInventory(target);
  Result<std::string> text = ReadDocumentFile(file, kInventoryLimits);
  if (!text.ok()) {
    if (target.inventory.empty() && text.status().code() == Status::Code::kNotFound) {
      spec.Error(kind + " needs an inventory: the target names none, $GAMEDAY_INVENTORY is unset " +
                 "and the sandbox's " + file + " cannot be read (" + text.status().message() +
                 "); start it with `gameday sandbox up` or set target.inventory");
    } else {
      spec.Error("the target's inventory " + file + ": " + text.status().message());
    }
    return std::nullopt;
  }
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(file, ec);
  const size_t before = spec.diagnostics()->size();
  Inventory inv = ParseInventory(*text, file, ec ? std::string() : abs.parent_path().string(),
                                 spec.diagnostics());
  if (spec.diagnostics()->size() != before) return std::nullopt;
  ApplyTargetSpec(target, &inv);
  return inv;
}

FaultTarget HostTarget(const InventoryHost& host) {
  FaultTarget t;
  t.id = host.name;
  t.display = host.name + " (" + host.ssh.address + ")";
  t.attributes["address"] = host.ssh.address;
  t.attributes["port"] = std::to_string(host.ssh.port);
  std::string groups;
  for (const std::string& g : host.groups) groups += (groups.empty() ? "" : ",") + g;
  t.attributes["groups"] = groups;
  return t;
}

Result<InventoryHost> FindTargetHost(const Inventory& inventory, const FaultTarget& target) {
  const InventoryHost* h = inventory.Find(target.id);
  if (h == nullptr) {
    return Status::NotFound("host '" + target.id + "' is not in inventory " + inventory.file);
  }
  return *h;
}

Status ConnectToTargets(SshClient& ssh, const std::vector<InventoryHost>& hosts) {
  std::vector<SshEndpoint> endpoints;
  for (const InventoryHost& h : hosts) endpoints.push_back(h.ssh);
  std::vector<Status> results = ssh.ConnectAll(endpoints);
  std::string message;
  Status first;
  for (const Status& s : results) {
    if (s.ok()) continue;
    if (first.ok()) first = s;
    message += (message.empty() ? "" : "\n") + s.message();
  }
  if (first.ok()) return first;
  return Status(first.code(), message);
}

void WriteEndpoint(JsonWriter& w, const SshEndpoint& ep) {
  w.Key("host");
  w.String(ep.name.c_str());
  w.Key("address");
  w.String(ep.address.c_str());
  w.Key("port");
  w.Int(ep.port);
  w.Key("user");
  w.String(ep.user.c_str());
  w.Key("key_file");
  w.String(ep.key_file.c_str());
  w.Key("key_passphrase_env");
  w.String(ep.key_passphrase_env.c_str());
  w.Key("known_hosts");
  w.String(ep.known_hosts.c_str());
  w.Key("insecure_ignore_host_key");
  w.Bool(ep.insecure_ignore_host_key);
  w.Key("sudo");
  w.Bool(ep.sudo);
  w.Key("connect_timeout_ms");
  w.Int64(std::chrono::duration_cast<std::chrono::milliseconds>(ep.connect_timeout).count());
}

Result<SshEndpoint> ReadEndpoint(const rapidjson::Value& o) {
  SshEndpoint ep;
  ep.name = Str(o, "host");
  ep.address = Str(o, "address");
  if (ep.address.empty()) return Status::InvalidArgument("revert record has no host address");
  auto port = o.FindMember("port");
  if (port != o.MemberEnd() && port->value.IsInt()) ep.port = port->value.GetInt();
  ep.user = Str(o, "user");
  if (ep.user.empty()) ep.user = "root";
  ep.key_file = Str(o, "key_file");
  ep.key_passphrase_env = Str(o, "key_passphrase_env");
  ep.known_hosts = Str(o, "known_hosts");
  auto insecure = o.FindMember("insecure_ignore_host_key");
  ep.insecure_ignore_host_key =
      insecure != o.MemberEnd() && insecure->value.IsBool() && insecure->value.GetBool();
  auto sudo = o.FindMember("sudo");
  ep.sudo = sudo != o.MemberEnd() && sudo->value.IsBool() && sudo->value.GetBool();
  auto timeout = o.FindMember("connect_timeout_ms");
  if (timeout != o.MemberEnd() && timeout->value.IsInt64() && timeout->value.GetInt64() > 0) {
    ep.connect_timeout = std::chrono::milliseconds(timeout->value.GetInt64());
  }
  return ep;
}

std::string CheckTemplate(const std::string& text) {
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string::npos) {
    const size_t end = text.find("}}", pos + 2);
    if (end == std::string::npos) return "'{{' without '}}'";
    std::string name = text.substr(pos + 2, end - pos - 2);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!std::regex_match(name, std::regex("[A-Za-z_][A-Za-z0-9_]*"))) {
      return "'{{" + text.substr(pos + 2, end - pos - 2) + "}}' is not a variable name";
    }
    pos = end + 2;
  }
  return "";
}

Result<std::string> ExpandHostVars(const std::string& text, const InventoryHost& host,
                                   const std::string& field) {
  if (std::string problem = CheckTemplate(text); !problem.empty()) {
    return Status::InvalidArgument(field + ": " + problem);
  }
  std::string out;
  size_t pos = 0;
  for (;;) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    const size_t close = text.find("}}", open + 2);
    out += text.substr(pos, open - pos);
    std::string name = text.substr(open + 2, close - open - 2);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (name == "name") {
      out += host.name;
    } else if (name == "address") {
      out += host.ssh.address;
    } else if (host.vars.count(name)) {
      out += host.vars.at(name);
    } else {
      return Status::InvalidArgument(field + " uses {{" + name + "}}, but host " + host.name +
                                     " has no vars." + name + " in the inventory");
    }
    pos = close + 2;
  }
  return out + text.substr(pos);
}

std::string ShortHash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 12; ++i) out += kHex[(h >> (60 - 4 * i)) & 15];
  return out;
}

void OnHostExpiry::Write(JsonWriter& w) const {
  w.Key("expiry");
  w.StartObject();
  w.Key("marker");
  w.String(marker.c_str());
  w.Key("pid_file");
  w.String(pid_file.c_str());
  w.EndObject();
}

std::optional<OnHostExpiry> OnHostExpiry::Read(const rapidjson::Value& record) {
  auto it = record.FindMember("expiry");
  if (it == record.MemberEnd() || !it->value.IsObject()) return std::nullopt;
  OnHostExpiry e{Str(it->value, "marker"), Str(it->value, "pid_file")};
  if (e.marker.empty() || e.pid_file.empty()) return std::nullopt;
  return e;
}

OnHostExpiry MakeExpiry(const InventoryHost& host, const std::string& id) {
  std::string dir = host.Var("gameday_state_dir", "/run/gameday");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  OnHostExpiry e;
  e.marker = "gameday-expiry-" + id;
  e.pid_file = dir + "/" + e.marker + ".pid";
  return e;
}

std::string StartExpiryScript(const OnHostExpiry& e, Duration after, const std::string& heal) {
  const long long seconds =
      std::max<long long>(1, static_cast<long long>(std::ceil(ToSeconds(after))));
  const std::string dir = e.pid_file.substr(0, e.pid_file.rfind('/'));
  const std::string timer =
      "sleep " + std::to_string(seconds) + "; " + heal + "\nrm -f " + ShellQuote(e.pid_file);
  // `setsid` does not fork here (a background job is no group leader), so $! is the timer's own
  // pid and, as session leader, the id of its process group: a cancel takes the sleep with it.
  return "mkdir -p " + ShellQuote(dir) + "\nsetsid nohup sh -c " + ShellQuote(timer) + " " +
         e.marker + " </dev/null >/dev/null 2>&1 &\necho $! > " + ShellQuote(e.pid_file) + "\n";
}

std::string CancelExpiryScript(const OnHostExpiry& e) {
  const std::string f = ShellQuote(e.pid_file);
  return "if [ -f " + f + " ]; then gd_timer=$(cat " + f +
         "); if [ -n \"$gd_timer\" ] && tr '\\0' ' ' 2>/dev/null < /proc/$gd_timer/cmdline | "
         "grep -q -F " +
         e.marker + "; then kill -TERM -$gd_timer 2>/dev/null || kill -TERM $gd_timer " +
         "2>/dev/null; fi; rm -f " + f + "; fi\n";
}

Result<rapidjson::Document> ParseRecord(const std::string& record, const std::string& kind) {
  rapidjson::Document doc;
  doc.Parse(record.c_str(), record.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument(
        kind + ": revert record is not a JSON object: " + record.substr(0, 200));
  }
  return doc;
}

void CheckHostSelector(SpecNode& spec, const std::optional<Inventory>& inventory,
                       const std::string& field, const std::string& selector) {
  if (selector.empty()) return;
  const Status v =
      inventory ? ValidateSelector(*inventory, selector) : ValidateSelectorSyntax(selector);
  if (!v.ok()) spec.ErrorAt(field, v.message());
}

std::string RandomFaultToken() {
  std::random_device rd;
  return std::to_string(rd()) + "-" + std::to_string(rd());
}

Result<std::vector<FaultTarget>> DiscoverHostTargets(
    SshClient& ssh, const Inventory& inventory, const std::string& selector,
    const std::string& run_id, const std::function<Status(const InventoryHost&)>& check) {
  std::mt19937_64 rng(std::hash<std::string>{}(run_id + "/" + selector));
  Result<std::vector<InventoryHost>> hosts = SelectHosts(inventory, selector, rng);
  if (!hosts.ok()) return hosts.status();
  std::vector<FaultTarget> targets;
  for (const InventoryHost& h : *hosts) {
    if (check) {
      if (Status s = check(h); !s.ok()) return s;
    }
    targets.push_back(HostTarget(h));
  }
  if (Status s = ConnectToTargets(ssh, *hosts); !s.ok()) return s;
  return targets;
}

std::string HostRevertRecord(const SshEndpoint& ep,
                             const std::function<void(JsonWriter&)>& fields) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteEndpoint(w, ep);
  fields(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Status RunFaultScript(SshClient& ssh, const SshEndpoint& ep, const std::string& script,
                      Duration timeout, const std::string& what) {
  Result<CommandResult> r = ssh.Run(ep, script, timeout);
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    return Status(r->exit_status == 3 ? Status::Code::kFailedPrecondition : Status::Code::kInternal,
                  what + " failed: " + r->Summary());
  }
  return Status::Ok();
}

Result<HostRevert> ReadHostRevert(const std::string& record, const std::string& kind) {
  Result<rapidjson::Document> doc = ParseRecord(record, kind);
  if (!doc.ok()) return doc.status();
  Result<SshEndpoint> ep = ReadEndpoint(*doc);
  if (!ep.ok()) return ep.status();
  return HostRevert{std::move(*doc), std::move(*ep)};
}

Status RunRevertScript(SshClient& ssh, const HostRevert& revert, const std::string& heal,
                       Duration timeout, const std::string& kind, const std::string& what) {
  std::string script = "{\n" + heal + "}";
  if (std::optional<OnHostExpiry> e = OnHostExpiry::Read(revert.record)) {
    script += " && {\n" + CancelExpiryScript(*e) + "}";
  }
  Result<CommandResult> r = ssh.Run(revert.endpoint, script + "\n", timeout);
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    return Status::Internal(kind + " revert on " + revert.endpoint.Label() + ": " + what +
                            " failed: " + r->Summary());
  }
  return Status::Ok();
}

}  // namespace gameday

#include "injectors/ssh_fault/ssh_fault.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "clients/ssh/remote_shell.h"
#include "experiments/json.h"

namespace gameday {
namespace {

std::string Str(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : "";
}

bool AlnumAscii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A host name, an IPv4 or an IPv6 address (with a zone): what an inventory's address can be.
bool ValidHostAddress(const std::string& a) {
  if (a.empty() || a.size() > 255 || a[0] == '-') return false;
  return std::all_of(a.begin(), a.end(), [](char c) {
    return AlnumAscii(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%';
  });
}

bool ValidUserName(const std::string& u) {
  if (u.empty() || u.size() > 64 || u[0] == '-') return false;
  return std::all_of(u.begin(), u.end(),
                     [](char c) { return AlnumAscii(c) || c == '.' || c == '-' || c == '_'; });
}

bool ValidEnvName(const std::string& n) {
  if (n.empty() || n.size() > 255 || (n[0] >= '0' && n[0] <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return AlnumAscii(c) || c == '_'; });
}

}  // namespace

bool ValidExpiryMarker(const std::string& marker) {
  static const std::string kPrefix = "gameday-expiry-";
  if (marker.size() != kPrefix.size() + 12 || marker.compare(0, kPrefix.size(), kPrefix) != 0) {
    return false;
  }
  return std::all_of(marker.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()), marker.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

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
  // Every field is checked before the record is acted on: a record that is not what
  // WriteEndpoint writes is refused (InvalidArgument), and no connection is made.
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("invalid revert record: " + what);
  };
  auto string_field = [&](const char* key, std::string* out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsString()) return false;
    out->assign(it->value.GetString(), it->value.GetStringLength());
    return IsPlainText(*out);
  };
  auto bool_field = [&](const char* key, bool* out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsBool()) return false;
    *out = it->value.GetBool();
    return true;
  };
  SshEndpoint ep;
  if (!string_field("host", &ep.name)) return bad("host is not a plain string");
  if (!string_field("address", &ep.address) || ep.address.empty()) {
    return bad("no host address");
  }
  if (!ValidHostAddress(ep.address)) {
    return bad("host address '" + ep.address.substr(0, 80) + "' is not a host name or IP address");
  }
  auto port = o.FindMember("port");
  if (port != o.MemberEnd()) {
    if (!port->value.IsInt() || port->value.GetInt() < 1 || port->value.GetInt() > 65535) {
      return bad("port out of range");
    }
    ep.port = port->value.GetInt();
  }
  if (!string_field("user", &ep.user)) return bad("user is not a plain string");
  if (ep.user.empty()) ep.user = "root";
  if (!ValidUserName(ep.user))
    return bad("user '" + ep.user.substr(0, 40) + "' is not a user name");
  if (!string_field("key_file", &ep.key_file)) return bad("key_file is not a plain string");
  if (!string_field("known_hosts", &ep.known_hosts))
    return bad("known_hosts is not a plain string");
  if (!string_field("key_passphrase_env", &ep.key_passphrase_env) ||
      (!ep.key_passphrase_env.empty() && !ValidEnvName(ep.key_passphrase_env))) {
    return bad("key_passphrase_env is not a variable name");
  }
  if (!bool_field("insecure_ignore_host_key", &ep.insecure_ignore_host_key) ||
      !bool_field("sudo", &ep.sudo)) {
    return bad("insecure_ignore_host_key and sudo must be true or false");
  }
  auto timeout = o.FindMember("connect_timeout_ms");
  if (timeout != o.MemberEnd()) {
    if (!timeout->value.IsInt64() || timeout->value.GetInt64() <= 0 ||
        timeout->value.GetInt64() > int64_t{3600} * 1000) {
      return bad("connect_timeout_ms out of range");
    }
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
    if (!IsVariableName(name)) {
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
  // The marker goes into a shell script as it is: only the form MakeExpiry writes.
  if (!ValidExpiryMarker(e.marker)) return std::nullopt;
  const std::string file = e.marker + ".pid";
  if (e.pid_file.size() < file.size() || e.pid_file.size() > 4096 || HasControlChar(e.pid_file) ||
      e.pid_file.compare(e.pid_file.size() - file.size(), file.size(), file) != 0) {
    return std::nullopt;
  }
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
  return "mkdir -p -- " + ShellQuote(dir) + "\nsetsid nohup sh -c " + ShellQuote(timer) + " " +
         ShellQuote(e.marker) + " </dev/null >/dev/null 2>&1 &\necho $! > " +
         ShellQuote(e.pid_file) + "\n";
}

std::string CancelExpiryScript(const OnHostExpiry& e) {
  const std::string f = ShellQuote(e.pid_file);
  // The pid file is read as any pid file is (one pid above 1, nothing else), and the process is
  // signalled only while its command line still carries the marker: a stale file whose pid was
  // reused, or a file holding "-1" or "0", signals nothing.
  std::string sh = PidShellFunctions() + PidsFromFileScript(e.pid_file);
  if (e.marker.rfind("gameday-expiry-", 0) == 0 && e.marker.size() > 15) {
    sh +=
        "if [ -n \"$gd_seen\" ] && tr '\\0' ' ' 2>/dev/null < \"/proc/$gd_seen/cmdline\" | "
        "grep -q -F -- " +
        ShellQuote(e.marker) +
        "; then kill -TERM -\"$gd_seen\" 2>/dev/null || kill -TERM \"$gd_seen\" 2>/dev/null; "
        "fi\n";
  }
  return sh + "rm -f -- " + f + "\n";
}

Result<rapidjson::Document> ParseRecord(const std::string& record, const std::string& kind) {
  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_bytes = size_t{1} << 20;
  limits.max_depth = 8;
  if (Status s = ParseJson(record, &doc, limits); !s.ok()) {
    return Status::InvalidArgument(kind + ": invalid revert record, not JSON: " + s.message());
  }
  if (!doc.IsObject()) {
    return Status::InvalidArgument(kind + ": invalid revert record, not a JSON object");
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
    SshClient& ssh, const Inventory& inventory, const std::string& selector, uint64_t seed,
    const std::function<Status(const InventoryHost&)>& check) {
  Result<std::vector<InventoryHost>> hosts = SelectHosts(inventory, selector, seed);
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
  if (!ShellValueProblem(script).empty()) {
    return Status::InvalidArgument(what +
                                   ": the script holds a NUL byte (a value in it would be "
                                   "cut short on the host); nothing was run");
  }
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
  if (!ep.ok()) return Status(ep.status().code(), kind + ": " + ep.status().message());
  // A record with an expiry that is not what MakeExpiry writes is refused as a whole, rather
  // than reverted with the timer silently left running.
  if (doc->HasMember("expiry") && !OnHostExpiry::Read(*doc)) {
    return Status::InvalidArgument(kind +
                                   ": invalid revert record: its expiry marker or pid file "
                                   "is not one gameday makes");
  }
  return HostRevert{std::move(*doc), std::move(*ep)};
}

Status RunRevertScript(SshClient& ssh, const HostRevert& revert, const std::string& heal,
                       Duration timeout, const std::string& kind, const std::string& what) {
  std::string script = "{\n" + heal + "}";
  if (std::optional<OnHostExpiry> e = OnHostExpiry::Read(revert.record)) {
    script += " && {\n" + CancelExpiryScript(*e) + "}";
  }
  if (!ShellValueProblem(script).empty()) {
    return Status::InvalidArgument(kind + " revert on " + revert.endpoint.Label() + ": " + what +
                                   ": the script holds a NUL byte; nothing was run");
  }
  Result<CommandResult> r = ssh.Run(revert.endpoint, script + "\n", timeout);
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    return Status::Internal(kind + " revert on " + revert.endpoint.Label() + ": " + what +
                            " failed: " + r->Summary());
  }
  return Status::Ok();
}

Result<InventoryHost> FindNodeHost(const Inventory& inventory, const std::string& node) {
  const InventoryHost* by_var = nullptr;
  for (const InventoryHost& h : inventory.hosts) {
    if (h.Var("k8s_node") != node) continue;
    if (by_var != nullptr) {
      return Status::InvalidArgument("node " + node + " is claimed by two inventory hosts (" +
                                     by_var->name + " and " + h.name +
                                     " set vars.k8s_node: " + node + ")");
    }
    by_var = &h;
  }
  if (by_var != nullptr) return *by_var;
  if (const InventoryHost* h = inventory.Find(node); h != nullptr && h->Var("k8s_node").empty()) {
    return *h;
  }
  return Status::NotFound("node " + node + " has no host in inventory " + inventory.file +
                          " (no host is named " + node + " or sets vars.k8s_node: " + node + ")");
}

TargetSpec NodeInventoryTarget(SpecNode& spec, const TargetSpec& cluster_target) {
  TargetSpec hosts;
  hosts.kind = "ssh";
  hosts.check_inventory = cluster_target.check_inventory;
  const std::filesystem::path base = std::filesystem::path(spec.file()).parent_path();
  auto path_field = [&](const char* key) -> std::string {
    std::optional<std::string> v = spec.OptString(key);
    if (!v) return "";
    if (v->empty()) {
      spec.ErrorAt(key, "expected a file path, got an empty string");
      return "";
    }
    const std::filesystem::path p(*v);
    return p.is_absolute() || base.empty() ? *v : (base / p).string();
  };
  hosts.inventory = path_field("inventory");
  hosts.known_hosts = path_field("known_hosts");
  return hosts;
}

namespace {
constexpr char kChainPrefix[] = "GAMEDAY-";
}  // namespace

std::string IptablesChain(const std::string& id) { return kChainPrefix + id; }

bool ValidIptablesChain(const std::string& chain) {
  const size_t prefix = sizeof(kChainPrefix) - 1;
  if (chain.size() != prefix + 12 || chain.compare(0, prefix, kChainPrefix) != 0) return false;
  return std::all_of(chain.begin() + static_cast<std::ptrdiff_t>(prefix), chain.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string InstallChainScript(const std::string& chain, const std::vector<std::string>& rules) {
  const std::string c = ShellQuote(chain);
  std::string sh = "iptables -w -N " + c + " 2>/dev/null || iptables -w -F " + c + "\n";
  for (const std::string& r : rules) sh += "iptables -w -A " + c + " " + r + "\n";
  sh += "iptables -w -C INPUT -j " + c + " 2>/dev/null || iptables -w -I INPUT 1 -j " + c + "\n";
  sh += "iptables -w -C OUTPUT -j " + c + " 2>/dev/null || iptables -w -I OUTPUT 1 -j " + c + "\n";
  return sh;
}

std::string TeardownChainScript(const std::string& chain) {
  const std::string c = ShellQuote(chain);
  return "while iptables -w -D INPUT -j " + c + " 2>/dev/null; do :; done\n" +
         "while iptables -w -D OUTPUT -j " + c + " 2>/dev/null; do :; done\n" + "iptables -w -F " +
         c + " 2>/dev/null || true\n" + "iptables -w -X " + c + " 2>/dev/null || true\n" +
         "! iptables -w -n -L " + c + " >/dev/null 2>&1\n";
}

}  // namespace gameday

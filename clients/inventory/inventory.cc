#include "clients/inventory/inventory.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "experiments/journal.h"
#include "experiments/selection.h"

namespace gameday {
namespace {

bool IsAsciiAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [A-Za-z0-9_][A-Za-z0-9_.-]*: host and group names.
bool IsHostName(std::string_view s) {
  if (s.empty() || !(IsAsciiAlnum(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAsciiAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

// [0-9]{1,max_digits}
bool IsDigits(std::string_view s, size_t max_digits) {
  return !s.empty() && s.size() <= max_digits &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The fields a host may set and the defaults may preset.
struct HostFields {
  std::optional<std::string> user;
  std::optional<long long> port;
  std::optional<std::string> key_file;
  std::optional<std::string> key_passphrase_env;
  std::optional<std::string> known_hosts;
  std::optional<bool> sudo;
  std::optional<bool> insecure;
  std::optional<Duration> connect_timeout;
  std::map<std::string, std::string> vars;
};

HostFields ReadFields(SpecNode& n) {
  HostFields f;
  f.user = n.OptString("user");
  if (f.user && f.user->empty()) n.ErrorAt("user", "expected a non-empty user name");
  f.port = n.OptInt("port", 1, 65535);
  f.key_file = n.OptString("key_file");
  f.key_passphrase_env = n.OptString("key_passphrase_env");
  if (f.key_passphrase_env && !IsVariableName(*f.key_passphrase_env)) {
    n.ErrorAt("key_passphrase_env",
              "expected the NAME of an environment variable (never the passphrase itself)");
  }
  f.known_hosts = n.OptString("known_hosts");
  f.sudo = n.OptBool("sudo");
  f.insecure = n.OptBool("insecure_ignore_host_key");
  f.connect_timeout =
      n.OptDuration("connect_timeout", std::chrono::milliseconds(100), std::chrono::minutes(10));
  f.vars = n.StringMap("vars");
  return f;
}

std::string ResolvePath(const std::string& p, const std::string& base_dir) {
  if (p.empty()) return p;
  if (p == "~" || p.rfind("~/", 0) == 0) return ExpandHome(p);
  if (base_dir.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

template <typename T>
T Pick(const std::optional<T>& host, const std::optional<T>& defaults, T fallback) {
  if (host) return *host;
  if (defaults) return *defaults;
  return fallback;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// ---- selectors ----

struct Term {
  enum class Kind { kAll, kName, kIndex, kRandom, kLeader, kFollowers };
  Kind kind = Kind::kName;
  std::string text;   // as written, for messages
  std::string name;   // group or host
  size_t number = 0;  // index or count
};

const char kGrammar[] =
    "expected all, NAME, GROUP[i], random N of GROUP, etcd-leader [of GROUP] or "
    "etcd-followers [of GROUP], separated by commas";

Result<Term> ParseTerm(const std::string& raw) {
  Term t;
  t.text = Trim(raw);
  std::istringstream in(t.text);
  std::vector<std::string> tok;
  for (std::string w; in >> w;) tok.push_back(w);
  auto bad = [&](const std::string& why) -> Status {
    return Status::InvalidArgument("host selector '" + t.text + "': " + why);
  };
  if (tok.empty()) return bad(std::string("empty term; ") + kGrammar);
  if (tok[0] == "random") {
    if (tok.size() != 4 || tok[2] != "of") return bad("expected 'random N of GROUP'");
    if (!IsDigits(tok[1], 6) || std::stoul(tok[1]) == 0) {
      return bad("N must be a whole number from 1, got '" + tok[1] + "'");
    }
    t.kind = Term::Kind::kRandom;
    t.number = std::stoul(tok[1]);
    t.name = tok[3];
    return t;
  }
  if (tok[0] == "etcd-leader" || tok[0] == "etcd-followers") {
    t.kind = tok[0] == "etcd-leader" ? Term::Kind::kLeader : Term::Kind::kFollowers;
    if (tok.size() == 1) {
      t.name = "etcd";
      return t;
    }
    if (tok.size() != 3 || tok[1] != "of") return bad("expected '" + tok[0] + " of GROUP'");
    t.name = tok[2];
    return t;
  }
  if (tok.size() != 1) return bad(kGrammar);
  if (tok[0] == "all") {
    t.kind = Term::Kind::kAll;
    return t;
  }
  // GROUP[i]
  const size_t open = tok[0].find('[');
  if (open != std::string::npos && tok[0].back() == ']' &&
      IsHostName(std::string_view(tok[0]).substr(0, open)) &&
      IsDigits(std::string_view(tok[0]).substr(open + 1, tok[0].size() - open - 2), 6)) {
    t.kind = Term::Kind::kIndex;
    t.name = tok[0].substr(0, open);
    t.number = std::stoul(tok[0].substr(open + 1));
    return t;
  }
  if (!IsHostName(tok[0])) return bad(kGrammar);
  t.name = tok[0];
  return t;
}

std::vector<const InventoryHost*> Members(const Inventory& inv, const std::string& group) {
  std::vector<const InventoryHost*> out;
  for (const InventoryHost& h : inv.hosts) {
    if (group == "all" || h.InGroup(group)) out.push_back(&h);
  }
  return out;
}

Status NoGroup(const Inventory& inv, const Term& t) {
  return Status::NotFound("host selector '" + t.text + "': inventory " + inv.file +
                          " has no group '" + t.name + "' (groups: " + Join(inv.Groups(), ", ") +
                          ")");
}

// Checks names, ranges and etcd vars; on success `members` holds the group's hosts.
Status CheckTerm(const Inventory& inv, const Term& t, std::vector<const InventoryHost*>* members) {
  members->clear();
  switch (t.kind) {
    case Term::Kind::kAll:
      *members = Members(inv, "all");
      return Status::Ok();
    case Term::Kind::kName: {
      *members = Members(inv, t.name);
      if (!members->empty()) return Status::Ok();
      if (const InventoryHost* h = inv.Find(t.name)) {
        members->push_back(h);
        return Status::Ok();
      }
      std::vector<std::string> names;
      for (const InventoryHost& h : inv.hosts) names.push_back(h.name);
      return Status::NotFound("host selector '" + t.text + "': inventory " + inv.file +
                              " has no group or host '" + t.name + "' (groups: " +
                              Join(inv.Groups(), ", ") + "; hosts: " + Join(names, ", ") + ")");
    }
    case Term::Kind::kIndex:
    case Term::Kind::kRandom:
    case Term::Kind::kLeader:
    case Term::Kind::kFollowers:
      break;
  }
  *members = Members(inv, t.name);
  if (members->empty()) return NoGroup(inv, t);
  const std::string size = std::to_string(members->size());
  if (t.kind == Term::Kind::kIndex && t.number >= members->size()) {
    return Status::InvalidArgument("host selector '" + t.text + "': index out of range; group " +
                                   t.name + " has " + size + " host(s), indexes 0 to " +
                                   std::to_string(members->size() - 1));
  }
  if (t.kind == Term::Kind::kRandom && t.number > members->size()) {
    return Status::InvalidArgument("host selector '" + t.text + "': asks for " +
                                   std::to_string(t.number) + " hosts but group " + t.name +
                                   " has " + size);
  }
  if (t.kind == Term::Kind::kLeader || t.kind == Term::Kind::kFollowers) {
    for (const InventoryHost* h : *members) {
      if (h->EtcdUrl().empty()) {
        return Status::InvalidArgument("host selector '" + t.text + "': host " + h->name +
                                       " of group " + t.name +
                                       " has no vars.etcd_client_url to ask etcd with");
      }
    }
  }
  return Status::Ok();
}

std::vector<std::string> SplitTerms(const std::string& selector) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : selector) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

bool IsVariableName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAsciiAlnum(c) || c == '_'; });
}

bool InventoryHost::InGroup(const std::string& group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string InventoryHost::Var(const std::string& key, const std::string& fallback) const {
  auto it = vars.find(key);
  return it == vars.end() ? fallback : it->second;
}

EtcdTls InventoryHost::EtcdTlsFiles() const {
  return EtcdTls{Var("etcd_cacert"), Var("etcd_cert"), Var("etcd_key")};
}

const InventoryHost* Inventory::Find(const std::string& name) const {
  for (const InventoryHost& h : hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

std::vector<std::string> Inventory::Groups() const {
  std::set<std::string> groups;
  for (const InventoryHost& h : hosts) groups.insert(h.groups.begin(), h.groups.end());
  return {groups.begin(), groups.end()};
}

Inventory ParseInventory(const std::string& text, const std::string& file,
                         const std::string& base_dir, Diagnostics* diags) {
  Inventory inv;
  inv.file = file;
  std::optional<YAML::Node> doc = LoadDocument(text, file, diags, kInventoryLimits);
  if (!doc) return inv;
  SpecNode root(*doc, "", std::make_shared<const std::string>(file), diags);
  if (!root.ExpectMap()) return inv;

  HostFields defaults;
  SpecNode defaults_node = root.Child("defaults");
  if (defaults_node.defined() && defaults_node.ExpectMap()) {
    defaults = ReadFields(defaults_node);
    defaults_node.Finish();
  }

  SpecNode hosts = root.Child("hosts");
  if (!hosts.defined()) {
    hosts.Error("required field is missing (expected a list of hosts)");
  } else if (hosts.IsSequence() && hosts.yaml().size() == 0) {
    hosts.Error("expected at least one host");
  }
  std::map<std::string, std::string> name_at;  // name -> "line L" of its first definition
  for (SpecNode& h : hosts.Items()) {
    if (!h.ExpectMap()) continue;
    InventoryHost host;
    SpecNode name_node = h.Child("name");
    host.name = h.RequiredString("name");
    if (!host.name.empty()) {
      const std::string where = "line " + std::to_string(name_node.yaml().Mark().line + 1);
      if (!IsHostName(host.name)) {
        name_node.Error("expected a host name of [A-Za-z0-9_.-], got '" + host.name + "'");
      } else if (host.name == "all") {
        name_node.Error("'all' is reserved for selecting every host");
      } else if (auto [it, inserted] = name_at.emplace(host.name, where); !inserted) {
        name_node.Error("duplicate host name '" + host.name + "' (first at " + it->second + ")");
      }
    }
    const std::string address = h.RequiredString("address");
    HostFields f = ReadFields(h);
    SpecNode groups_node = h.Child("groups");
    host.groups = h.StringList("groups");
    for (const std::string& g : host.groups) {
      if (!IsHostName(g) || g == "all") {
        groups_node.Error("invalid group name '" + g + "' (expected [A-Za-z0-9_.-], not 'all')");
      }
    }
    h.Finish();

    host.vars = defaults.vars;
    for (auto& [k, v] : f.vars) host.vars[k] = v;
    SshEndpoint& ep = host.ssh;
    ep.name = host.name;
    ep.address = address;
    ep.port = static_cast<int>(Pick<long long>(f.port, defaults.port, 22));
    ep.user = Pick<std::string>(f.user, defaults.user, "root");
    ep.key_file = ResolvePath(Pick<std::string>(f.key_file, defaults.key_file, ""), base_dir);
    ep.key_passphrase_env =
        Pick<std::string>(f.key_passphrase_env, defaults.key_passphrase_env, "");
    ep.known_hosts =
        ResolvePath(Pick<std::string>(f.known_hosts, defaults.known_hosts, ""), base_dir);
    ep.sudo = Pick<bool>(f.sudo, defaults.sudo, ep.user != "root");
    ep.insecure_ignore_host_key = Pick<bool>(f.insecure, defaults.insecure, false);
    ep.connect_timeout =
        Pick<Duration>(f.connect_timeout, defaults.connect_timeout, std::chrono::seconds(10));
    inv.hosts.push_back(std::move(host));
  }
  root.Finish();

  // A name that is both a group and a host would make selectors ambiguous.
  const std::vector<std::string> groups = inv.Groups();
  for (const InventoryHost& h : inv.hosts) {
    if (std::binary_search(groups.begin(), groups.end(), h.name)) {
      Diagnostic d;
      d.file = file;
      d.path = "hosts";
      d.message =
          "'" + h.name + "' is both a host and a group; selectors could not tell them apart";
      diags->Add(std::move(d));
    }
  }
  return inv;
}

Result<Inventory> LoadInventory(const std::string& path) {
  Result<std::string> text = ReadDocumentFile(path, kInventoryLimits);
  if (!text.ok()) return Status(text.status().code(), path + ": " + text.status().message());
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  const std::string base_dir = ec ? "" : abs.parent_path().string();
  Diagnostics diags;
  Inventory inv = ParseInventory(*text, path, base_dir, &diags);
  if (!diags.empty()) {
    std::string msg = "inventory " + path + " is not valid:\n" + diags.ToString();
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Status::InvalidArgument(msg);
  }
  return inv;
}

std::string DefaultSandboxInventory() { return DefaultStateDir() + "/sandbox/inventory.yaml"; }

std::string EffectiveInventory(const TargetSpec& target) {
  if (!target.inventory.empty()) return target.inventory;
  if (const char* env = std::getenv("GAMEDAY_INVENTORY"); env && *env) return env;
  return DefaultSandboxInventory();
}

void ApplyTargetSpec(const TargetSpec& target, Inventory* inventory) {
  for (InventoryHost& h : inventory->hosts) {
    if (!target.known_hosts.empty()) h.ssh.known_hosts = target.known_hosts;
    if (target.insecure_ignore_host_key) h.ssh.insecure_ignore_host_key = true;
  }
}

EtcdLeaderLookup DefaultEtcdLeaderLookup(Duration timeout) {
  return [timeout](const std::vector<const InventoryHost*>& members) -> Result<size_t> {
    std::vector<std::string> urls;
    std::vector<EtcdTls> tls;
    for (const InventoryHost* h : members) {
      urls.push_back(h->EtcdUrl());
      tls.push_back(h->EtcdTlsFiles());
    }
    return FindEtcdLeader(urls, timeout, tls);
  };
}

Status ValidateSelector(const Inventory& inventory, const std::string& selector) {
  std::vector<const InventoryHost*> members;
  for (const std::string& raw : SplitTerms(selector)) {
    Result<Term> t = ParseTerm(raw);
    if (!t.ok()) return t.status();
    if (Status s = CheckTerm(inventory, *t, &members); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ValidateSelectorSyntax(const std::string& selector) {
  for (const std::string& raw : SplitTerms(selector)) {
    if (Result<Term> t = ParseTerm(raw); !t.ok()) return t.status();
  }
  return Status::Ok();
}

Result<std::vector<InventoryHost>> SelectHosts(const Inventory& inventory,
                                               const std::string& selector, std::mt19937_64& rng,
                                               const EtcdLeaderLookup& leader_lookup) {
  std::set<std::string> chosen;
  for (const std::string& raw : SplitTerms(selector)) {
    Result<Term> t = ParseTerm(raw);
    if (!t.ok()) return t.status();
    std::vector<const InventoryHost*> members;
    if (Status s = CheckTerm(inventory, *t, &members); !s.ok()) return s;
    switch (t->kind) {
      case Term::Kind::kAll:
      case Term::Kind::kName:
        for (const InventoryHost* h : members) chosen.insert(h->name);
        break;
      case Term::Kind::kIndex:
        chosen.insert(members[t->number]->name);
        break;
      case Term::Kind::kRandom: {
        // A partial Fisher-Yates shuffle on our own Uniform: std::sample's draws differ between
        // standard libraries, and a recorded seed must replay on any build.
        const size_t n = std::min<size_t>(t->number, members.size());
        for (size_t i = 0; i < n; ++i) {
          std::swap(members[i], members[i + Uniform(rng, members.size() - i)]);
          chosen.insert(members[i]->name);
        }
        break;
      }
      case Term::Kind::kLeader:
      case Term::Kind::kFollowers: {
        Result<size_t> leader = leader_lookup(members);
        if (!leader.ok()) {
          return Status(leader.status().code(),
                        "host selector '" + t->text + "': " + leader.status().message());
        }
        for (size_t i = 0; i < members.size(); ++i) {
          if ((i == *leader) == (t->kind == Term::Kind::kLeader)) chosen.insert(members[i]->name);
        }
        break;
      }
    }
  }
  std::vector<InventoryHost> out;
  for (const InventoryHost& h : inventory.hosts) {
    if (chosen.count(h.name)) out.push_back(h);
  }
  if (out.empty()) {
    return Status::NotFound("host selector '" + selector + "' selected no host");
  }
  return out;
}

Result<std::vector<InventoryHost>> SelectHosts(const Inventory& inventory,
                                               const std::string& selector, uint64_t seed,
                                               const EtcdLeaderLookup& leader_lookup) {
  std::mt19937_64 rng(seed);
  return SelectHosts(inventory, selector, rng, leader_lookup);
}

}  // namespace gameday

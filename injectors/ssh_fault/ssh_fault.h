#pragma once

// Pieces shared by the injectors that act on hosts over SSH (service-stop, host-partition):
// loading the plan's inventory, host targets, revert records that carry the connection, and the
// on-host expiry timer that heals a fault by itself when the tool is gone.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clients/inventory/inventory.h"
#include "clients/ssh/ssh_client.h"
#include "experiments/plugins/injector.h"
#include "experiments/revert_record.h"  // HasControlChar, IsPlainText
#include "experiments/spec_reader.h"
#include "experiments/target.h"

namespace gameday {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Reports at `spec` (naming `kind`) a target that is not {kind: ssh}. Returns whether it is.
bool ExpectSshTarget(SpecNode& spec, const TargetSpec& target, const std::string& kind);

// The inventory of an ssh target, for an injector's Parse. Problems are reported at `spec` (the
// target is not ssh, the file is missing or too large) or, for the inventory's own problems,
// with the inventory's file:line:col. Returns nullopt when anything was wrong.
std::optional<Inventory> LoadTargetInventory(SpecNode& spec, const TargetSpec& target,
                                             const std::string& kind);

// A host as a fault target: id = host name, display = "h1 (198.18.7.11)".
FaultTarget HostTarget(const InventoryHost& host);
// The inventory host a target stands for.
Result<InventoryHost> FindTargetHost(const Inventory& inventory, const FaultTarget& target);

// Opens (in parallel) the session to every host a fault may act on, so a missing or changed host
// key, a refused login or an unreachable host is an error before anything is injected, and the
// moment of injection is not stretched by SSH handshakes. Every failure is in the message.
Status ConnectToTargets(SshClient& ssh, const std::vector<InventoryHost>& hosts);

// Writes the endpoint's fields (never a secret: the key's path and the passphrase variable's
// name only) into the object being written.
void WriteEndpoint(JsonWriter& w, const SshEndpoint& ep);
// Reads them back, checking each: InvalidArgument for a field WriteEndpoint could not have
// written (no address, a port out of range, a user or address outside their alphabets).
Result<SshEndpoint> ReadEndpoint(const rapidjson::Value& object);

// Replaces "{{name}}" in `text` with the host's vars (plus the built-ins name and address).
// An unknown variable is an error naming it, the host and `field`.
Result<std::string> ExpandHostVars(const std::string& text, const InventoryHost& host,
                                   const std::string& field);
// Checks "{{...}}" syntax only; "" when fine, else the problem.
std::string CheckTemplate(const std::string& text);

// A 12-hex-digit id that is stable for the same input (FNV-1a).
std::string ShortHash(const std::string& text);

// A detached timer on the host that heals the fault after a delay, unless cancelled first. It
// runs in its own session (setsid + nohup), so it outlives the SSH session, the tool, the tool's
// machine and its journal. Its pid is kept in `pid_file` on the host, whose path is part of the
// revert record (the record is written before the timer exists); `marker` appears in the timer's
// command line so a cancel never signals a process that merely reused the pid.
struct OnHostExpiry {
  std::string marker;    // gameday-expiry-<id>
  std::string pid_file;  // <state_dir>/<marker>.pid

  void Write(JsonWriter& w) const;  // writes "expiry": {...} into the current object
  static std::optional<OnHostExpiry> Read(const rapidjson::Value& record);
};

// The expiry for fault `id` on `host`; state_dir = vars.gameday_state_dir or /run/gameday.
OnHostExpiry MakeExpiry(const InventoryHost& host, const std::string& id);
// Shell: starts the timer that runs `heal` after `after` (rounded up to whole seconds).
std::string StartExpiryScript(const OnHostExpiry& e, Duration after, const std::string& heal);
// Shell: cancels the timer if it is still pending (idempotent; harmless if it already fired).
std::string CancelExpiryScript(const OnHostExpiry& e);

// "gameday-expiry-" and 12 lowercase hex digits: the only markers MakeExpiry makes (a marker
// goes into shell scripts unquoted).
bool ValidExpiryMarker(const std::string& marker);

// Parses a revert record's JSON text (gameday::ParseJson, limited); errors name `kind`.
Result<rapidjson::Document> ParseRecord(const std::string& record, const std::string& kind);

// Reports at `field` a selector that `inventory` cannot satisfy, or without an inventory (plan
// read with check_inventory off, or the inventory had problems of its own) a selector whose
// grammar is wrong; "" is left to the field's own required/optional check.
void CheckHostSelector(SpecNode& spec, const std::optional<Inventory>& inventory,
                       const std::string& field, const std::string& selector);

// Base of the injector kinds that act on hosts over SSH: they share one client (and its session
// pool) between the kind's reverts and the injectors it parses.
class SshInjectorKind : public InjectorKind {
 public:
  SshInjectorKind(std::string name, std::shared_ptr<SshClient> ssh)
      : name_(std::move(name)), ssh_(std::move(ssh)) {}

  std::string Name() const override { return name_; }

 protected:
  // The frame of Parse: a map with the required `hosts` selector, then the kind's own fields
  // (`fields(s)` fills the SpecT), the target's inventory, `hosts` and `more_selectors` checked
  // against it, and no unknown fields. nullptr after any diagnostic, else an InjectorT made from
  // the SpecT, the inventory and the shared client. With target.check_inventory off no inventory
  // is read: selectors are checked for grammar only, and the InjectorT gets an empty inventory
  // (such a plan is for validation; runs read it with the inventory).
  template <typename InjectorT, typename SpecT, typename Fields>
  std::unique_ptr<Injector> ParseHostsSpec(
      SpecNode& spec, const TargetSpec& target, Fields fields,
      std::initializer_list<std::pair<const char*, std::string SpecT::*>> more_selectors = {})
      const {
    const size_t before = spec.diagnostics()->size();
    if (!spec.ExpectMap()) return nullptr;
    SpecT s;
    s.hosts = spec.RequiredString("hosts");
    fields(s);
    std::optional<Inventory> inventory;
    if (ExpectSshTarget(spec, target, name_) && target.check_inventory) {
      inventory = LoadTargetInventory(spec, target, name_);
    }
    CheckHostSelector(spec, inventory, "hosts", s.hosts);
    for (const auto& [field, member] : more_selectors) {
      CheckHostSelector(spec, inventory, field, s.*member);
    }
    spec.Finish();
    if (spec.diagnostics()->size() != before) return nullptr;
    if (!inventory && target.check_inventory) return nullptr;
    return std::make_unique<InjectorT>(std::move(s), std::move(inventory).value_or(Inventory{}),
                                       ssh_);
  }

  const std::string name_;
  std::shared_ptr<SshClient> ssh_;
};

// A random token that tells one fault (one injector) from others of the same run on the same
// host, for the ids of its on-host timers (and chains).
std::string RandomFaultToken();

// The hosts `selector` picks as fault targets, once `check` (when given) accepted each of them
// and sessions to all are open (ConnectToTargets). Random terms draw from `seed` (the step's
// InjectorEnv::seed), so the same --seed picks the same hosts.
Result<std::vector<FaultTarget>> DiscoverHostTargets(
    SshClient& ssh, const Inventory& inventory, const std::string& selector, uint64_t seed,
    const std::function<Status(const InventoryHost&)>& check = nullptr);

// A revert record: a JSON object with the endpoint's fields and what `fields` writes.
std::string HostRevertRecord(const SshEndpoint& ep, const std::function<void(JsonWriter&)>& fields);

// Runs a fault's script on the host. A non-zero exit is an error "<what> failed: <summary>":
// FailedPrecondition for exit status 3 (the host lacks what the fault needs), else Internal.
Status RunFaultScript(SshClient& ssh, const SshEndpoint& ep, const std::string& script,
                      Duration timeout, const std::string& what);

// A revert record read back: the document, and the endpoint it names.
struct HostRevert {
  rapidjson::Document record;
  SshEndpoint endpoint;
};
// Parses the record and reads its endpoint and on-host expiry, refusing (InvalidArgument) a
// record whose endpoint or expiry is invalid; errors name `kind`.
Result<HostRevert> ReadHostRevert(const std::string& record, const std::string& kind);

// Runs a revert on the host: `heal` first, and only once that worked, the cancel of the record's
// on-host expiry, so a failed revert keeps the timer as the backstop. A failure is Internal:
// "<kind> revert on <host>: <what> failed: <summary>".
Status RunRevertScript(SshClient& ssh, const HostRevert& revert, const std::string& heal,
                       Duration timeout, const std::string& kind, const std::string& what);

// ---- Kubernetes nodes and their hosts (container-kill, node-failure) ----

// The inventory host of Kubernetes node `node`: the one host whose vars.k8s_node is `node`, else
// the host named `node` (unless that host names another node in vars.k8s_node). NotFound naming
// both ways otherwise; InvalidArgument when two hosts claim the node.
Result<InventoryHost> FindNodeHost(const Inventory& inventory, const std::string& node);

// For kinds whose experiment target is the cluster but which reach its nodes over SSH: reads the
// spec's `inventory` and `known_hosts` fields (relative paths from the plan's folder) into an ssh
// target for LoadTargetInventory. An empty string is reported at its field.
TargetSpec NodeInventoryTarget(SpecNode& spec, const TargetSpec& cluster_target);

// ---- iptables chains (host-partition, node-failure's api-cut) ----

// GAMEDAY- and 12 lowercase hex digits: the only chains IptablesChain makes; a revert record
// naming anything else is refused, so a corrupted record never touches someone else's rules.
std::string IptablesChain(const std::string& id);
bool ValidIptablesChain(const std::string& chain);
// Shell: creates (or flushes) `chain`, appends `rules` (each the quoted arguments after
// `iptables -w -A CHAIN`, built and checked by the caller) and jumps to it first from INPUT and
// OUTPUT. One chain serves both: in INPUT only -s rules match a peer, in OUTPUT only -d rules.
std::string InstallChainScript(const std::string& chain, const std::vector<std::string>& rules);
// Shell: removes the jumps and the chain; idempotent. Exit status 0 only when the chain is gone.
std::string TeardownChainScript(const std::string& chain);

}  // namespace gameday

#pragma once

#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "clients/etcd/etcd_client.h"
#include "clients/ssh/ssh_client.h"
#include "experiments/spec_reader.h"
#include "experiments/status.h"
#include "experiments/target.h"

namespace gameday {

// One host of an inventory, with the inventory's defaults already applied.
struct InventoryHost {
  std::string name;
  SshEndpoint ssh;
  std::vector<std::string> groups;
  std::map<std::string, std::string> vars;

  bool InGroup(const std::string& group) const;
  std::string Var(const std::string& key, const std::string& fallback = "") const;
  // The etcd client URL (vars.etcd_client_url) and TLS files (vars.etcd_cacert/cert/key).
  std::string EtcdUrl() const { return Var("etcd_client_url"); }
  EtcdTls EtcdTlsFiles() const;
};

// An inventory file:
//
//   defaults: {user, port, key_file, key_passphrase_env, known_hosts, sudo,
//              insecure_ignore_host_key, connect_timeout, vars}
//   hosts:
//     - {name, address, port, user, key_file, key_passphrase_env, known_hosts, sudo,
//        insecure_ignore_host_key, connect_timeout, groups: [masters, etcd], vars: {k: v}}
//
// Host fields override the defaults; vars are merged (the host's win). `sudo` defaults to true
// for users other than root. Relative key_file and known_hosts paths resolve against the
// inventory's folder, "~/" against $HOME. No key_file means the ssh-agent.
struct Inventory {
  std::string file;
  std::vector<InventoryHost> hosts;

  const InventoryHost* Find(const std::string& name) const;
  std::vector<std::string> Groups() const;  // sorted, unique
};

// [A-Za-z_][A-Za-z0-9_]*: the name of an environment or template variable. Checked by hand, not
// with std::regex, whose matcher recurses per character and so overflows on long input.
bool IsVariableName(std::string_view s);

// Parses an inventory document. Every problem goes into `diags` with file:line:col and the
// field path; the inventory is usable only when `diags` stayed empty.
Inventory ParseInventory(const std::string& text, const std::string& file,
                         const std::string& base_dir, Diagnostics* diags);
// Reads and parses `path`; the error lists every problem.
Result<Inventory> LoadInventory(const std::string& path);
// Applies a plan's ssh target: its known_hosts replaces the inventory's, and its explicit
// insecure_ignore_host_key turns the check off for every host.
void ApplyTargetSpec(const TargetSpec& target, Inventory* inventory);

// DefaultStateDir() + "/sandbox/inventory.yaml": where `gameday sandbox up` writes the HA
// sandbox's inventory (sandbox/cluster_sandbox.h), so that plans find it without naming it.
std::string DefaultSandboxInventory();
// The inventory an ssh target uses: its own, else $GAMEDAY_INVENTORY, else the sandbox's.
std::string EffectiveInventory(const TargetSpec& target);

// Host selectors, as plans write them (comma-separated terms, results merged in inventory
// order):
//   all                      every host
//   NAME                     a group, else a host of that name
//   GROUP[i]                 the i-th host (0-based, inventory order) of a group
//   random N of GROUP        N distinct hosts drawn with the caller's seeded generator
//   etcd-leader [of GROUP]   the member that etcd itself reports as leader (GROUP: etcd)
//   etcd-followers [of GROUP] every other member of the group
// etcd roles are found at selection time through each member's vars.etcd_client_url
// (POST /v3/maintenance/status). A selection that comes out empty is an error.
using EtcdLeaderLookup =
    std::function<Result<size_t>(const std::vector<const InventoryHost*>& members)>;

// The default lookup: asks every member's etcd at once, each within `timeout`.
EtcdLeaderLookup DefaultEtcdLeaderLookup(Duration timeout = std::chrono::seconds(2));

// Checks syntax, names, indexes and counts without contacting any host.
Status ValidateSelector(const Inventory& inventory, const std::string& selector);
// Checks the selector's grammar only, with no inventory (`gameday validate` without one).
Status ValidateSelectorSyntax(const std::string& selector);

Result<std::vector<InventoryHost>> SelectHosts(
    const Inventory& inventory, const std::string& selector, std::mt19937_64& rng,
    const EtcdLeaderLookup& leader_lookup = DefaultEtcdLeaderLookup());

// The same with random terms drawn from `seed` alone (an InjectorEnv::seed, derived from the
// run's --seed): the same seed picks the same hosts with any build of gameday.
Result<std::vector<InventoryHost>> SelectHosts(
    const Inventory& inventory, const std::string& selector, uint64_t seed,
    const EtcdLeaderLookup& leader_lookup = DefaultEtcdLeaderLookup());

}  // namespace gameday

#pragma once

#include <string>
#include <vector>

namespace gameday {

// What a plan acts on; given to every injector and verifier kind when it parses its spec.
struct TargetSpec {
  std::string kind = "local";  // local | kubernetes | ssh
  std::string kubeconfig;      // kubernetes: path; empty = $KUBECONFIG or ~/.kube/config, then
                               // DefaultSandboxKubeconfig() (see clients/kubernetes)
  std::string context;         // kubernetes: context name; empty = current-context
  std::string inventory;       // ssh: inventory file (relative paths resolve against the plan);
                               // empty = $GAMEDAY_INVENTORY, else DefaultSandboxInventory()
  std::string known_hosts;     // ssh: known_hosts file; empty = the inventory's or ~/.ssh's
  bool insecure_ignore_host_key = false;  // ssh: skip the host key check (explicit opt-in only)
  std::vector<std::string> protected_namespaces = {"kube-system"};
  bool allow_protected = false;
  // Not a plan field: set from PlanOptions::check_inventory. False while only the plan's
  // structure is validated; kinds then read no inventory (see experiments/plan.h).
  bool check_inventory = true;
};

// DefaultStateDir() + "/sandbox": where `gameday sandbox up` keeps the HA sandbox and writes
// inventory.yaml, known_hosts and kubeconfig, so that plans find them without naming them.
std::string DefaultSandboxDir();
std::string DefaultSandboxInventory();   // DefaultSandboxDir() + "/inventory.yaml"
std::string DefaultSandboxKubeconfig();  // DefaultSandboxDir() + "/kubeconfig"

// The inventory an ssh target uses: its own, else $GAMEDAY_INVENTORY, else the sandbox's.
std::string EffectiveInventory(const TargetSpec& target);

}  // namespace gameday

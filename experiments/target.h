#pragma once

#include <string>
#include <vector>

namespace gameday {

// What a plan acts on; given to every injector and verifier kind when it parses its spec.
struct TargetSpec {
  std::string kind = "local";  // local | kubernetes | ssh
  std::string kubeconfig;      // kubernetes: path; empty = the Kubernetes client's default search
  std::string context;         // kubernetes: context name; empty = current-context
  std::string inventory;       // ssh: inventory file (relative paths resolve against the plan);
                               // empty = the inventory's default (EffectiveInventory)
  std::string known_hosts;     // ssh: known_hosts file; empty = the inventory's or ~/.ssh's
  bool insecure_ignore_host_key = false;  // ssh: skip the host key check (explicit opt-in only)
  std::vector<std::string> protected_namespaces = {"kube-system"};
  bool allow_protected = false;
  // Not a plan field: set from PlanOptions::check_inventory. False while only the plan's
  // structure is validated; kinds then read no inventory (see experiments/plan.h).
  bool check_inventory = true;
};

}  // namespace gameday

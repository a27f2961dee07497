#pragma once

#include <string>
#include <vector>

namespace gameday {

// What a plan acts on; given to every injector and verifier kind when it parses its spec.
struct TargetSpec {
  std::string kind = "local";  // local | kubernetes | ssh
  std::string kubeconfig;      // kubernetes: path; empty = $KUBECONFIG or ~/.kube/config
  std::string context;         // kubernetes: context name; empty = current-context
  std::string inventory;       // ssh: inventory file (relative paths resolve against the plan)
  std::string known_hosts;     // ssh: known_hosts file; empty = the inventory's or ~/.ssh's
  bool insecure_ignore_host_key = false;  // ssh: skip the host key check (explicit opt-in only)
  std::vector<std::string> protected_namespaces = {"kube-system"};
  bool allow_protected = false;
};

}  // namespace gameday

#pragma once

#include <map>
#include <string>

#include "experiments/status.h"
#include "sandbox/local_layout.h"

namespace gameday::local_sandbox {

struct ServerState {
  std::string status;        // UP, DOWN, "UP 1/2", MAINT, ...
  std::string check_status;  // L7OK, L4CON, ...
  std::string check_desc;
};

// Per-server states of the replicas backend, from HAProxy's CSV stats.
Result<std::map<std::string, ServerState>> HaproxyServers(const Layout& l);

}  // namespace gameday::local_sandbox

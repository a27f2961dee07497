#pragma once

#include <memory>

#include "clients/ssh/ssh_client.h"
#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "host-partition": over SSH, installs iptables rules on each selected host that drop its
// traffic to and/or from the other side's hosts, in a chain of its own, exempting the tool's own
// SSH connection, together with an on-host expiry that removes them by itself. See
// injectors/host_partition/README.md.
std::unique_ptr<InjectorKind> MakeHostPartitionInjectorKind();
// The same with a caller's session pool (tests; sharing sessions with other SSH kinds).
std::unique_ptr<InjectorKind> MakeHostPartitionInjectorKind(std::shared_ptr<SshClient> ssh);

}  // namespace gameday

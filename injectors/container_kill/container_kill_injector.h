#pragma once

#include <memory>

#include "clients/ssh/ssh_client.h"
#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "container-kill": kills (a signal of choice) or freezes (SIGSTOP, resumed by SIGCONT on
// revert) the main process of one container of each selected pod, on the pod's node over SSH (the
// inventory host that maps to the pod's spec.nodeName), and reports the container's restartCount
// before and after. See injectors/container_kill/README.md.
std::unique_ptr<InjectorKind> MakeContainerKillInjectorKind();
// The same with a caller's session pool (tests; sharing sessions with other SSH kinds).
std::unique_ptr<InjectorKind> MakeContainerKillInjectorKind(std::shared_ptr<SshClient> ssh);

}  // namespace gameday

#pragma once

#include <memory>

#include "clients/ssh/ssh_client.h"
#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "service-stop": over SSH, stops a service on the selected inventory hosts (a systemd unit,
// a runit service, a process by pid file or name, or a kubeadm static pod) and starts it again
// on revert, with an on-host expiry that starts it by itself if the tool is gone. See
// injectors/service_stop/README.md.
std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind();
// The same with a caller's session pool (tests; sharing sessions with other SSH kinds).
std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind(std::shared_ptr<SshClient> ssh);

}  // namespace gameday

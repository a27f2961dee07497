#pragma once

#include <memory>

#include "clients/ssh/ssh_client.h"
#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "node-failure": makes Kubernetes nodes disappear for the step's duration, on their hosts
// over SSH: stops the kubelet (mode kubelet-stop) or drops the node's traffic to the API server
// with iptables (mode api-cut), with an on-host expiry; the revert brings the node back. The
// result's `observed` carries when the node went NotReady and when it was Ready again. See
// injectors/node_failure/README.md.
std::unique_ptr<InjectorKind> MakeNodeFailureInjectorKind();
// The same with a caller's session pool (tests).
std::unique_ptr<InjectorKind> MakeNodeFailureInjectorKind(std::shared_ptr<SshClient> ssh);

}  // namespace gameday

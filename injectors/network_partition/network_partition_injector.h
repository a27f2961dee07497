#pragma once

#include <memory>

#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "network-partition" (Kubernetes): NetworkPolicies that cut the selected pods off from
// every other pod and address - ingress, egress or both - while traffic among the selected pods
// still flows. Each policy is labelled app.kubernetes.io/managed-by=gameday and gameday.io/run-id,
// annotated with an expiry, and deleted on revert (or by `gameday recover`). See
// injectors/network_partition/README.md.
std::unique_ptr<InjectorKind> MakeNetworkPartitionInjectorKind();

}  // namespace gameday

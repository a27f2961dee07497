#include "injectors/registry.h"

#include "injectors/container_kill/container_kill_injector.h"
#include "injectors/host_partition/host_partition_injector.h"
#include "injectors/network_partition/network_partition_injector.h"
#include "injectors/node_drain/node_drain_injector.h"
#include "injectors/node_failure/node_failure_injector.h"
#include "injectors/pod_kill/pod_kill_injector.h"
#include "injectors/process/process_injector.h"
#include "injectors/service_stop/service_stop_injector.h"

namespace gameday {

void RegisterBuiltinInjectors(Registry<InjectorKind>& registry) {
  // One line per kind.
  RegisterOrDie(registry, MakeProcessInjectorKind());
  RegisterOrDie(registry, MakePodKillInjectorKind());
  RegisterOrDie(registry, MakeNodeDrainInjectorKind());
  RegisterOrDie(registry, MakeNodeCordonInjectorKind());
  RegisterOrDie(registry, MakeNetworkPartitionInjectorKind());
  RegisterOrDie(registry, MakeServiceStopInjectorKind());
  RegisterOrDie(registry, MakeHostPartitionInjectorKind());
  RegisterOrDie(registry, MakeContainerKillInjectorKind());
  RegisterOrDie(registry, MakeNodeFailureInjectorKind());
}

}  // namespace gameday

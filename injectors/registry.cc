#include "injectors/registry.h"

#include <cstdio>
#include <cstdlib>

#include "injectors/host_partition/host_partition_injector.h"
#include "injectors/network_partition/network_partition_injector.h"
#include "injectors/node_drain/node_drain_injector.h"
#include "injectors/pod_kill/pod_kill_injector.h"
#include "injectors/process/process_injector.h"
#include "injectors/service_stop/service_stop_injector.h"

namespace gameday {
namespace {

// A duplicate kind name is a programming error in this file, never a user's: fail loudly.
void Add(Registry<InjectorKind>& registry, std::unique_ptr<InjectorKind> kind) {
  Status s = registry.Register(std::move(kind));
  if (!s.ok()) {
    std::fprintf(stderr, "gameday: %s\n", s.ToString().c_str());
    std::abort();
  }
}

}  // namespace

void RegisterBuiltinInjectors(Registry<InjectorKind>& registry) {
  // One line per kind.
  Add(registry, MakeProcessInjectorKind());
  Add(registry, MakePodKillInjectorKind());
  Add(registry, MakeNodeDrainInjectorKind());
  Add(registry, MakeNodeCordonInjectorKind());
  Add(registry, MakeNetworkPartitionInjectorKind());
  Add(registry, MakeServiceStopInjectorKind());
  Add(registry, MakeHostPartitionInjectorKind());
}

}  // namespace gameday

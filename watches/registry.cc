#include "watches/registry.h"

#include "watches/kubernetes/kubernetes_watch.h"

namespace gameday {

void RegisterBuiltinWatches(Registry<WatchKind>& registry) {
  // One line per kind.
  RegisterOrDie(registry, MakeKubernetesWatchKind());
}

}  // namespace gameday

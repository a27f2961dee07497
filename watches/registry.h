#pragma once

#include "experiments/plugins/watch.h"
#include "experiments/registry.h"

namespace gameday {

// Registers every built-in watch kind, one line each.
void RegisterBuiltinWatches(Registry<WatchKind>& registry);

}  // namespace gameday

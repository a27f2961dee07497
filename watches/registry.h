#pragma once

#include "experiments/registry.h"
#include "watches/watch.h"

namespace gameday {

// Registers every built-in watch kind, one line each.
void RegisterBuiltinWatches(Registry<WatchKind>& registry);

}  // namespace gameday

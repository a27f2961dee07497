#pragma once

#include "experiments/plugins/injector.h"
#include "experiments/registry.h"

namespace gameday {

// Adds every injector kind that ships with gameday. Built in main (no static self-registration),
// so a test can build a registry holding only what it needs.
void RegisterBuiltinInjectors(Registry<InjectorKind>& registry);

}  // namespace gameday

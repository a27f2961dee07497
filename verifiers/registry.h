#pragma once

#include "experiments/plugins/verifier.h"
#include "experiments/registry.h"

namespace gameday {

// Registers every verifier kind that ships with gameday: one line per kind in registry.cc.
void RegisterBuiltinVerifiers(Registry<VerifierKind>& registry);

}  // namespace gameday

#pragma once

#include <memory>

#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "node-drain": cordons the selected nodes, then evicts their pods through the Eviction API,
// so PodDisruptionBudgets are respected. Revert uncordons. See injectors/node_drain/README.md.
std::unique_ptr<InjectorKind> MakeNodeDrainInjectorKind();

// Kind "node-cordon": only marks the selected nodes unschedulable. Revert uncordons.
std::unique_ptr<InjectorKind> MakeNodeCordonInjectorKind();

}  // namespace gameday

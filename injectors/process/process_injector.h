#pragma once

#include <memory>

#include "experiments/plugins/injector.h"

namespace gameday {

// The `process` injector kind: kills, freezes (SIGSTOP) or stops-and-restarts local processes
// matched by pid file, name or command-line pattern. See injectors/process/README.md.
std::unique_ptr<InjectorKind> MakeProcessInjectorKind();

}  // namespace gameday

#pragma once

#include <memory>

#include "experiments/plugins/injector.h"

namespace gameday {

// Kind "pod-kill": deletes the selected Kubernetes pods (with a UID precondition, so a pod that
// was replaced under the same name is never hit). See injectors/pod_kill/README.md.
std::unique_ptr<InjectorKind> MakePodKillInjectorKind();

}  // namespace gameday

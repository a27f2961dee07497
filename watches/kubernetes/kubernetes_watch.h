#pragma once

#include <memory>

#include "experiments/plugins/watch.h"

namespace gameday {

// Kind "kubernetes": pod and node changes from the target cluster's watch API.
std::unique_ptr<WatchKind> MakeKubernetesWatchKind();

}  // namespace gameday

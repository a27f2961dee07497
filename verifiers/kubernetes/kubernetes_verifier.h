#pragma once

#include <memory>

#include "experiments/plugins/verifier.h"

namespace gameday {

// Kind "kubernetes": a workload has its desired number of ready replicas, a selector's pods are
// all Ready, or a node is Ready - read from the API server on the shared probe loop. An API
// server that cannot answer makes the sample unknown, not unhealthy: the monitoring path is down,
// not the workload. See verifiers/kubernetes/README.md.
std::unique_ptr<VerifierKind> MakeKubernetesVerifierKind();

}  // namespace gameday

#pragma once

#include <memory>

#include "experiments/plugins/verifier.h"

namespace gameday {

// Kind "apiserver": GET /readyz (or /livez, /healthz) of the target cluster's API server through
// its kubeconfig, on the shared probe loop; healthy on 200. No answer is unhealthy here: for a
// control-plane experiment the API server is the thing under test. See
// verifiers/apiserver/README.md.
std::unique_ptr<VerifierKind> MakeApiserverVerifierKind();

}  // namespace gameday

#pragma once

#include <memory>

#include "experiments/plugins/verifier.h"

namespace gameday {

// Kind "http": one HTTP(S) request per probe on the shared libcurl multi loop; healthy when the
// status, body and latency meet the spec. See verifiers/http/README.md.
std::unique_ptr<VerifierKind> MakeHttpVerifierKind();

}  // namespace gameday

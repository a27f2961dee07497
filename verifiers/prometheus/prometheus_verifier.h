#pragma once

#include <memory>

#include "experiments/plugins/verifier.h"

namespace gameday {

// Kind "prometheus": an instant PromQL query (GET /api/v1/query) per probe on the shared libcurl
// multi loop; healthy when the single value it returns meets the condition. A failed query, an
// empty or non-scalar result, or Prometheus being down gives an unknown sample: the monitoring
// system is not the service. See verifiers/prometheus/README.md.
std::unique_ptr<VerifierKind> MakePrometheusVerifierKind();

}  // namespace gameday

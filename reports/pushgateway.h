#pragma once

#include <string>

#include "experiments/result.h"
#include "experiments/status.h"

namespace gameday {

// The run's numbers in the Prometheus text exposition format (0.0.4), all gauges:
//
//   gameday_recovery_seconds{experiment,verifier}   time to recover (absent: no impact or never
//                                                    recovered; see gameday_recovered)
//   gameday_detect_seconds{experiment,verifier}     time to detect (absent: no impact)
//   gameday_downtime_seconds{experiment,verifier}   time covered by failing samples
//   gameday_availability{experiment,verifier}       passing / (passing + failing), 0..1
//   gameday_recovered{experiment,verifier}          1 when recovered or never impacted, else 0
//   gameday_experiment_passed{experiment}           1 passed, 0 otherwise
//   gameday_run_passed                              1 when every experiment passed
//
// Label values are escaped as the format requires (\\, \" and \n).
std::string RenderPushMetrics(const RunResult& run);

// PUTs RenderPushMetrics(run) to `pushgateway_url`/metrics/job/<job>/run_id/<run id>, replacing
// whatever that group held. Grouping-key values that cannot sit in a URL path segment as they
// are (empty, or with a '/') are sent base64url-encoded (`job@base64/...`), as the Pushgateway
// documents. Bounded by 10 s. Unavailable when the gateway cannot be reached or answers 5xx,
// InvalidArgument when it rejects the push (its message is included).
Status PushMetrics(const RunResult& run, const std::string& pushgateway_url,
                   const std::string& job);

}  // namespace gameday

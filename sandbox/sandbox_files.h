#pragma once

#include <string>

#include "experiments/status.h"
#include "sandbox/host_tools.h"
#include "sandbox/local_layout.h"

namespace gameday::local_sandbox {

// HAProxy's configuration for `l`: the frontend, the replicas backend with fast health checks and
// retries, and the stats frontend (with Prometheus /metrics).
std::string HaproxyConfig(const Layout& l);

// Writes the sandbox: haproxy.cfg, one runit service directory per replica and one for HAProxy,
// and the log folder.
Status WriteSandboxFiles(const Layout& l, const Tools& tools);

}  // namespace gameday::local_sandbox

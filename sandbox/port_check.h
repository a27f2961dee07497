#pragma once

#include <string>

#include "experiments/status.h"

namespace gameday::local_sandbox {

// OK when `port` on 127.0.0.1 can be bound (with SO_REUSEADDR, as HAProxy and the demo bind);
// else FailedPrecondition naming `what` wants it and, when it can tell, who holds it.
Status CheckPortFree(int port, const std::string& what);

}  // namespace gameday::local_sandbox

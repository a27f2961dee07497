#pragma once

#include "experiments/clock.h"
#include "experiments/status.h"
#include "sandbox/local_layout.h"

namespace gameday::local_sandbox {

// Waits until every replica is UP with a passing check in HAProxy and the frontend answers 200.
// Internal when the sandbox's runsvdir exits meanwhile; DeadlineExceeded after `timeout`, naming
// what is not ready with the tails of the logs that say why.
Status WaitReady(const Layout& l, Duration timeout, Clock* clock);

}  // namespace gameday::local_sandbox

#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"
#include "sandbox/local_layout.h"
#include "sandbox/proc_table.h"

namespace gameday::local_sandbox {

// Every live process that belongs to the sandbox in `l`: by working directory or argument inside
// the state directory, or by membership in the process group of its runsvdir. Only the sandbox's
// own process names count, so a person's shell in the state directory is never signalled.
std::vector<ProcInfo> SandboxProcesses(const Layout& l);

// "runsv (pid 12), haproxy (pid 13)".
std::string DescribeProcs(const std::vector<ProcInfo>& procs);

// Collects the exit status of `pid` if it is our child (the runsvdir Up started in this
// process), so it does not linger as a zombie; harmless otherwise.
void Reap(pid_t pid);

// True when the runsvdir recorded in `l` is alive and is the one of this sandbox.
bool IsOurRunsvdir(const Layout& l);

// runit's view of a service: its pid (0 when none) and the text of supervise/stat.
pid_t SupervisedPid(const Layout& l, const std::string& service);
std::string SupervisedState(const Layout& l, const std::string& service);

// Stops whatever of the sandbox in `l` is still running: supervisors first and at once (so
// nothing restarts), then services with SIGTERM, then SIGKILL after `grace`. Bounded.
Status StopLeftovers(const Layout& l, Clock* clock, Duration grace);

}  // namespace gameday::local_sandbox

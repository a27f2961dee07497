#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday::local_sandbox {

// Starting programs: posix_spawn, safe from a multithreaded caller, with a clean signal state
// (the caller may block SIGTERM for a signal thread; runit and HAProxy must not inherit that)
// and no inherited descriptors (a test's listening socket must not leak into runsvdir).

struct SpawnOptions {
  std::string cwd;
  std::string output;  // stdout and stderr appended here; empty = /dev/null
  bool new_session = false;
};

// Starts argv (argv[0] a path) and returns its pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);

// Runs a command to completion, killing it after `timeout`. Returns its exit code (or 128 +
// signal), and its output when `output` is set.
Result<int> RunCommand(const std::vector<std::string>& argv, const std::string& output,
                       Duration timeout, Clock* clock);

}  // namespace gameday::local_sandbox

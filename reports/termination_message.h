#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "experiments/result.h"

namespace gameday {

// The verdict of a run in a few lines, for Kubernetes' termination message (`gameday run
// --termination-log /dev/termination-log`), which `kubectl describe pod` and `kubectl get pod -o
// jsonpath='{..terminated.message}'` show. The kubelet keeps at most 4096 bytes of it.

// What the kubelet keeps of a container's termination message.
inline constexpr size_t kTerminationMessageLimit = 4096;

// The text, never longer than `limit` bytes (at least 256), valid UTF-8, secrets redacted:
//
//   failed: plan shop-ha, run 20250315T093012Z-…, 1 of 3 experiments failed, exit 1
//   note: pushgateway: …                      (one per entry of `notes`, if any)
//   passed pod-kill: recovered in 2.34 s (2.32–2.36)
//   failed node-drain: not recovered; why: frontend recovers within 10s: did not recover
//   …
//
// The first word is the run's verdict from its exit code (DESIGN.md): 0 "passed", 1 "failed",
// anything else "aborted" (a person must look). Then one line per experiment: its outcome
// (OutcomeText), the recovery of its slowest verifier with its error bar ("no impact", "not
// recovered", or "no faults" when nothing was injected), and the first reason when it did not
// pass. A line is cut at 400 bytes; experiments that do not fit end in one line "… and N more
// experiment(s): see result.json". `notes` are what changed the exit code after the run (a
// report that could not be written, a failed push, a signal).
std::string RenderTerminationMessage(const RunResult& run, int exit_code,
                                     const std::vector<std::string>& notes = {},
                                     size_t limit = kTerminationMessageLimit);

}  // namespace gameday

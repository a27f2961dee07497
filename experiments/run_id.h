#pragma once

#include <string>

#include "experiments/clock.h"

namespace gameday {

// A new run's id: the UTC second it started (so ids sort by time and a person can place them)
// and 128 bits from the operating system's random source, e.g.
// "20250315T093012Z-3f9c0a6e1b2d4c5e8f7a6b5c4d3e2f1a" (49 characters). Independent of --seed
// and of the process id, so runs that pin the same seed, or run as pid 1 in containers, never
// share an id (and so never overwrite each other's journal, report folder, history rows or
// Pushgateway group). Only digits, letters and '-', 49 characters: usable as a file name and as
// a Kubernetes label value (at most 63 characters) as it is.
std::string NewRunId(WallTime now);

}  // namespace gameday

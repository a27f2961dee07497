#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "experiments/plan.h"
#include "experiments/status.h"

namespace gameday {

// Chooses which of `count` candidates a step acts on, by the step's mode; the same seed and
// candidates always give the same choice. An empty candidate list is an error, never a silent
// pass. Returns candidate indices in ascending order.
Result<std::vector<size_t>> SelectTargets(size_t count, const SelectSpec& select,
                                          std::mt19937_64& rng);

// Uniform in [0, n), n > 0, without the implementation-defined std::uniform_int_distribution, so
// a recorded seed replays the same choice with any standard library.
uint64_t Uniform(std::mt19937_64& rng, uint64_t n);

// How many targets a mode takes out of `count` (before random choice); for random-max-percent the
// upper bound.
size_t SelectionSize(size_t count, const SelectSpec& select);

}  // namespace gameday

#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "experiments/result.h"
#include "experiments/status.h"

namespace gameday {

// Calls `fn` for every sample of `v` in send order: the inline samples, or those of its stream in
// the run's sample store (run.dir + v.store->file). A missing or damaged store is an error that
// names the file; the samples before the damage were delivered.
Status VisitSamples(const RunResult& run, const VerifierResult& v,
                    const std::function<void(const Sample&)>& fn);

// The same for every verifier of every experiment in one pass over the store:
// fn(experiment index, verifier index, sample).
Status VisitAllSamples(const RunResult& run,
                       const std::function<void(size_t, size_t, const Sample&)>& fn);

// True when `file` may name a sample store in result.json: a plain file name (not empty, no '/',
// no "..", no NUL byte), so that the store sits next to result.json.
bool IsSampleStoreFileName(std::string_view file);

// The last sample of `samples` that was not passing (unhealthy or unknown), as a LastError with
// t_send as given; nullopt when every sample passed. For results whose samples are inline.
std::optional<LastError> LastErrorOf(const std::vector<Sample>& samples);

}  // namespace gameday

#pragma once

#include <string>

#include "experiments/result.h"
#include "experiments/status.h"

namespace gameday {

// The value of the top-level "format" field. The shape is documented in reports/README.md; fields
// may be added within v1 (readers ignore fields they do not know), never renamed or removed.
inline constexpr char kResultFormatV1[] = "gameday.result/v1";

// The run as the stable JSON result document (RESULT.json), from which every other report can be
// regenerated. Times on the experiment axis are rounded to microseconds, latencies to 0.001 ms
// and wall times to milliseconds; ratios and measured values keep full double precision. Text
// that is not valid UTF-8 is repaired with U+FFFD.
std::string RenderJson(const RunResult& run);

// Reads a document written by RenderJson. For values already at the precision above,
// ParseJsonResult(RenderJson(r)) equals r exactly. A malformed document gives InvalidArgument
// naming the line/column (syntax) or the field path (shape) of each problem.
Result<RunResult> ParseJsonResult(const std::string& text);

}  // namespace gameday

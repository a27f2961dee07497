#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <string_view>

#include "experiments/status.h"

namespace gameday {

// Limits for JSON that gameday did not write itself: API answers, HTTP bodies, journals, results.
struct JsonLimits {
  size_t max_bytes = size_t{64} << 20;  // larger input is refused before it is parsed
  int max_depth = 128;                  // Kubernetes objects nest ~20 deep; 128 is generous
  bool full_precision = false;          // kParseFullPrecisionFlag (result files round-trip)
};

// The one way to parse untrusted JSON. It never recurses (RapidJSON's iterative parser, after an
// iterative pre-scan that refuses input nested deeper than `max_depth`), so no input can
// overflow the stack. On failure `*doc` is left empty (null) and the Status says what and where:
// "JSON: nested deeper than 128 at byte 4096", "JSON: Missing a comma ... at byte 17",
// "JSON: 70000000 bytes, more than the limit of 67108864".
Status ParseJson(std::string_view text, rapidjson::Document* doc, const JsonLimits& limits = {});

}  // namespace gameday

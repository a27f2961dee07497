#pragma once

#include <curl/curl.h>

#include <functional>
#include <string>

#include "experiments/spec_reader.h"

namespace gameday {

// Checks `url` (the field "url" of `spec`) with libcurl's own parser, so what passes here is what
// curl will request: a parse failure or a scheme other than http/https is reported at "url".
// `more`, when set, adds a kind's own checks on the parsed URL. Returns the URL with any password
// replaced by "***" for display, or "" when it could not be parsed.
std::string CheckHttpUrl(SpecNode& spec, const std::string& url,
                         const std::function<void(CURLU*)>& more = nullptr);

}  // namespace gameday

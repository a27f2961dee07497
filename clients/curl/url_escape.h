#pragma once

#include <string>

namespace gameday {

// RFC 3986 percent-encoding of everything but the unreserved characters (A-Z a-z 0-9 - . _ ~),
// with upper-case hex digits: for query strings and path segments built from user input.
// libcurl does the work (curl_easy_escape), so there is one encoder in the program.
std::string UrlEncode(const std::string& s);

}  // namespace gameday

#pragma once

#include <string>

namespace gameday {

// `s` as one word for a POSIX shell: '...' with each embedded ' written as '\''.
std::string ShellQuote(const std::string& s);

}  // namespace gameday

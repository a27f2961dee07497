#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace gameday::local_sandbox {

// The whole of a small file (state file, /proc entries, logs); nullopt when it cannot be read.
std::optional<std::string> ReadFile(const std::string& path);

// `s` without leading and trailing blanks and line ends.
std::string Trim(std::string s);

// The last `n` non-empty lines of a log file, indented, for error messages; "" when none.
std::string LogTail(const std::string& path, size_t n);

}  // namespace gameday::local_sandbox

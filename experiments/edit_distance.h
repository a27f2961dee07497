#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gameday {

// Edit distance for "did you mean" hints: insertions, deletions, substitutions, and a swap of two
// neighbours counted as one edit (the commonest typo: "wbe" for "web"). Byte-wise.
size_t EditDistance(const std::string& a, const std::string& b);

// The first of `known` closest to `word` when it is within two edits, else "".
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& known);

// " (did you mean 'x'?)" for the closest match of `word` in `known`, else "".
std::string DidYouMean(const std::string& word, const std::vector<std::string>& known);

}  // namespace gameday

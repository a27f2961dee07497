#include "experiments/selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gameday {
uint64_t Uniform(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

size_t SelectionSize(size_t count, const SelectSpec& select) {
  size_t n = 0;
  switch (select.mode) {
    case SelectMode::kOne:
      n = 1;
      break;
    case SelectMode::kAll:
      n = count;
      break;
    case SelectMode::kFixed:
      n = static_cast<size_t>(select.value);
      break;
    case SelectMode::kFixedPercent:
    case SelectMode::kRandomMaxPercent:
      // A non-zero percentage of a non-empty set always takes at least one target.
      n = std::max<size_t>(1, static_cast<size_t>(std::floor(count * select.value / 100.0)));
      break;
  }
  n = std::min(n, count);
  if (select.max > 0) n = std::min(n, static_cast<size_t>(select.max));
  return n;
}

Result<std::vector<size_t>> SelectTargets(size_t count, const SelectSpec& select,
                                          std::mt19937_64& rng) {
  if (count == 0) return Status::FailedPrecondition("the selection is empty: no target matched");
  size_t n = SelectionSize(count, select);
  if (select.mode == SelectMode::kRandomMaxPercent) n = 1 + Uniform(rng, n);
  std::vector<size_t> all(count);
  std::iota(all.begin(), all.end(), 0);
  // Partial Fisher-Yates: the first n entries are a uniform random choice.
  for (size_t i = 0; i < n && n < count; ++i) {
    std::swap(all[i], all[i + Uniform(rng, count - i)]);
  }
  all.resize(n);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace gameday

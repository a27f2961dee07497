#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <vector>

#include "experiments/sample.h"

namespace gameday {

// The steady-state check: the passing ratio of the decided samples sent in [from, to), fed one
// sample at a time. Unknown samples are ignored.
class RatioCounter {
 public:
  explicit RatioCounter(double from, double to = std::numeric_limits<double>::infinity())
      : from_(from), to_(to) {}

  void Add(const Sample& s);
  // nullopt while no known sample fell in the window.
  std::optional<double> Ratio() const;

 private:
  double from_, to_;
  size_t pass_ = 0, known_ = 0;
};

// RatioCounter over a vector of samples.
std::optional<double> SuccessRatio(const std::vector<Sample>& samples, double from, double to);

}  // namespace gameday

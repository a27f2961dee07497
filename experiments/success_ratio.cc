#include "experiments/success_ratio.h"

namespace gameday {

void RatioCounter::Add(const Sample& s) {
  if (s.t_send < from_ || s.t_send >= to_ || s.health == Health::kUnknown) return;
  ++known_;
  pass_ += s.health == Health::kHealthy;
}

std::optional<double> RatioCounter::Ratio() const {
  if (known_ == 0) return std::nullopt;
  return static_cast<double>(pass_) / known_;
}

std::optional<double> SuccessRatio(const std::vector<Sample>& samples, double from, double to) {
  RatioCounter counter(from, to);
  for (const Sample& s : samples) counter.Add(s);
  return counter.Ratio();
}

}  // namespace gameday

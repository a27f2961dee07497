#include "experiments/disturbance.h"

#include <algorithm>
#include <limits>
#include <map>

namespace gameday {

std::vector<Disturbance> DisturbancesOf(const std::vector<FaultTiming>& faults) {
  std::vector<Disturbance> steps;
  std::vector<std::map<int, double>> rounds;  // per step: round -> its first injection
  for (const FaultTiming& f : faults) {
    if (!f.injected) continue;
    auto it = std::find_if(steps.begin(), steps.end(),
                           [&](const Disturbance& s) { return s.name == f.step; });
    if (it == steps.end()) {
      it = steps.emplace(steps.end());
      it->name = f.step;
      it->t_inject = std::numeric_limits<double>::infinity();
      rounds.emplace_back();
    }
    it->t_inject = std::min(it->t_inject, f.t_inject);
    const bool reverted = f.has_duration && f.t_revert;
    if (reverted) it->t_revert = std::max(it->t_revert.value_or(0), *f.t_revert);
    if (f.round > 0) {
      auto [r, inserted] = rounds[it - steps.begin()].emplace(f.round, f.t_inject);
      if (!inserted) r->second = std::min(r->second, f.t_inject);
    }
    it->last_action = std::max(it->last_action, reverted ? *f.t_revert : f.t_inject);
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const auto& [round, t] : rounds[i]) steps[i].round_starts.push_back(t);
  }
  std::stable_sort(steps.begin(), steps.end(), [](const Disturbance& a, const Disturbance& b) {
    return a.t_inject < b.t_inject;
  });
  return steps;
}

}  // namespace gameday

#include "experiments/verifier_recovery.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace gameday {

VerifierRecovery::VerifierRecovery(std::vector<Disturbance> steps, double stable_for,
                                   double interval) {
  if (steps.empty()) return;
  std::stable_sort(steps.begin(), steps.end(), [](const Disturbance& a, const Disturbance& b) {
    return a.t_inject < b.t_inject;
  });
  RecoveryWindow w;
  w.stable_for = stable_for;
  w.interval = interval;
  w.t_inject = steps.front().t_inject;
  w.t_end = std::numeric_limits<double>::infinity();
  for (const Disturbance& s : steps) {
    if (s.t_revert) w.t_revert = std::max(w.t_revert.value_or(0), *s.t_revert);
  }
  window_ = w;
  overall_.emplace(w);
  std::vector<double> all_rounds;
  double last_repeated_action = 0;
  for (size_t k = 0; k < steps.size(); ++k) {
    RecoveryWindow sw = w;
    sw.t_inject = steps[k].t_inject;
    sw.t_revert = steps[k].t_revert;
    sw.t_end = k + 1 < steps.size() ? steps[k + 1].t_inject : w.t_end;
    Step step{steps[k].name, RecoveryAccumulator(sw), std::nullopt};
    if (!steps[k].round_starts.empty()) {
      const std::vector<double>& starts = steps[k].round_starts;
      step.rounds.emplace(sw, starts, steps[k].last_action);
      all_rounds.insert(all_rounds.end(), starts.begin(), starts.end());
      last_repeated_action = std::max(last_repeated_action, steps[k].last_action);
    }
    steps_.push_back(std::move(step));
  }
  if (!all_rounds.empty()) overall_rounds_.emplace(w, std::move(all_rounds), last_repeated_action);
}

void VerifierRecovery::Add(const Sample& s) {
  if (!overall_) return;
  overall_->Add(s);
  if (overall_rounds_) overall_rounds_->Add(s);
  for (Step& step : steps_) {
    step.metrics.Add(s);
    if (step.rounds) step.rounds->Add(s);
  }
}

RecoveryMetrics VerifierRecovery::Overall() const {
  if (!overall_) return {};
  RecoveryMetrics m = overall_->Finish();
  if (overall_rounds_) overall_rounds_->ApplyTo(&m);
  return m;
}

std::vector<FaultMetrics> VerifierRecovery::PerStep() const {
  std::vector<FaultMetrics> out;
  for (const Step& step : steps_) {
    RecoveryMetrics m = step.metrics.Finish();
    if (step.rounds) step.rounds->ApplyTo(&m);
    out.push_back({step.name, m});
  }
  return out;
}

std::optional<double> VerifierRecovery::RecoveredAt() const {
  const RecoveryMetrics m = Overall();
  if (!m.time_to_recover_s) return std::nullopt;
  return window_->t_inject + *m.time_to_recover_s;
}

}  // namespace gameday

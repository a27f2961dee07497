#include "experiments/last_round_recovery.h"

#include <algorithm>
#include <utility>

namespace gameday {

LastRoundRecovery::LastRoundRecovery(const RecoveryWindow& w, std::vector<double> round_starts,
                                     double last_action)
    : w_(w), starts_(std::move(round_starts)), last_action_(last_action) {
  starts_.erase(
      std::remove_if(starts_.begin(), starts_.end(), [&](double t) { return t < w_.t_inject; }),
      starts_.end());
  std::sort(starts_.begin(), starts_.end());
}

void LastRoundRecovery::Add(const Sample& s) {
  // Only the last round begun by now can matter among those without an impact.
  while (next_ < starts_.size() && s.t_send >= starts_[next_]) {
    RecoveryWindow rw = w_;
    rw.t_inject = starts_[next_++];
    rw.t_revert.reset();
    latest_.emplace(Round{rw.t_inject, RecoveryAccumulator(rw)});
  }
  if (impacted_) impacted_->metrics.Add(s);
  if (!latest_) return;
  latest_->metrics.Add(s);
  if (latest_->metrics.impact()) {
    impacted_ = std::move(latest_);
    latest_.reset();
  }
}

void LastRoundRecovery::ApplyTo(RecoveryMetrics* m) const {
  if (!m->impact || !impacted_) return;
  const RecoveryMetrics after = impacted_->metrics.Finish();
  const double shift = impacted_->start - w_.t_inject;
  m->recovered = after.recovered;
  m->time_to_recover_s.reset();
  m->recover_bound_s.reset();
  m->time_to_recover_after_revert_s.reset();
  if (after.time_to_recover_s) {
    m->time_to_recover_s = *after.time_to_recover_s + shift;
    m->recover_bound_s =
        std::make_pair(after.recover_bound_s->first + shift, after.recover_bound_s->second + shift);
    m->time_to_recover_after_revert_s =
        std::max(0.0, impacted_->start + *after.time_to_recover_s - last_action_);
  }
}

}  // namespace gameday

#pragma once

#include <optional>
#include <vector>

#include "experiments/recovery.h"
#include "experiments/sample.h"

namespace gameday {

// A repeated step is one disturbance: detection and downtime count from its first round, but
// recovery is what follows its last round that had an impact (recovering between rounds only to
// fail again is not recovery). Fed every sample in t_send order, like RecoveryAccumulator, it
// keeps two accumulators at most: the latest round begun so far, and the latest round that has
// seen an impact (an earlier round that has not seen one can only see one when a later round
// does too, and the later round wins).
class LastRoundRecovery {
 public:
  // `w` is the whole disturbance's window; `round_starts` (any order) the first injection of each
  // round; those before w.t_inject are ignored. `last_action` is the step's last revert, or its
  // last round's injection for one-shot faults: time_to_recover_after_revert_s counts from there.
  LastRoundRecovery(const RecoveryWindow& w, std::vector<double> round_starts, double last_action);

  void Add(const Sample& s);
  // Rewrites the recovery fields of `m`, the metrics of the whole window, when it had an impact
  // and some round did; times stay relative to w.t_inject.
  void ApplyTo(RecoveryMetrics* m) const;

 private:
  struct Round {
    double start;
    RecoveryAccumulator metrics;
  };

  RecoveryWindow w_;
  std::vector<double> starts_;  // sorted, none before w_.t_inject
  size_t next_ = 0;             // the first round not begun yet
  double last_action_;
  std::optional<Round> latest_;    // begun, no impact yet
  std::optional<Round> impacted_;  // the latest round with an impact
};

}  // namespace gameday

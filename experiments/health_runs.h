#pragma once

#include <limits>
#include <optional>

#include "experiments/sample.h"

namespace gameday {

// The runs of samples that the live checks and the recovery metrics look at. Both classes take
// samples one at a time in t_send order, keep constant state, and skip unknown samples (the probe
// could not tell, so they neither break nor extend a run).

// "Recovered": the decided samples sent at or after `since` are all passing since the last
// failing one, and that passing run spans at least stable_for (its last send minus its first).
class StableRun {
 public:
  // The first sample of the current passing run, and the failing sample just before it.
  struct Start {
    double t_send = 0;
    double t_done = 0;
    std::optional<double> after_failure_sent;  // nullopt when no failing sample preceded it
  };

  explicit StableRun(double since = -std::numeric_limits<double>::infinity()) : since_(since) {}

  void Add(const Sample& s);
  // Forgets the run and ignores samples sent before `since` from now on. The caller must not have
  // added a sample sent at or after `since` yet (a fault action at `since` starts a new wait).
  void Restart(double since);
  bool Holds(double stable_for) const { return start_ && last_ - start_->t_send >= stable_for; }
  const std::optional<Start>& start() const { return start_; }

 private:
  double since_;
  std::optional<Start> start_;
  double last_ = 0;  // send time of the run's latest sample
  std::optional<double> last_failure_sent_;
};

// The abort check: the trailing run of failing decided samples spans at least failing_for, counted
// from its first sample's send to `now`.
class FailingRun {
 public:
  void Add(const Sample& s);
  bool Holds(double now, double failing_for) const {
    return start_ && now - *start_ >= failing_for;
  }

 private:
  std::optional<double> start_;  // send time of the trailing failing run's first sample
};

}  // namespace gameday

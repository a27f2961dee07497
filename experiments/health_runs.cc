#include "experiments/health_runs.h"

namespace gameday {

void StableRun::Add(const Sample& s) {
  if (s.health == Health::kUnknown || s.t_send < since_) return;
  if (s.health == Health::kUnhealthy) {
    start_.reset();
    last_failure_sent_ = s.t_send;
    return;
  }
  if (!start_) start_ = Start{s.t_send, s.t_done, last_failure_sent_};
  last_ = s.t_send;
}

void StableRun::Restart(double since) {
  since_ = since;
  start_.reset();
  last_failure_sent_.reset();
}

void FailingRun::Add(const Sample& s) {
  if (s.health == Health::kUnknown) return;
  if (s.health == Health::kHealthy) {
    start_.reset();
  } else if (!start_) {
    start_ = s.t_send;
  }
}

}  // namespace gameday

#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "experiments/disturbance.h"
#include "experiments/engine_observer.h"
#include "experiments/health_runs.h"
#include "experiments/plan.h"
#include "experiments/recovery.h"
#include "experiments/result.h"
#include "experiments/sample_store.h"
#include "experiments/sampling.h"
#include "experiments/success_ratio.h"
#include "experiments/verifier_recovery.h"

namespace gameday {

// Carries one experiment's samples from the sampler to the run's sample store, keeping in memory
// only what the live checks need: per verifier a few counters and the runs that steady state,
// abort and recovery are judged on (experiments/recovery.h). Memory does not grow with the number
// of samples; the final metrics come from one pass over the store (Finish).
//
// Thread-safe. The sampler's lock is held only while a verifier's released samples are swapped
// out (Sampling::Drain).
class SampleFeed {
 public:
  // The verifiers' samples go to streams first_stream .. first_stream + n - 1 of `store`.
  // `now` is the experiment's clock (seconds since its epoch).
  SampleFeed(std::string experiment, const std::vector<VerifierSpec>& verifiers,
             SampleWriter* store, uint32_t first_stream, std::function<double()> now);
  ~SampleFeed();
  SampleFeed(const SampleFeed&) = delete;
  SampleFeed& operator=(const SampleFeed&) = delete;

  // Declares the streams in the store; before Attach.
  Status Declare();
  // The sampler to drain; null detaches.
  void Attach(Sampling* sampling);
  // Moves every sample released so far into the store and the live state.
  void Pump();
  // Ok, or why the store could not be written (the measurement is lost: halt and revert).
  Status Failure() const;

  // A fault action (inject or revert) completed now: returns now on the experiment's axis and
  // restarts the recovery runs from it, atomically with respect to Pump, so "the samples sent
  // since the last fault action" is exact.
  double MarkAction();
  // The time of the last MarkAction (0 before any).
  double LastAction() const;

  // The passing ratio of the decided samples so far (the warm-up's steady state); nullopt before
  // the first decided sample.
  std::optional<double> RatioSoFar(size_t verifier) const;
  // Starts the cool-down window at now (returned); EndWindow closes it at now.
  double BeginWindow();
  void EndWindow();
  std::optional<double> WindowRatio(size_t verifier) const;
  // Recovered: the decided samples since the last fault action are passing since the last
  // failing one and span at least stable_for.
  bool Recovered(size_t verifier, double stable_for) const;
  // The trailing run of failing samples has lasted at least failing_for by `now`.
  bool FailingFor(size_t verifier, double now, double failing_for) const;
  std::vector<VerifierLive> Live() const;

  // After the sampler stopped: reads this experiment's samples back from the store once and
  // fills each verifier's measurements, sample count, last error and, when the experiment took
  // at most `inline_limit` samples (or the store is an anonymous file), its inline samples;
  // otherwise a reference to the store. `out` has one entry per verifier, named already.
  Status Finish(const std::vector<Disturbance>& disturbances, double stable_for,
                size_t inline_limit, std::vector<VerifierResult>* out);

 private:
  struct VerifierState;

  const std::string experiment_;
  const std::vector<VerifierSpec>& verifiers_;
  SampleWriter* store_;
  const uint32_t first_stream_;
  std::function<double()> now_;

  std::mutex pump_mu_;  // one Pump at a time, so each verifier's samples stay in order
  Sampling* sampling_ = nullptr;

  static constexpr double kFlushEvery_s = 10;

  mutable std::mutex mu_;  // guards everything below
  std::vector<VerifierState> state_;
  double last_flush_ = 0;
  Status failure_;
  double last_action_ = 0;
  std::optional<double> window_from_;
  std::optional<double> window_to_;
};

}  // namespace gameday

#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "experiments/clock.h"
#include "experiments/plan.h"
#include "experiments/plugins/verifier.h"
#include "experiments/sample.h"
#include "experiments/sampling.h"

namespace gameday {

// Calls curl_global_init exactly once per process. Every user of libcurl calls it first.
void EnsureCurlGlobalInit();

// Schedule lateness of the probes sent so far: actual send time minus the slot's deadline.
struct LatenessSummary {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  uint64_t count = 0;           // probes sent
  uint64_t skipped = 0;         // slots not probed, for either reason below
  uint64_t skipped_behind = 0;  // the loop was more than one interval late
  uint64_t skipped_at_cap = 0;  // the verifier already had max_in_flight probes out
  std::string scheduling;       // what the loop thread got: "SCHED_FIFO 1", "nice -10", "normal"
};

// A fixed-size latency histogram: exact microseconds below 1.024 ms, then 64 log-linear
// sub-buckets per power of two (under 1.6 % error) up to about 37 minutes. No allocation per
// record, so the loop can keep every probe's lateness.
class LatenessHistogram {
 public:
  void Record(int64_t micros);
  // The value below which `fraction` of the records lie, in microseconds.
  double Quantile(double fraction) const;
  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }

 private:
  static constexpr int kLinear = 1024;
  static constexpr int kSubBits = 6;
  static constexpr int kPowers = 32;
  static constexpr int kBuckets = kLinear + kPowers * (1 << kSubBits);
  static int Index(int64_t micros);
  static double Value(int index);

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

struct ProbeLoopOptions {
  // Per verifier; when a slot comes with this many probes still out it is skipped and counted.
  int max_in_flight = 64;
  // After Stop(), in-flight probes get this long to finish; the rest become unknown "stopped".
  Duration stop_grace = std::chrono::seconds(5);
  // Samples reserved per verifier and drain, so the hand-over vectors rarely grow.
  size_t reserve_samples = 256;
  // Run the loop thread at SCHED_FIFO priority 1 when permitted (else nice -10), so its wakeups
  // stay on time when the machine is saturated. Off: normal priority.
  bool raise_priority = true;
};

// Runs every probe of every verifier of one experiment from one thread that owns one libcurl
// multi handle. Each verifier has a drift-free schedule: slot k is due at epoch + k * interval.
// A slot more than one interval in the past is skipped and counted, never made up in a burst.
// The loop waits in curl_multi_poll (millisecond resolution) and then sleeps on the Clock to the
// exact deadline, so probes leave within tens of microseconds of their slot on an idle machine.
// Sample times come from the Clock; with a FakeClock, time jumps to each deadline as the loop
// sleeps, so probes run back to back (meant for the real clock; tests of the engine fake Sampling).
class ProbeLoop : public Sampling, public ProbeIo {
 public:
  ProbeLoop(const std::vector<VerifierSpec>& verifiers, Clock& clock);
  ProbeLoop(const std::vector<VerifierSpec>& verifiers, Clock& clock, ProbeLoopOptions options);
  ~ProbeLoop() override;
  ProbeLoop(const ProbeLoop&) = delete;
  ProbeLoop& operator=(const ProbeLoop&) = delete;

  // Starts the loop thread. A second call does nothing.
  void Start(MonoTime epoch) override;
  // Stops scheduling, lets in-flight probes finish (each bounded by its own timeout, all by
  // stop_grace), records the rest as unknown "stopped", and joins the loop thread.
  void Stop() override;
  void Drain(size_t index, std::vector<Sample>* out) override;
  // The first verifier that threw (in Begin or in its completion), or the loop itself. A verifier
  // that threw is not probed again; the others go on.
  Status Failure() const override;

  // Loop thread only (from Verifier::Begin or from an `on_done`): the loop has no lock on its
  // transfer list. `on_done` always runs later on the loop thread, never inside this call.
  void AddTransfer(void* curl_easy, std::function<void(int curl_code)> on_done) override;

  // Safe from any thread while the loop runs.
  LatenessSummary LatenessStats() const;
  size_t verifier_count() const { return states_.size(); }

 private:
  struct VerifierState;
  struct Pending;
  struct Transfer {
    void* easy;
    std::function<void(int)> on_done;
    VerifierState* owner;  // whose code on_done is, for Fail()
  };
  struct Completion {
    std::function<void(int)> on_done;
    int code;
    VerifierState* owner;
  };

  // The loop thread: Loop() behind a last-resort catch.
  void Run(std::stop_token stop);
  void Loop(std::stop_token stop);
  void RaisePriority();
  void FireDue();
  // The earliest next deadline over all verifiers; MonoTime::max() when there is none.
  MonoTime NextDeadline() const;
  void Reap();
  void RunCompletions();
  void AbortRemaining();
  void OnProbeDone(VerifierState* state, double t_send, ProbeOutcome outcome);
  // Hands memory that libc keeps after a burst of probes back to the system: when the pools
  // cleaned up many handles since the last time, and at most once a second.
  void ReturnFreedMemory();
  // Moves the decided samples at the front of the send order to `released` (all decided ones
  // when `everything`).
  void Release(VerifierState* state, bool everything);
  // Records what a verifier's code (or the loop, when `state` is null) threw.
  void Fail(VerifierState* state, const std::string& what);

  Clock& clock_;
  const ProbeLoopOptions options_;
  std::vector<std::unique_ptr<VerifierState>> states_;
  void* multi_ = nullptr;  // CURLM*
  MonoTime epoch_{};

  // Loop thread only.
  std::vector<Transfer> transfers_;
  std::vector<Completion> completions_;
  bool aborting_ = false;
  VerifierState* current_ = nullptr;  // whose code runs now (Begin or a completion)

  std::mutex trim_mu_;
  uint64_t cleaned_at_trim_ = 0;  // ProbeHandlesCleanedUp() at the last trim
  MonoTime last_trim_{};
  mutable std::mutex stats_mu_;
  LatenessHistogram lateness_;
  uint64_t skipped_behind_ = 0;
  uint64_t skipped_at_cap_ = 0;
  std::string scheduling_;
  Status failure_;

  std::mutex start_mu_;
  std::jthread thread_;
};

// Builds ProbeLoops for the engine.
SamplingFactory MakeProbeLoopFactory();

}  // namespace gameday

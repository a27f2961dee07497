#pragma once

// The eviction scheduler of node-drain: evicts a node's pods concurrently, with a bound on the
// evictions in flight overall and per disruption budget, and retries what the API server says
// "not now" to (HTTP 429: a PodDisruptionBudget does not allow the eviction yet) until a
// deadline. It knows nothing of HTTP: the caller's evict function answers with an
// EvictionAnswer, so the scheduling can be tested with a fake one.

#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

enum class EvictionAnswer {
  kEvicted,    // accepted: the pod is being deleted
  kGone,       // the pod was already gone (404, or replaced by another under the same name)
  kRefused,    // 429: a disruption budget (or the API server's fairness) says not now
  kTransient,  // no answer, or a passing server error (502/503/504): try this pod again later
  kFailed,     // anything else: the whole drain fails with this answer's status
};

struct EvictionOutcome {
  EvictionAnswer answer = EvictionAnswer::kEvicted;
  Status status;  // why, for every answer but kEvicted and kGone
  // The server's Retry-After, as sent; the scheduler bounds it (max_retry_after, the deadline).
  std::optional<Duration> retry_after;
};

struct EvictionSchedule {
  // Evictions in flight at once, over all groups.
  size_t max_in_flight = 32;
  // One entry per group (the pods of one disruption budget, or those no budget covers): at most
  // this many of its evictions in flight at once. A group a budget refused has one in flight at
  // a time (a probe) until an eviction of it goes through again. Zero counts as one.
  std::vector<size_t> group_limits;
  // No eviction starts at or after this instant; pods still waiting then are left.
  MonoTime deadline;
  // After a refusal the group waits, starting here and doubling with every refusal in a row up
  // to max_retry; a pod whose eviction got no answer waits the same way on its own.
  Duration first_retry = std::chrono::milliseconds(100);
  Duration max_retry = std::chrono::seconds(1);
  // A server's Retry-After is honoured up to this (it is read from the network).
  Duration max_retry_after = std::chrono::seconds(10);
  Clock* clock = &Clock::Real();
  std::stop_token stop;
};

struct EvictionTally {
  // Per pod: whether it is done (evicted or already gone), and how.
  std::vector<bool> done;
  std::vector<bool> gone;
  std::vector<Status> last_status;  // the last refusal or transient error of a pod not done
  size_t requests = 0;
  size_t refusals = 0;  // 429 answers
  size_t transient = 0;
  size_t peak_in_flight = 0;
  std::vector<size_t> peak_in_flight_per_group;
  // The first kFailed answer, and its pod; OK when none came.
  Status failure;
  size_t failed_pod = 0;
  bool timed_out = false;  // the deadline came with pods left
  bool stopped = false;    // schedule.stop was requested
  size_t Left() const;
};

// Calls `evict(i)` for each pod i (0 <= i < pod_groups.size(), pod i in group pod_groups[i]),
// from up to schedule.max_in_flight threads, until every pod is done, one answers kFailed, the
// deadline passes or stop is requested. Every eviction in flight has returned when this does.
// `evict` must be safe to call from several threads at once.
EvictionTally RunEvictions(const std::vector<size_t>& pod_groups, const EvictionSchedule& schedule,
                           const std::function<EvictionOutcome(size_t pod)>& evict);

}  // namespace gameday

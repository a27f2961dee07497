// Streaming recovery metrics against an oracle: verbatim copies of the vector algorithms they
// replace (ComputeRecovery from experiments/recovery.cc, RecoverAfterLastRound and the metrics loop
// of ExperimentRun::Finalize, WaitForRecovery's "recovered", AbortConditionHolds and SuccessRatio
// from experiments/engine.cc and experiments/recovery.cc as of commit 4c636b6), compared bit for
// bit on thousands of random sample sequences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "experiments/disturbance.h"
#include "experiments/health_runs.h"
#include "experiments/last_round_recovery.h"
#include "experiments/recovery.h"
#include "experiments/success_ratio.h"
#include "experiments/verifier_recovery.h"

namespace gameday {
namespace {

constexpr double kForever = std::numeric_limits<double>::infinity();

// ---- The oracle: the vector algorithms, unchanged but for their names. ----

bool OracleKnown(const Sample& s) { return s.health != Health::kUnknown; }

RecoveryMetrics OracleComputeRecovery(const std::vector<Sample>& samples, const RecoveryWindow& w) {
  RecoveryMetrics m;
  // Unknown samples (the probe itself could not tell) are neither passing nor failing: they are
  // counted, then left out of every computation.
  std::vector<const Sample*> known;
  size_t first_in_window = SIZE_MAX;
  for (const Sample& s : samples) {
    if (!OracleKnown(s)) {
      if (s.t_send >= w.t_inject && s.t_send < w.t_end) ++m.unknown;
      continue;
    }
    if (first_in_window == SIZE_MAX && s.t_send >= w.t_inject) first_in_window = known.size();
    known.push_back(&s);
  }

  size_t pass = 0;
  for (size_t i = first_in_window; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    const Sample& s = *known[i];
    ++m.samples;
    if (s.health == Health::kHealthy) {
      ++pass;
      continue;
    }
    ++m.failing;
    // A failing sample stands for the time until the next decided sample (the last one for one
    // interval), clipped to the window: with outage edges uniformly placed between samples this
    // is unbiased, whereas capping each sample at one interval undercounts whenever the schedule
    // had to skip slots.
    double next = i + 1 < known.size() ? known[i + 1]->t_send : s.t_send + w.interval;
    m.downtime_s += std::max(0.0, std::min(next, w.t_end) - s.t_send);
  }
  m.samples += m.unknown;
  const size_t decided = pass + m.failing;
  m.availability = decided ? static_cast<double>(pass) / decided : 1.0;

  // Detection: the first failing sample at or after the injection.
  size_t first_fail = SIZE_MAX;
  for (size_t i = first_in_window; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    if (known[i]->health == Health::kUnhealthy) {
      first_fail = i;
      break;
    }
  }
  if (first_fail == SIZE_MAX) {
    m.recovered = true;  // no impact: nothing to recover from
    return m;
  }
  m.impact = true;
  const double detect = known[first_fail]->t_send;
  double before = w.t_inject;
  if (first_fail > 0) before = std::max(before, known[first_fail - 1]->t_send);
  m.time_to_detect_s = detect - w.t_inject;
  // The server judged each probe somewhere between its send and its completion, so the change
  // happened after the previous passing probe was sent and before the failing one completed.
  m.detect_bound_s = std::make_pair(before - w.t_inject, known[first_fail]->t_done - w.t_inject);

  // Recovery: the first passing sample that begins a passing run lasting at least stable_for.
  // The run may extend past the window's end; it must begin inside it.
  for (size_t i = first_fail + 1; i < known.size() && known[i]->t_send < w.t_end; ++i) {
    if (known[i]->health != Health::kHealthy) continue;
    const double start = known[i]->t_send;
    size_t j = i;
    bool stable = false;
    while (j < known.size() && known[j]->health == Health::kHealthy) {
      if (known[j]->t_send - start >= w.stable_for) {
        stable = true;
        break;
      }
      ++j;
    }
    if (!stable) {
      i = j;  // the run broke (or data ended) at j; continue after it
      continue;
    }
    const double last_fail = known[i - 1]->t_send;  // known[i-1] is failing by construction
    m.recovered = true;
    m.time_to_recover_s = start - w.t_inject;
    m.recover_bound_s = std::make_pair(last_fail - w.t_inject, known[i]->t_done - w.t_inject);
    if (w.t_revert) m.time_to_recover_after_revert_s = std::max(0.0, start - *w.t_revert);
    break;
  }
  return m;
}

void OracleRecoverAfterLastRound(const std::vector<Sample>& samples, const RecoveryWindow& w,
                                 std::vector<double> round_starts, double last_action,
                                 RecoveryMetrics* m) {
  if (!m->impact) return;
  std::sort(round_starts.begin(), round_starts.end());
  for (auto it = round_starts.rbegin(); it != round_starts.rend(); ++it) {
    if (*it < w.t_inject) continue;
    RecoveryWindow rw = w;
    rw.t_inject = *it;
    rw.t_revert.reset();
    const RecoveryMetrics after = OracleComputeRecovery(samples, rw);
    if (!after.impact) continue;
    const double shift = *it - w.t_inject;
    m->recovered = after.recovered;
    m->time_to_recover_s.reset();
    m->recover_bound_s.reset();
    m->time_to_recover_after_revert_s.reset();
    if (after.time_to_recover_s) {
      m->time_to_recover_s = *after.time_to_recover_s + shift;
      m->recover_bound_s = std::make_pair(after.recover_bound_s->first + shift,
                                          after.recover_bound_s->second + shift);
      m->time_to_recover_after_revert_s =
          std::max(0.0, *it + *after.time_to_recover_s - last_action);
    }
    return;
  }
}

struct OracleVerifier {
  RecoveryMetrics overall;
  std::vector<FaultMetrics> per_fault;
};

// ExperimentRun::Finalize's step windows and metrics loop, over FaultTiming instead of FaultState.
OracleVerifier OracleFinalize(const std::vector<FaultTiming>& faults,
                              const std::vector<Sample>& samples, double stable_for,
                              double interval) {
  struct StepWindow {
    std::string name;
    double t_inject = kForever;
    std::optional<double> t_revert;
    std::map<int, double> round_starts;  // round -> its first injection (repeated steps)
    double last_action = 0;              // last revert, else last injection
  };
  std::vector<StepWindow> steps;
  for (const FaultTiming& f : faults) {
    if (!f.injected) continue;
    auto it = std::find_if(steps.begin(), steps.end(),
                           [&](const StepWindow& s) { return s.name == f.step; });
    if (it == steps.end()) {
      it = steps.emplace(steps.end());
      it->name = f.step;
    }
    it->t_inject = std::min(it->t_inject, f.t_inject);
    if (f.has_duration && f.t_revert) {
      it->t_revert = std::max(it->t_revert.value_or(0), *f.t_revert);
    }
    if (f.round > 0) {
      auto [r, inserted] = it->round_starts.emplace(f.round, f.t_inject);
      if (!inserted) r->second = std::min(r->second, f.t_inject);
    }
    it->last_action =
        std::max(it->last_action, f.has_duration && f.t_revert ? *f.t_revert : f.t_inject);
  }
  auto starts_of = [](const StepWindow& s) {
    std::vector<double> out;
    for (const auto& [round, t] : s.round_starts) out.push_back(t);
    return out;
  };
  std::sort(steps.begin(), steps.end(),
            [](const StepWindow& a, const StepWindow& b) { return a.t_inject < b.t_inject; });

  OracleVerifier out;
  if (steps.empty()) return out;
  RecoveryWindow w;
  w.stable_for = stable_for;
  w.interval = interval;
  w.t_inject = steps.front().t_inject;
  w.t_end = kForever;
  for (const StepWindow& s : steps) {
    if (s.t_revert) w.t_revert = std::max(w.t_revert.value_or(0), *s.t_revert);
  }
  out.overall = OracleComputeRecovery(samples, w);
  std::vector<double> all_rounds;
  double last_repeated_action = 0;
  for (size_t k = 0; k < steps.size(); ++k) {
    RecoveryWindow sw = w;
    sw.t_inject = steps[k].t_inject;
    sw.t_revert = steps[k].t_revert;
    sw.t_end = k + 1 < steps.size() ? steps[k + 1].t_inject : kForever;
    RecoveryMetrics m = OracleComputeRecovery(samples, sw);
    if (!steps[k].round_starts.empty()) {
      const std::vector<double> starts = starts_of(steps[k]);
      OracleRecoverAfterLastRound(samples, sw, starts, steps[k].last_action, &m);
      all_rounds.insert(all_rounds.end(), starts.begin(), starts.end());
      last_repeated_action = std::max(last_repeated_action, steps[k].last_action);
    }
    out.per_fault.push_back({steps[k].name, m});
  }
  if (!all_rounds.empty()) {
    OracleRecoverAfterLastRound(samples, w, all_rounds, last_repeated_action, &out.overall);
  }
  return out;
}

// WaitForRecovery's "recovered" for one verifier.
bool OracleRecovered(const std::vector<Sample>& samples, double last_action, double stable) {
  double run_start = -1, last = -1;
  for (const Sample& s : samples) {
    if (s.health == Health::kUnknown || s.t_send < last_action) continue;
    if (s.health == Health::kUnhealthy) {
      run_start = -1;
    } else {
      if (run_start < 0) run_start = s.t_send;
      last = s.t_send;
    }
  }
  return run_start >= 0 && last - run_start >= stable;
}

bool OracleAbortConditionHolds(double failing_for, const std::vector<Sample>& samples, double now) {
  // The trailing run of failing decided samples must span at least failing_for.
  double run_start = -1;
  for (auto it = samples.rbegin(); it != samples.rend(); ++it) {
    if (it->health == Health::kUnknown) continue;
    if (it->health == Health::kHealthy) break;
    run_start = it->t_send;
  }
  return run_start >= 0 && now - run_start >= failing_for;
}

std::optional<double> OracleSuccessRatio(const std::vector<Sample>& samples, double from,
                                         double to) {
  size_t pass = 0, known = 0;
  for (const Sample& s : samples) {
    if (s.t_send < from || s.t_send >= to || !OracleKnown(s)) continue;
    ++known;
    pass += s.health == Health::kHealthy;
  }
  if (known == 0) return std::nullopt;
  return static_cast<double>(pass) / known;
}

// ---- Random cases. ----

struct Case {
  std::vector<Sample> samples;  // sorted by t_send
  double interval = 0.1;
  double stable_for = 0;
};

// Runs of healthy, unhealthy and unknown samples on a jittered schedule: ties, skipped slots,
// completions that overlap the next sends. Times are sometimes on a coarse grid so that window
// edges fall exactly on sends.
Case RandomSamples(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0, 1);
  Case c;
  const double intervals[] = {0.01, 0.05, 0.1, 0.25};
  c.interval = intervals[rng() % 4];
  const bool grid = rng() % 2;
  const size_t n = rng() % 160;
  double t = grid ? 0 : unit(rng);
  Health h = Health::kHealthy;
  size_t left = 0;
  for (size_t i = 0; i < n; ++i) {
    if (left == 0) {
      const double pick = unit(rng);
      h = pick < 0.5 ? Health::kHealthy : pick < 0.85 ? Health::kUnhealthy : Health::kUnknown;
      left = 1 + rng() % (rng() % 3 == 0 ? 30 : 5);
    }
    --left;
    Sample s;
    s.t_send = t;
    s.t_done = t + c.interval * 3 * unit(rng);
    s.health = h;
    c.samples.push_back(s);
    const double jump = unit(rng);
    if (grid) {
      t += c.interval * (jump < 0.05 ? 0 : jump < 0.9 ? 1 : 1 + rng() % 6);
    } else {
      t += jump < 0.05 ? 0 : c.interval * (jump < 0.9 ? 0.5 + unit(rng) : 1 + 6 * unit(rng));
    }
  }
  const double stables[] = {0, 0, c.interval, 3 * c.interval, 0.5 + unit(rng)};
  c.stable_for = stables[rng() % 5];
  return c;
}

// A time near the samples: often exactly one of their sends.
double RandomTime(std::mt19937_64& rng, const Case& c) {
  std::uniform_real_distribution<double> unit(0, 1);
  if (!c.samples.empty() && rng() % 3 == 0) return c.samples[rng() % c.samples.size()].t_send;
  const double span = c.samples.empty() ? 1 : c.samples.back().t_send + 1;
  return span * unit(rng) - 0.5;
}

RecoveryWindow RandomWindow(std::mt19937_64& rng, const Case& c) {
  RecoveryWindow w;
  w.t_inject = RandomTime(rng, c);
  if (rng() % 2) w.t_revert = w.t_inject + std::abs(RandomTime(rng, c));
  w.t_end = rng() % 3 == 0 ? kForever : std::max(w.t_inject, RandomTime(rng, c));
  w.stable_for = c.stable_for;
  w.interval = c.interval;
  return w;
}

// Faults of one to four steps, some repeated over several rounds of one or two faults each, some
// with a duration, some whose injection failed.
std::vector<FaultTiming> RandomFaults(std::mt19937_64& rng, const Case& c) {
  std::vector<FaultTiming> faults;
  const size_t steps = 1 + rng() % 4;
  for (size_t k = 0; k < steps; ++k) {
    const bool repeated = rng() % 2;
    const int rounds = repeated ? 1 + static_cast<int>(rng() % 4) : 1;
    double t = RandomTime(rng, c);
    for (int r = 1; r <= rounds; ++r) {
      const size_t per_round = 1 + rng() % 2;
      for (size_t f = 0; f < per_round; ++f) {
        FaultTiming ft;
        ft.step = "step" + std::to_string(rng() % 3 == 0 ? 0 : k);  // some share a step's name
        ft.round = repeated ? r : 0;
        ft.t_inject = t + (f ? std::abs(RandomTime(rng, c)) / 10 : 0);
        ft.has_duration = rng() % 2;
        if (rng() % 4) ft.t_revert = ft.t_inject + std::abs(RandomTime(rng, c)) / 4;
        ft.injected = rng() % 8 != 0;
        faults.push_back(ft);
      }
      t += std::abs(RandomTime(rng, c)) / 3;
    }
  }
  std::shuffle(faults.begin(), faults.end(), rng);
  return faults;
}

void ExpectSame(const RecoveryMetrics& want, const RecoveryMetrics& got) {
  EXPECT_EQ(want.impact, got.impact);
  EXPECT_EQ(want.time_to_detect_s, got.time_to_detect_s);
  EXPECT_EQ(want.detect_bound_s, got.detect_bound_s);
  EXPECT_EQ(want.recovered, got.recovered);
  EXPECT_EQ(want.time_to_recover_s, got.time_to_recover_s);
  EXPECT_EQ(want.recover_bound_s, got.recover_bound_s);
  EXPECT_EQ(want.time_to_recover_after_revert_s, got.time_to_recover_after_revert_s);
  EXPECT_EQ(want.downtime_s, got.downtime_s);
  EXPECT_EQ(want.availability, got.availability);
  EXPECT_EQ(want.samples, got.samples);
  EXPECT_EQ(want.failing, got.failing);
  EXPECT_EQ(want.unknown, got.unknown);
}

constexpr int kCases = 4000;

TEST(RecoveryEquivalenceTest, AccumulatorMatchesTheVectorAlgorithm) {
  std::mt19937_64 rng(12);
  size_t impacts = 0, recoveries = 0;
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    for (int k = 0; k < 4; ++k) {
      const RecoveryWindow w = RandomWindow(rng, c);
      const RecoveryMetrics want = OracleComputeRecovery(c.samples, w);
      RecoveryAccumulator accumulator(w);
      for (const Sample& s : c.samples) accumulator.Add(s);
      ExpectSame(want, accumulator.Finish());
      ExpectSame(want, ComputeRecovery(c.samples, w));
      impacts += want.impact;
      recoveries += want.impact && want.recovered;
    }
  }
  // The cases reach every branch often enough to mean something.
  EXPECT_GT(impacts, static_cast<size_t>(kCases));
  EXPECT_GT(recoveries, static_cast<size_t>(kCases / 4));
}

TEST(RecoveryEquivalenceTest, LastRoundRecoveryMatchesRecoverAfterLastRound) {
  std::mt19937_64 rng(1212);
  size_t rewritten = 0;
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    const RecoveryWindow w = RandomWindow(rng, c);
    std::vector<double> starts;
    const size_t rounds = 1 + rng() % 5;
    for (size_t r = 0; r < rounds; ++r) {
      starts.push_back(r == 0 && rng() % 2 ? w.t_inject : RandomTime(rng, c));
    }
    const double last_action = RandomTime(rng, c);
    RecoveryMetrics want = OracleComputeRecovery(c.samples, w);
    const RecoveryMetrics whole = want;
    OracleRecoverAfterLastRound(c.samples, w, starts, last_action, &want);
    LastRoundRecovery rounds_seen(w, starts, last_action);
    for (const Sample& s : c.samples) rounds_seen.Add(s);
    RecoveryMetrics got = ComputeRecovery(c.samples, w);
    rounds_seen.ApplyTo(&got);
    ExpectSame(want, got);
    rewritten += want.time_to_recover_s != whole.time_to_recover_s;
  }
  EXPECT_GT(rewritten, static_cast<size_t>(kCases / 10));
}

TEST(RecoveryEquivalenceTest, VerifierRecoveryMatchesFinalize) {
  std::mt19937_64 rng(121212);
  size_t repeated = 0;
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    const std::vector<FaultTiming> faults = RandomFaults(rng, c);
    const OracleVerifier want = OracleFinalize(faults, c.samples, c.stable_for, c.interval);
    const std::vector<Disturbance> steps = DisturbancesOf(faults);
    VerifierRecovery recovery(steps, c.stable_for, c.interval);
    for (const Sample& s : c.samples) recovery.Add(s);
    ExpectSame(want.overall, recovery.Overall());
    const std::vector<FaultMetrics> got = recovery.PerStep();
    ASSERT_EQ(want.per_fault.size(), got.size());
    for (size_t k = 0; k < got.size(); ++k) {
      SCOPED_TRACE("step " + std::to_string(k));
      EXPECT_EQ(want.per_fault[k].fault_id, got[k].fault_id);
      ExpectSame(want.per_fault[k].metrics, got[k].metrics);
    }
    for (const Disturbance& d : steps) repeated += d.round_starts.size() > 1;
  }
  EXPECT_GT(repeated, static_cast<size_t>(kCases / 4));
}

TEST(RecoveryEquivalenceTest, StableRunMatchesWaitForRecovery) {
  std::mt19937_64 rng(1213);
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    // The engine restarts the run when a fault action completes at `since`, before any sample
    // sent at or after it was added.
    const double since = rng() % 4 == 0 ? 0 : RandomTime(rng, c);
    StableRun run;
    bool restarted = false;
    std::vector<Sample> prefix;
    for (const Sample& s : c.samples) {
      if (!restarted && s.t_send >= since) {
        run.Restart(since);
        restarted = true;
      }
      run.Add(s);
      prefix.push_back(s);
      if (!restarted) continue;
      EXPECT_EQ(OracleRecovered(prefix, since, c.stable_for), run.Holds(c.stable_for));
    }
  }
}

TEST(RecoveryEquivalenceTest, FailingRunMatchesTheAbortCheck) {
  std::mt19937_64 rng(1214);
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    const double failing_for = rng() % 3 == 0 ? 0 : c.stable_for;
    FailingRun run;
    std::vector<Sample> prefix;
    for (const Sample& s : c.samples) {
      run.Add(s);
      prefix.push_back(s);
      const double now = s.t_done;
      EXPECT_EQ(OracleAbortConditionHolds(failing_for, prefix, now), run.Holds(now, failing_for));
    }
  }
}

TEST(RecoveryEquivalenceTest, RatioCounterMatchesSuccessRatio) {
  std::mt19937_64 rng(1215);
  for (int i = 0; i < kCases && !HasFailure(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const Case c = RandomSamples(rng);
    const double from = RandomTime(rng, c);
    const double to = rng() % 3 == 0 ? kForever : RandomTime(rng, c);
    RatioCounter counter(from, to);
    for (const Sample& s : c.samples) counter.Add(s);
    EXPECT_EQ(OracleSuccessRatio(c.samples, from, to), counter.Ratio());
    EXPECT_EQ(OracleSuccessRatio(c.samples, from, to), SuccessRatio(c.samples, from, to));
  }
}

}  // namespace
}  // namespace gameday

#pragma once

// Result models for the report writer tests. Every time is built from whole microseconds and
// every latency from whole microseconds of a millisecond, the precision RESULT.json keeps, so a
// JSON round trip must reproduce them exactly.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "experiments/result.h"

namespace gameday::testing {

inline WallTime WallMs(int64_t ms_since_epoch) {
  return WallTime{} + std::chrono::milliseconds(ms_since_epoch);
}

inline double Us(int64_t micros) { return static_cast<double>(micros) / 1e6; }

// `n` samples every `interval_us` from `start_us`; failing in [fail_from, fail_to) (seconds),
// unknown in [unknown_from, unknown_to). Failing samples carry a detail and a high latency.
inline std::vector<Sample> MakeSamples(size_t n, int64_t start_us, int64_t interval_us,
                                       double fail_from, double fail_to, double unknown_from = -1,
                                       double unknown_to = -1, bool with_values = false) {
  std::vector<Sample> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Sample s;
    int64_t t_us = start_us + static_cast<int64_t>(i) * interval_us;
    int64_t lat_us = 3000 + static_cast<int64_t>((i * 7919) % 5000);  // 3.000 .. 7.999 ms
    s.t_send = Us(t_us);
    if (s.t_send >= fail_from && s.t_send < fail_to) {
      s.health = Health::kUnhealthy;
      lat_us = 250000 + static_cast<int64_t>(i % 1000);
      s.detail = i % 2 ? "HTTP 503 \"Service Unavailable\" <html>" : "connection refused";
    } else if (s.t_send >= unknown_from && s.t_send < unknown_to) {
      s.health = Health::kUnknown;
      s.detail = "prometheus: query timed out";
    } else {
      s.health = Health::kHealthy;
    }
    s.latency_ms = static_cast<double>(lat_us) / 1e3;
    s.t_done = Us(t_us + lat_us / 1000 * 1000 + 123);
    if (with_values && i % 3 != 0) s.value = 0.1 * static_cast<double>(i) + 1.0 / 3.0;
    out.push_back(std::move(s));
  }
  return out;
}

inline RecoveryMetrics FullMetrics(int64_t detect_us, int64_t recover_us) {
  RecoveryMetrics m;
  m.impact = true;
  m.time_to_detect_s = Us(detect_us);
  m.detect_bound_s = std::make_pair(Us(detect_us - 20000), Us(detect_us));
  m.recovered = true;
  m.time_to_recover_s = Us(recover_us);
  m.recover_bound_s = std::make_pair(Us(recover_us - 20000), Us(recover_us + 20000));
  m.time_to_recover_after_revert_s = Us(recover_us - 1500000);
  m.downtime_s = Us(recover_us - detect_us);
  m.availability = 0.9466666666666667;  // full precision on purpose: ratios are not rounded
  m.samples = 3000;
  m.failing = 160;
  m.unknown = 12;
  return m;
}

// A run with three experiments: a failed one with everything present (unicode, quotes, markup
// characters in names), an aborted one with every optional field absent, and an errored empty
// one.
inline RunResult RichRun(size_t samples_per_verifier = 3000) {
  RunResult run;
  run.run_id = "20240501T123456Z-7f3a";
  run.plan_file = "plans/ha \"frontend\".yaml";
  run.plan_name = "Frontend HA \u2014 \u00abünïcødé\u00bb \U0001F680 <b>&amp;";
  run.gameday_version = "0.1.0";
  run.seed = std::numeric_limits<uint64_t>::max();
  run.dry_run = false;
  run.start_wall = WallMs(1714566896789);
  run.end_wall = WallMs(1714567012345);

  ExperimentResult e;
  e.name = "pod-kill \"frontend\" <&> 'ünï'";
  e.description = "Kill one frontend pod; see http://127.0.0.1:8080/ for the service.";
  e.labels = {{"team", "sre"}, {"tier", "web & \"api\""}, {"ключ", "значение"}};
  e.status = ExperimentStatus::kFailed;
  e.reasons = {
      "objective \"frontend recovers within 10s\" failed: recovered in 12.40 s, "
      "budget 10 s",
      "steady state after: frontend 95.00 % passing < SLO 99.00 % & <more>"};
  e.start_wall = WallMs(1714566897000);
  e.end_wall = WallMs(1714566957123);
  e.duration_s = Us(60123456);
  e.t_first_inject = Us(5000250);
  e.t_last_recovery = Us(17400250);

  FaultResult f1;
  f1.id = "pod-kill \"frontend\"/kill/0";
  f1.step = "kill";
  f1.kind = "pod-kill";
  f1.target = "default/frontend-7d9c <pod>";
  f1.target_id = "uid-1234";
  f1.t_inject = Us(5000250);
  f1.reversible = false;
  f1.revert = RevertState::kNotNeeded;
  e.faults.push_back(f1);
  FaultResult f2;
  f2.id = "pod-kill \"frontend\"/partition/0";
  f2.step = "partition";
  f2.kind = "network-partition";
  f2.target = "node-2";
  f2.target_id = "198.18.0.2";
  f2.t_inject = Us(30000000);
  f2.t_revert = Us(40000500);
  f2.reversible = true;
  f2.revert = RevertState::kFailed;
  f2.error = "iptables: rule \"GAMEDAY-1\" not found";
  e.faults.push_back(f2);
  // How long each round took to go in (one of 1000 pods could not be killed).
  InjectionResult kill;
  kill.step = "kill";
  kill.kind = "pod-kill";
  kill.targets = 1000;
  kill.injected = 999;
  kill.t_start = Us(4900250);
  kill.inject_span_s = Us(1234567);
  kill.journal_s = Us(4250);
  e.injections.push_back(kill);
  InjectionResult partition;
  partition.step = "partition";
  partition.round = 2;
  partition.kind = "network-partition";
  partition.targets = 1;
  partition.injected = 1;
  partition.t_start = Us(29990000);
  partition.inject_span_s = Us(10000);
  partition.journal_s = Us(1500);
  e.injections.push_back(partition);

  VerifierResult http;
  http.name = "frontend";
  http.kind = "http";
  http.description = "GET http://127.0.0.1:8080/healthz";
  http.interval_s = Us(20000);
  http.slo_success_ratio = 0.99;
  http.steady_before = 1.0;
  http.steady_after = 0.95;
  http.overall = FullMetrics(420000, 12400000);
  http.per_fault.push_back({f1.id, FullMetrics(420000, 12400000)});
  RecoveryMetrics m2 = FullMetrics(1040000, 2340000);
  m2.time_to_recover_after_revert_s.reset();
  http.per_fault.push_back({f2.id, m2});
  http.samples = MakeSamples(samples_per_verifier, 0, 20000, 5.4, 17.4, 45.0, 46.0);
  e.verifiers.push_back(http);

  VerifierResult prom;
  prom.name = "error-rate \u00e9";
  prom.kind = "prometheus";
  prom.interval_s = Us(1000000);
  prom.slo_success_ratio = 0.999;
  prom.overall = RecoveryMetrics{};  // no impact: every optional absent
  prom.samples = MakeSamples(60, 500000, 1000000, -1, -1, 20.0, 23.0, /*with_values=*/true);
  e.verifiers.push_back(prom);

  ObjectiveResult o1;
  o1.name = "frontend recovers within 10s";
  o1.verifier = "frontend";
  o1.type = "recover_within";
  o1.passed = false;
  o1.measured = 12.4;
  o1.limit = 10;
  o1.message = "frontend recovered in 12.40 s, budget 10 s";
  e.objectives.push_back(o1);
  ObjectiveResult o2;
  o2.name = "frontend impact is detected";
  o2.verifier = "frontend";
  o2.type = "must_detect";
  o2.passed = true;
  o2.measured = 0.42;
  o2.message = "detected after 0.420 s";
  e.objectives.push_back(o2);
  ObjectiveResult o3;
  o3.name = "availability <\"99%\"> & more";
  o3.verifier = "error-rate \u00e9";
  o3.type = "min_availability";
  o3.passed = false;
  o3.limit = 0.99;
  o3.message = "no known sample";
  e.objectives.push_back(o3);

  e.events = {{0, "engine", "warm-up started"},
              {Us(5000250), "fault", "injected pod-kill on default/frontend-7d9c"},
              {Us(6100000), "kubernetes", "Pod \"frontend-7d9c\" <Killing> & rescheduled"},
              {Us(40000500), "fault", "revert failed: iptables"}};
  run.experiments.push_back(e);

  ExperimentResult a;
  a.name = "master-stop";
  a.status = ExperimentStatus::kAborted;
  a.reasons = {"aborted: apiserver failed continuously for 30 s"};
  a.start_wall = WallMs(1714566960000);
  a.end_wall = WallMs(1714566990001);
  a.duration_s = Us(30001000);
  VerifierResult api;
  api.name = "apiserver";
  api.kind = "kubernetes";
  api.interval_s = Us(100000);
  api.slo_success_ratio = 1;
  api.overall.impact = true;
  api.overall.time_to_detect_s = Us(250000);  // detected, never recovered
  api.overall.downtime_s = 29.5;
  api.overall.availability = 0.0;
  api.overall.samples = 300;
  api.overall.failing = 295;
  a.verifiers.push_back(api);
  FaultResult f3;
  f3.id = "master-stop/stop/0";
  f3.step = "stop";
  f3.kind = "service-stop";
  f3.target = "master-1 kube-apiserver";
  f3.t_inject = Us(2000000);
  f3.t_revert = Us(30000000);
  f3.reversible = true;
  f3.revert = RevertState::kReverted;
  a.faults.push_back(f3);
  run.experiments.push_back(a);

  ExperimentResult err;
  err.name = "empty";
  err.status = ExperimentStatus::kError;
  err.start_wall = WallMs(1714566990002);
  err.end_wall = WallMs(1714566990002);
  run.experiments.push_back(err);
  return run;
}

}  // namespace gameday::testing

// recovery_bench: the cost of the streaming recovery metrics per sample.
//
//   recovery_bench [samples=20000000]
//
// Feeds one verifier's samples (every 10 ms, generated on the fly, so nothing is stored) through
// VerifierRecovery with 3 disturbances, one of them a step repeated over 3 rounds, and prints
// samples per second and peak RSS. Exits 1 below 1 M samples/s: a run of 100 verifiers every
// 10 ms produces 10,000 a second, so the metrics must cost well under 1% of a core.

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "experiments/verifier_recovery.h"

namespace gameday {
namespace {

// CPU time rather than wall time: the figure should not depend on what else the machine runs.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int Run(long n) {
  const double interval = 0.01;
  const double span = n * interval;
  Disturbance kill{
      "kill", span * 0.2, std::nullopt, {span * 0.2, span * 0.25, span * 0.3}, span * 0.3};
  Disturbance slow{"slow", span * 0.5, span * 0.55, {}, span * 0.55};
  Disturbance partition{"partition", span * 0.7, span * 0.72, {}, span * 0.72};
  VerifierRecovery recovery({kill, slow, partition}, 1.0, interval);
  // Outages of 2 s after each action, and a failing sample every 1000.
  auto health = [&](long k, double t) {
    for (double at : {span * 0.2, span * 0.25, span * 0.3, span * 0.5, span * 0.7}) {
      if (t >= at && t < at + 2) return Health::kUnhealthy;
    }
    return k % 1000 == 999 ? Health::kUnhealthy : Health::kHealthy;
  };
  const double begin = CpuSeconds();
  Sample s;
  for (long k = 0; k < n; ++k) {
    s.t_send = k * interval;
    s.t_done = s.t_send + 0.002;
    s.health = health(k, s.t_send);
    recovery.Add(s);
  }
  const RecoveryMetrics overall = recovery.Overall();
  const double seconds = CpuSeconds() - begin;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rate = n / seconds;
  std::printf(
      "samples %ld in %.3f s of CPU: %.1f M samples/s (%.1f ns each, generation included)\n", n,
      seconds, rate / 1e6, 1e9 / rate);
  std::printf("overall: downtime %.2f s, recovered %s after %.2f s; peak RSS %ld MB\n",
              overall.downtime_s, overall.recovered ? "yes" : "no",
              overall.time_to_recover_s.value_or(-1), usage.ru_maxrss / 1024);
  return rate >= 1e6 ? 0 : 1;
}

}  // namespace
}  // namespace gameday

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 20000000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: recovery_bench [samples > 0]\n");
    return 2;
  }
  return gameday::Run(n);
}

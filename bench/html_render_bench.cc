// html_render_bench: how long RenderHtml takes and how big the page gets for a long run.
//
//   html_render_bench [verifiers=100] [samples=180000] [out.html]
//
// Builds one experiment with N http verifiers of M inline samples each, every 10 ms (the
// default is 30 minutes at 10 ms), with a few outages, some of one sample only, and renders it.
// Prints the render time, wall and CPU, and the page size. Exits 1 when a target is missed: under
// 2 s of CPU and under 10 MB. The render is single-threaded, so on an idle machine its wall time
// is its CPU time; on a shared one (CI, a build running beside it) the wall time measures the
// neighbours too, so the gate is the CPU time and the wall time is printed for the record.
// The optional third argument keeps the page for a look in a browser.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>

#include "experiments/result.h"
#include "reports/html_report.h"

namespace {

gameday::RunResult SyntheticRun(size_t verifiers, size_t samples) {
  using gameday::Health;
  gameday::RunResult run;
  run.run_id = "20260101T000000Z-bench";
  run.plan_name = "html render bench";
  run.gameday_version = "bench";
  gameday::ExperimentResult e;
  e.name = "long run";
  e.status = gameday::ExperimentStatus::kPassed;
  const double interval = 0.010;
  e.duration_s = static_cast<double>(samples) * interval;
  e.t_first_inject = e.duration_s / 3;
  gameday::FaultResult f;
  f.id = "long run/kill/1";
  f.step = "kill";
  f.kind = "pod-kill";
  f.target = "frontend";
  f.t_inject = e.t_first_inject;
  f.t_revert = e.t_first_inject + 60;
  f.reversible = true;
  f.revert_status = "reverted";
  e.faults.push_back(f);
  for (size_t k = 0; k < verifiers; ++k) {
    gameday::VerifierResult v;
    v.name = "verifier-" + std::to_string(k);
    v.kind = "http";
    v.interval_s = interval;
    v.samples.resize(samples);
    for (size_t i = 0; i < samples; ++i) {
      gameday::Sample& s = v.samples[i];
      s.t_send = static_cast<double>(i) * interval;
      s.latency_ms = 1 + static_cast<double>((i * 7919 + k * 104729) % 997) / 100;
      s.t_done = s.t_send + s.latency_ms / 1000;
      s.health = Health::kHealthy;
      // A 12 s outage after the inject, a lone failing sample every ~7 minutes, and a lone
      // unknown one (the monitoring itself failed) every ~11 minutes.
      const double t = s.t_send;
      if (t >= f.t_inject + 1 && t < f.t_inject + 13) {
        s.health = Health::kUnhealthy;
        s.detail = "HTTP 503 Service Unavailable";
      } else if ((i + k) % 42000 == 20000) {
        s.health = Health::kUnhealthy;
        s.detail = "connection refused";
      } else if ((i + 3 * k) % 66000 == 33000) {
        s.health = Health::kUnknown;
        s.detail = "probe timed out on this machine";
      }
    }
    v.sample_count = samples;
    v.overall.samples = samples;
    e.verifiers.push_back(std::move(v));
  }
  run.experiments.push_back(std::move(e));
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t verifiers = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const size_t samples = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 180000;
  const gameday::RunResult run = SyntheticRun(verifiers, samples);
  const std::clock_t c0 = std::clock();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string html = gameday::RenderHtml(run);
  const auto t1 = std::chrono::steady_clock::now();
  const std::clock_t c1 = std::clock();
  const double s = std::chrono::duration<double>(t1 - t0).count();
  const double cpu = static_cast<double>(c1 - c0) / CLOCKS_PER_SEC;
  const double mb = static_cast<double>(html.size()) / (1024 * 1024);
  std::printf("verifiers %zu, samples each %zu (%zu in all)\n", verifiers, samples,
              verifiers * samples);
  std::printf("RenderHtml %.3f s (%.3f s of CPU), %zu bytes (%.2f MB)\n", s, cpu, html.size(), mb);
  if (argc > 3) std::ofstream(argv[3], std::ios::binary) << html;
  const bool ok = cpu < 2 && mb < 10;
  std::printf("%s (targets: < 2 s of CPU, < 10 MB)\n", ok ? "OK" : "MISSED");
  return ok ? 0 : 1;
}

// html_render_bench: how long RenderHtml takes and how big the page gets for a long run.
//
//   html_render_bench [verifiers=100] [samples=180000] [inline|store] [out.html]
//
// Builds one experiment with N http verifiers of M samples each, every 10 ms (the default is 30
// minutes at 10 ms), with a few outages, some of one sample only, and renders it. `inline` keeps
// the samples in the result (in memory); `store` writes them to a sample store in a temporary
// folder first, as a long run does, and renders from there (the peak RSS printed then is the
// render's own: no sample is held in memory).
// Prints the render time, wall and CPU, and the page size. Exits 1 when a target is missed: under
// 2 s of CPU and under 10 MB. The render is single-threaded, so on an idle machine its wall time
// is its CPU time; on a shared one (CI, a build running beside it) the wall time measures the
// neighbours too, so the gate is the CPU time and the wall time is printed for the record.
// The optional fourth argument keeps the page for a look in a browser.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "experiments/result.h"
#include "experiments/sample_store.h"
#include "reports/html_report.h"

namespace {

// The samples of verifier `k`, one by one, to `fn`.
template <typename Fn>
void SyntheticSamples(size_t k, size_t samples, double interval, double t_inject, Fn fn) {
  using gameday::Health;
  gameday::Sample s;
  for (size_t i = 0; i < samples; ++i) {
    s.t_send = static_cast<double>(i) * interval;
    s.latency_ms = 1 + static_cast<double>((i * 7919 + k * 104729) % 997) / 100;
    s.t_done = s.t_send + s.latency_ms / 1000;
    s.health = Health::kHealthy;
    s.detail.clear();
    // A 12 s outage after the inject, a lone failing sample every ~7 minutes, and a lone
    // unknown one (the monitoring itself failed) every ~11 minutes.
    const double t = s.t_send;
    if (t >= t_inject + 1 && t < t_inject + 13) {
      s.health = Health::kUnhealthy;
      s.detail = "HTTP 503 Service Unavailable";
    } else if ((i + k) % 42000 == 20000) {
      s.health = Health::kUnhealthy;
      s.detail = "connection refused";
    } else if ((i + 3 * k) % 66000 == 33000) {
      s.health = Health::kUnknown;
      s.detail = "probe timed out on this machine";
    }
    fn(s);
  }
}

// With `store` set, the samples go to a sample store in that folder instead of the result.
gameday::RunResult SyntheticRun(size_t verifiers, size_t samples, const std::string& store) {
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
  f.revert = gameday::RevertState::kReverted;
  e.faults.push_back(f);
  for (size_t k = 0; k < verifiers; ++k) {
    gameday::VerifierResult v;
    v.name = "verifier-" + std::to_string(k);
    v.kind = "http";
    v.interval_s = interval;
    if (store.empty()) {
      v.samples.reserve(samples);
      SyntheticSamples(k, samples, interval, f.t_inject,
                       [&](const gameday::Sample& s) { v.samples.push_back(s); });
    } else {
      v.store = gameday::SampleStoreRef{gameday::kSampleStoreFileName, static_cast<uint32_t>(k)};
    }
    v.sample_count = samples;
    v.overall.samples = samples;
    e.verifiers.push_back(std::move(v));
  }
  run.experiments.push_back(std::move(e));
  if (!store.empty()) {
    run.dir = store;
    auto w = gameday::SampleWriter::Create(store + "/" + gameday::kSampleStoreFileName, 0600);
    if (!w.ok()) {
      std::fprintf(stderr, "store: %s\n", w.status().message().c_str());
      std::exit(2);
    }
    for (size_t k = 0; k < verifiers; ++k) {
      const auto& v = run.experiments[0].verifiers[k];
      (void)(*w)->Declare({static_cast<uint32_t>(k), "long run", v.name, interval});
      SyntheticSamples(k, samples, interval, f.t_inject, [&](const gameday::Sample& s) {
        (void)(*w)->Append(static_cast<uint32_t>(k), s);
      });
    }
    const gameday::Status closed = (*w)->Close();
    if (!closed.ok()) {
      std::fprintf(stderr, "store: %s\n", closed.message().c_str());
      std::exit(2);
    }
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t verifiers = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const size_t samples = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 180000;
  const bool store = argc > 3 && std::string(argv[3]) == "store";
  std::string dir;
  if (store) {
    dir = (std::filesystem::temp_directory_path() / "html_render_bench.XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) {
      std::perror("mkdtemp");
      return 2;
    }
  }
  const gameday::RunResult run = SyntheticRun(verifiers, samples, dir);
  const std::clock_t c0 = std::clock();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string html = gameday::RenderHtml(run);
  const auto t1 = std::chrono::steady_clock::now();
  const std::clock_t c1 = std::clock();
  const double s = std::chrono::duration<double>(t1 - t0).count();
  const double cpu = static_cast<double>(c1 - c0) / CLOCKS_PER_SEC;
  const double mb = static_cast<double>(html.size()) / (1024 * 1024);
  if (!dir.empty()) std::filesystem::remove_all(dir);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("verifiers %zu, samples each %zu (%zu in all), %s\n", verifiers, samples,
              verifiers * samples, store ? "in a sample store" : "inline");
  std::printf("RenderHtml %.3f s (%.3f s of CPU), %zu bytes (%.2f MB); peak RSS %ld MB\n", s, cpu,
              html.size(), mb, ru.ru_maxrss / 1024);
  if (argc > 4) std::ofstream(argv[4], std::ios::binary) << html;
  const bool ok = cpu < 2 && mb < 10;
  std::printf("%s (targets: < 2 s of CPU, < 10 MB)\n", ok ? "OK" : "MISSED");
  return ok ? 0 : 1;
}

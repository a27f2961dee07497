// Proves the recovery numbers against a target whose outage begins and ends at times this test
// controls: an HTTP service in this process that answers 503 exactly inside a window the test
// sets. 20 runs of the whole engine (real probe loop, real HTTP, 20 ms interval) must measure
// time to detect and time to recover within 25 ms of the truth, with the truth inside the
// reported bounds. A long variant samples for 10 minutes at 10 ms before the outage, with the
// samples streamed to the on-disk store, and must be just as precise.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "experiments/engine.h"
#include "experiments/sample_source.h"
#include "verifiers/http/http_verifier.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

using Ns = std::chrono::nanoseconds;

// The outage window in steady-clock nanoseconds; [from, until) answers 503.
std::atomic<int64_t> g_fail_from{INT64_MAX};
std::atomic<int64_t> g_fail_until{INT64_MAX};

int64_t NowNs() {
  return std::chrono::duration_cast<Ns>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& resp) override {
    const int64_t now = NowNs();
    const bool down = now >= g_fail_from.load() && now < g_fail_until.load();
    resp.setStatus(down ? Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE
                        : Poco::Net::HTTPResponse::HTTP_OK);
    resp.setContentLength(down ? 5 : 3);
    resp.send() << (down ? "down\n" : "ok\n");
  }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler;
  }
};

// What the test's injector does, and what it recorded.
struct Truth {
  double delay_s = 0;   // outage starts this long after the injection
  double outage_s = 0;  // and lasts this long
};
Truth g_next;

class GroundTruthInjector : public Injector {
 public:
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{{"svc", "the ground-truth service", {}}};
  }
  Result<std::string> RevertRecord(const FaultTarget&, const InjectorEnv&) override {
    return std::string("{}");
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override {
    const int64_t now = NowNs();
    const int64_t from = now + static_cast<int64_t>(g_next.delay_s * 1e9);
    g_fail_until = from + static_cast<int64_t>(g_next.outage_s * 1e9);
    g_fail_from = from;
    return Status::Ok();
  }
  bool Reversible() const override { return false; }
  std::string DescribeAction(const FaultTarget&) const override { return "scheduled outage"; }
};

class GroundTruthKind : public InjectorKind {
 public:
  std::string Name() const override { return "ground-truth"; }
  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec&) const override {
    spec.Finish();
    return std::make_unique<GroundTruthInjector>();
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

// The ground-truth service on an ephemeral loopback port, for one test.
class GroundTruthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(8);
    params->setKeepAlive(true);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory, socket_, params);
    server_->start();
    ASSERT_TRUE(registries_.injectors.Register(std::make_unique<GroundTruthKind>()).ok());
    ASSERT_TRUE(registries_.verifiers.Register(MakeHttpVerifierKind()).ok());
  }
  void TearDown() override {
    server_->stopAll(true);
    Poco::ThreadPool::defaultPool().joinAll();  // connections finish before the server goes
  }

  // One experiment: `warmup`, then the ground-truth fault, watched by verifier "svc" every
  // `interval`; the steady state before it must hold `slo` of the samples.
  Plan PlanWith(const std::string& warmup, const std::string& interval,
                const std::string& slo = "1.0") {
    const std::string text = R"(
name: ground-truth
target: {kind: local}
warmup: )" + warmup + R"(
stable_for: 300ms
recovery_timeout: 5s
cooldown: 200ms
verify:
  - name: svc
    kind: http
    interval: )" + interval + R"(
    slo: {success_ratio: )" + slo +
                             R"(}
    spec: {url: "http://127.0.0.1:)" +
                             std::to_string(socket_.address().port()) + R"(/", timeout: 500ms}
method:
  - inject: ground-truth
objectives:
  - verifier: svc
    must_detect: true
)";
    Diagnostics diags;
    Plan plan = ParsePlan(text, "ground-truth.yaml", registries_, &diags);
    EXPECT_TRUE(diags.empty()) << diags.ToString();
    return plan;
  }

  Poco::Net::ServerSocket socket_{Poco::Net::SocketAddress("127.0.0.1", 0)};
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  Registries registries_;
};

TEST_F(GroundTruthTest, RecoveryTimesMatchAKnownOutage) {
  const Plan plan = PlanWith("300ms", "20ms");
  const auto journal_dir =
      std::filesystem::temp_directory_path() / ("gameday-ground-truth-" + std::to_string(getpid()));
  std::mt19937_64 rng(20261126);
  std::uniform_real_distribution<double> delay(0.0, 0.2), outage(0.3, 1.2);
  double max_detect_err = 0, max_recover_err = 0, sum_detect_err = 0, sum_recover_err = 0;
  constexpr int kRuns = 20;
  for (int run = 0; run < kRuns; ++run) {
    g_fail_from = INT64_MAX;
    g_fail_until = INT64_MAX;
    g_next = {delay(rng), outage(rng)};
    EngineOptions options;
    options.run_id = "ground-truth-" + std::to_string(run);
    options.seed = run;
    options.journal_dir = journal_dir.string();
    Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), options);
    RunResult result = engine.Run(plan);
    ASSERT_EQ(result.experiments.size(), 1u);
    const ExperimentResult& e = result.experiments[0];
    ASSERT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
    const RecoveryMetrics& m = e.verifiers[0].overall;
    ASSERT_TRUE(m.impact && m.recovered) << "run " << run;
    const double truth_detect = g_next.delay_s;
    const double truth_recover = g_next.delay_s + g_next.outage_s;
    const double detect_err = std::abs(*m.time_to_detect_s - truth_detect);
    const double recover_err = std::abs(*m.time_to_recover_s - truth_recover);
    EXPECT_LE(detect_err, 0.025) << "run " << run;
    EXPECT_LE(recover_err, 0.025) << "run " << run;
    // The engine stamps t_inject just after Inject returns: allow that microsecond-scale offset.
    constexpr double kSlack = 0.001;
    EXPECT_LE(m.detect_bound_s->first, truth_detect + kSlack) << "run " << run;
    EXPECT_GE(m.detect_bound_s->second, truth_detect - kSlack) << "run " << run;
    EXPECT_LE(m.recover_bound_s->first, truth_recover + kSlack) << "run " << run;
    EXPECT_GE(m.recover_bound_s->second, truth_recover - kSlack) << "run " << run;
    EXPECT_NEAR(m.downtime_s, g_next.outage_s, 0.045) << "run " << run;
    max_detect_err = std::max(max_detect_err, detect_err);
    max_recover_err = std::max(max_recover_err, recover_err);
    sum_detect_err += detect_err;
    sum_recover_err += recover_err;
  }
  std::printf(
      "ground truth over %d runs at 20 ms: detect error mean %.1f ms max %.1f ms; "
      "recover error mean %.1f ms max %.1f ms\n",
      kRuns, sum_detect_err / kRuns * 1e3, max_detect_err * 1e3, sum_recover_err / kRuns * 1e3,
      max_recover_err * 1e3);
  std::filesystem::remove_all(journal_dir);
}

// The outage comes after `GAMEDAY_GROUND_TRUTH_LONG_S` seconds of sampling (600 unless set, for
// a quicker look by hand): 60,000 samples at 10 ms stream to the sample store (inline samples
// are turned off), and the measurement is read back from it.
TEST_F(GroundTruthTest, OutageAfterTenMinutesOfSamplingIsMeasuredJustAsPrecisely) {
  const char* env = std::getenv("GAMEDAY_GROUND_TRUTH_LONG_S");
  const int warmup_s = env ? std::max(1, std::atoi(env)) : 600;
  // 60,000 probes of 500 ms each run while CI loads both cores (the integration tier, tidy and
  // the fuzzers run alongside): one of them timing out is the machine, not the measurement, and
  // must not cancel the experiment (it did once in a CI run). Up to 6 may; the outage's
  // detection and recovery are held to the same precision as ever.
  const Plan plan = PlanWith(std::to_string(warmup_s) + "s", "10ms", "0.9999");
  const auto dir = std::filesystem::temp_directory_path() /
                   ("gameday-ground-truth-long-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Removed on every way out, a failed assertion's early return included.
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{dir};
  g_fail_from = INT64_MAX;
  g_fail_until = INT64_MAX;
  g_next = {0.123, 0.777};
  EngineOptions options;
  options.run_id = "ground-truth-long";
  options.journal_dir = (dir / "journal").string();
  options.samples_file = (dir / "samples.gdsamples").string();
  options.inline_samples = 0;  // every sample through the store
  Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), options);
  RunResult result = engine.Run(plan);
  result.dir = dir.string();
  ASSERT_EQ(result.experiments.size(), 1u);
  const ExperimentResult& e = result.experiments[0];
  ASSERT_EQ(e.status, ExperimentStatus::kPassed) << ::testing::PrintToString(e.reasons);
  const VerifierResult& v = e.verifiers[0];
  ASSERT_TRUE(v.store.has_value());
  EXPECT_TRUE(v.samples.empty());
  EXPECT_GE(v.sample_count, static_cast<uint64_t>(warmup_s) * 100 * 9 / 10);
  uint64_t visited = 0;
  ASSERT_TRUE(VisitSamples(result, v, [&](const Sample&) { ++visited; }).ok());
  EXPECT_EQ(visited, v.sample_count);

  const RecoveryMetrics& m = v.overall;
  ASSERT_TRUE(m.impact && m.recovered);
  const double truth_detect = g_next.delay_s;
  const double truth_recover = g_next.delay_s + g_next.outage_s;
  const double detect_err = std::abs(*m.time_to_detect_s - truth_detect);
  const double recover_err = std::abs(*m.time_to_recover_s - truth_recover);
  EXPECT_LE(detect_err, 0.015);
  EXPECT_LE(recover_err, 0.015);
  constexpr double kSlack = 0.001;
  EXPECT_LE(m.detect_bound_s->first, truth_detect + kSlack);
  EXPECT_GE(m.detect_bound_s->second, truth_detect - kSlack);
  EXPECT_LE(m.recover_bound_s->first, truth_recover + kSlack);
  EXPECT_GE(m.recover_bound_s->second, truth_recover - kSlack);
  EXPECT_NEAR(m.downtime_s, g_next.outage_s, 0.025);
  std::printf(
      "ground truth after %d s of sampling at 10 ms (%llu samples, from the store): "
      "detect error %.1f ms, recover error %.1f ms\n",
      warmup_s, static_cast<unsigned long long>(v.sample_count), detect_err * 1e3,
      recover_err * 1e3);
}

}  // namespace
}  // namespace gameday
